"""Every lock lbnotify takes, and the one small API they are all taken with.

keepalived runs notify scripts concurrently and possibly out of order; a FIFO reader, a
detached sender, the flush timer and an operator's ``lbnotify flush`` run beside them. They
take turns through six ``flock`` files. flock, because the kernel releases it when its holder
dies (a SIGKILLed hook never wedges the next), and because a lock held by an open file
description travels with it across fork and exec (how a hook hands the sender lock over).

Every lock file is opened by :func:`lbcheck.files.open_lock` — only in a trusted directory,
never through a symlink, only a regular single-link file we own — and every wait is bounded:
a hook of keepalived's must never hang on a wedged holder. The API:

- :func:`held` — ``with held(path, wait) as ok:`` the lock for a block; ``ok`` is False when
  another holder kept it past ``wait`` seconds (0: one try). Raises OSError when the file
  cannot be used (:class:`lbcheck.files.UnsafeDir`, :class:`lbcheck.files.NotRegular`).
- :func:`try_lock` — the same, as a descriptor the caller keeps (and closes to release): for
  a lock that outlives a block (the sender's) or a file used under it (``.seq``).
- :func:`still_held` — whether an inherited descriptor holds its lock (the sender's fd 3).
- :func:`locked` / :func:`locked_instance` — the per-instance lock, :class:`LockError` when
  it cannot be had.

**The locks** (``S`` = ``[notify] state_dir``, ``O`` = ``[page] outbox``):

======================  =====================  ======================  =====================
lock file               held by                for how long            wait policy
======================  =====================  ======================  =====================
``S/locks/<inst>.lock`` each hook and the      memory load → decide →  bounded 10 s, then
(one per VRRP instance  FIFO worker for its    enqueue (fsync) →       the page step fails
or sync group; name:    event                  memory save: ms         (LockError, exit 1)
:mod:`.names`)          (:mod:`.handlers`);
                        idle-time resends and  the same for one        bounded 0.2 s, then
                        flap summaries (FIFO   instance                skipped until the
                        reader's idle, ``lbno-                         next idle moment
                        tify flush``)
``O/.seq``              whoever enqueues (any  read + rewrite 20       bounded 0.2 s, then
                        of the above, under    digits: µs              the clock alone
                        the instance lock)                             (names stay unique)
``O/.flush.lock``       whoever flushes: a     one flush round: the    never (0) — the
                        hook, the FIFO worker  budget (hook 0.5 s;     holder sends the
                        (idle or last event),  sender ≤ 30 s, each     pages and re-lists
                        the sender, the flush  request ≤ 10 s;         after letting go;
                        timer (``flush         ``flush --budget`` ≤    ``lbnotify flush``
                        --due-only``), an      600 s)                  (operator): bounded
                        operator                                       by ``--budget``
``O/.sender.lock``      the hook or FIFO       the hook: across its    never (0) — held:
(holds the sender's     reader that spawns     fork + exec (ms);       a sender runs, and
pid, written in place)  the sender, then the   the sender: its life,   re-reads the outbox
                        sender as fd 3         ≤ ``sender_give_up``    before it lets go
                                               (900 s) + one round
``S/locks/metrics.      every metrics writer:  read the disk, render,  bounded 0.5 s, then
lock``                  hooks, FIFO worker,    replace the textfile:   written unlocked (a
                        sender, ``lbnotify     tens of ms              stale-by-one file
                        flush``                                        beats none)
``S/locks/pairwatch.    the FIFO reader's      the reader's life,      never (0) — held:
lock``                  pair watch thread      from its first round    another reader
                        (``pairwatch/watch``)                          watches; tried again
                                                                       every round
======================  =====================  ======================  =====================

**The order** (a lock may be taken only while holding those above it; never upwards):

0. ``pairwatch.lock`` (the watch, for its reader's life; never waited for, nor taken under
   any other)
1. ``.sender.lock`` (the sender, for its life; the watch across a hand-off's fork + exec)
2. ``<inst>.lock`` (never taken by a sender, the watch or under ``.flush.lock``)
3. ``.flush.lock`` (under 0 or 1; never together with 2: a hook lets go of the instance
   lock before it flushes)
4. ``.seq`` (under 0 or 2 only: enqueue; nothing is ever taken under it)
5. ``metrics.lock`` (under 0 or 1 only: the watch after a round that changed something, the
   sender after a round; everyone else holds nothing)

So no lock is ever waited for in both directions, and every wait is bounded anyway. "No page
lost" rests on this order: under the instance lock the page is enqueued (``.seq``, written,
fsynced, renamed) *before* the memory saying it was sent is saved, so a hook killed between
the two repeats a page and never drops one; the flush and sender locks only ever decide *who*
sends what is already on disk, and each holder looks at the outbox again after letting go
(:meth:`~lbcheck.notify.paging.outbox.Outbox.flush`, the sender's ``_release_unless_more``),
so a page enqueued by someone who found the lock taken is never left for the next event.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lbcheck.files import check_dir, flock_within, open_lock
from lbcheck.notify.events import Event
from lbcheck.notify.names import file_stem


class LockError(Exception):
    """The state directory cannot be used, or the lock is wedged."""


def try_lock(path: str | os.PathLike[str], wait: float = 0.0) -> int | None:
    """A descriptor holding the exclusive lock on ``path``, or None if another kept it.

    Waits at most ``wait`` seconds (0: one try). The caller closes the descriptor to let go
    (so does the kernel when the process dies); duplicates of it — across fork and exec too —
    share the lock, which is released when the last of them closes.
    Raises OSError when the file cannot be used as a lock (see :func:`open_lock`).
    """
    fd = open_lock(path)
    try:
        if flock_within(fd, wait):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


@contextmanager
def held(path: str | os.PathLike[str], wait: float = 0.0) -> Iterator[bool]:
    """The lock on ``path`` for the block: True when held, False when another kept it.

    Raises OSError (before the block runs) when the file cannot be used as a lock.
    """
    fd = try_lock(path, wait)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the flock


def still_held(fd: int) -> bool:
    """Whether ``fd`` holds its file's lock: re-taking a lock its open file description
    already holds is a no-op that succeeds, so a descriptor inherited from the process that
    took the lock (the sender's fd 3) says yes; one that is closed, not a file, or whose
    lock is someone else's says no."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


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
        # the same path, its directories made and checked
        fd = try_lock(lock_dir(state_dir) / path.name, timeout)
    except OSError as exc:
        raise LockError(f"cannot use state dir {state_dir}: {exc.strerror}") from None
    if fd is None:
        raise LockError(f"lock {path} still held after {timeout:g} s")
    try:
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
