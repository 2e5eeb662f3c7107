"""One lock per VRRP instance (or sync group), so concurrent hooks take turns.

keepalived runs notify scripts concurrently and possibly out of order. Holding the instance's
lock while we read the previous state, decide and record the new one serialises concurrent
invocations: the event that takes the lock last is the state that stands. (The state itself
lives in the paging memory, notify/paging/memory.py, which records every transition.)
Locks are opened by :func:`lbcheck.files.open_lock`: never through a symlink, never in a
directory another user can write.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lbcheck.files import check_dir, open_lock
from lbcheck.notify.events import Event
from lbcheck.notify.names import file_stem


class LockError(Exception):
    """The state directory cannot be used, or the lock is wedged."""


@contextmanager
def locked(state_dir: str, event: Event, timeout: float = 10.0) -> Iterator[None]:
    """Exclusive per-instance lock (flock: released by the kernel if we die holding it)."""
    with locked_instance(state_dir, event.kind, event.name, timeout):
        yield


@contextmanager
def locked_instance(state_dir: str, kind: str, name: str, timeout: float) -> Iterator[None]:
    """The same lock by kind and name: idle-time work on instances no event names.

    The file name fits NAME_MAX for any name keepalived takes (:mod:`lbcheck.notify.names`);
    an ordinary name keeps the name older versions locked, so a hook of the old version still
    running during an upgrade takes turns with the new ones.
    """
    path = Path(state_dir) / "locks" / f"{file_stem(kind, name)}.lock"
    try:
        fd = open_lock(lock_dir(state_dir) / path.name)  # the same path, its dirs checked
    except OSError as exc:
        raise LockError(f"cannot use state dir {state_dir}: {exc.strerror}") from None
    try:
        _acquire(fd, timeout, path)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def lock_dir(state_dir: str | os.PathLike[str]) -> Path:
    """``STATE_DIR/locks``, created if missing; both must be trusted directories.

    The state dir holds what decides who is paged (``page/``) and every lock: another user
    able to write there could hold our locks or plant memories, so it is refused
    (:class:`lbcheck.files.UnsafeDir`, one line with the fix) rather than used.
    """
    state = Path(state_dir)
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_dir(state)
    locks = state / "locks"
    locks.mkdir(mode=0o700, exist_ok=True)
    return locks


def _acquire(fd: int, timeout: float, path: Path) -> None:
    if not flock_within(fd, timeout):
        raise LockError(f"lock {path} still held after {timeout:g} s")


def flock_within(fd: int, timeout: float) -> bool:
    """Exclusive flock, polling LOCK_NB for at most ``timeout`` s; False if still held.

    Bounded, so a wedged holder can never hang one of keepalived's hooks.
    """
    end = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= end:
                return False
            time.sleep(0.002)
