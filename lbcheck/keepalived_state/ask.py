"""Asking a running keepalived for a dump, and reading only the dump it wrote for us.

keepalived writes its dumps (``/tmp/keepalived.data`` on SIGUSR1 = ``--signum=DATA``,
``/tmp/keepalived.json`` on ``--signum=JSON``) with fopen/fprintf/fclose: the file is truncated
first and filled in stdio-buffer-sized writes, so its mtime changes long before it is whole.
A fixed sleep (what the exporters do) reads it early on a busy host and late on an idle one.
So: remember the file's identity and mtime, signal, wait (bounded) until the file changed *and*
no keepalived process still has it open, then read it.

/tmp is world-writable: anyone can plant a keepalived.data (or a symlink to /etc/shadow) there.
The dump is believed only when it is a regular file (no symlink followed, size capped through
:func:`lbcheck.files.read_regular_stat`), owned by keepalived's uid (root), and was written
after our signal: a stale or planted file fails one of those.

Never deletes or truncates a dump: another tool (or the operator) may be reading it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from lbcheck import files, procs

DUMP_LIMIT = 4 << 20  # a 2.3 .data dump of 10 instances is ~20 KiB; 4 MiB is a runaway
WAIT = 1.0  # seconds: a dump of a few instances is written within milliseconds
POLL = 0.005
STATUS_LIMIT = 16384  # the Sig* lines come after Groups:, which can be long
REALTIME_COARSE = 5  # Linux's CLOCK_REALTIME_COARSE: Python's time module lacks the name


class DumpUnavailable(Exception):
    """No dump we may believe: why, in one line an operator can act on."""


@dataclass(frozen=True)
class Dump:
    """The bytes of one dump, and when keepalived wrote them (ns since the epoch)."""

    path: str
    data: bytes
    written_ns: int


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        seen = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DumpUnavailable(f"{path}: {exc.strerror}") from None
    return seen.st_dev, seen.st_ino, seen.st_mtime_ns, seen.st_size


def _children(pid: int) -> list[int]:
    """``pid`` and its direct children (keepalived's parent forwards the signal to its vrrp
    child, which writes the dump)."""
    found = [pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                raw = fh.read(1024)
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid).encode():
            found.append(int(entry))
    return found


def _held_open(pids: list[int], dev_ino: tuple[int, int]) -> bool:
    """Does one of ``pids`` have the file ``dev_ino`` open (still writing it)?"""
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to look at: cannot tell, so not holding it
            continue
        for fd in fds:
            try:
                target = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if (target.st_dev, target.st_ino) == dev_ino:
                return True
    return False


def catches(pid: int, signum: int) -> bool:
    """Will ``pid`` take ``signum`` as a question rather than die of it?

    The DATA and JSON signals' default action is to terminate: a keepalived still starting
    (or a build without the JSON dump) would be killed by the question. keepalived reads its
    signals through a signalfd, so they show as blocked (SigBlk), not caught (SigCgt): a
    blocked signal waits for the reader, it never ends the process.
    """
    raw = procs.read_proc_file(pid, "status", STATUS_LIMIT)
    masks = 0
    for line in (raw or b"").split(b"\n"):
        if line.startswith((b"SigBlk:", b"SigCgt:")):
            try:
                masks |= int(line.split()[1], 16)
            except (IndexError, ValueError):
                return False
    return bool(masks >> (signum - 1) & 1)


def request(pid: int, signum: int, path: str, *, owner: int = 0, timeout: float = WAIT,
            limit: int = DUMP_LIMIT, named: str | None = None, bound: float | None = None
            ) -> Dump:
    """Signal keepalived ``pid`` with ``signum`` and return the dump it writes to ``path``.

    Raises :class:`DumpUnavailable` when the signal cannot be sent, the file is not rewritten
    within ``timeout`` seconds, or what is there is not a dump we may trust. ``named`` and
    ``bound`` are what the one-line reason shows: the path as keepalived names it (not
    through /proc/PID/root) and the wait the operator set (not what was left of it).
    """
    if not os.path.exists(f"/proc/{pid}"):
        raise DumpUnavailable(f"keepalived (pid {pid}) is not running")
    if not catches(pid, signum):
        raise DumpUnavailable(f"keepalived (pid {pid}) does not handle signal {signum} (yet): "
                              "not asked, its default action would end it")
    before = _identity(path)
    # The kernel stamps mtimes from the coarse clock: a fine-grained "now" could be later
    # than the mtime of a write that truly followed the signal.
    asked = time.clock_gettime_ns(REALTIME_COARSE)
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        raise DumpUnavailable(f"keepalived (pid {pid}) is not running") from None
    except PermissionError:
        raise DumpUnavailable(f"not allowed to signal keepalived (pid {pid}): run as root") \
            from None
    end = time.monotonic() + timeout
    pids = _children(pid)
    while True:
        now = _identity(path)
        if now is not None and now != before and now[2] >= asked \
                and not _held_open(pids, (now[0], now[1])):
            break
        if time.monotonic() >= end:
            state = "not written" if now is None else "not rewritten" if now == before \
                else "still being written"
            raise DumpUnavailable(f"{named or path}: {state} within "
                                  f"{bound if bound is not None else timeout:.3g} s of signal "
                                  f"{signum} to keepalived (pid {pid})" + _in_the_way(path))
        time.sleep(POLL)
    return read(path, asked, owner=owner, limit=limit, named=named)


def _in_the_way(path: str) -> str:
    """What sits at ``path`` if it is no file keepalived can replace: "; a directory owned by
    uid 65534 is in the way (planted?)"."""
    import stat

    try:
        seen = os.lstat(path)
    except OSError:
        return ""
    kind = ("a directory" if stat.S_ISDIR(seen.st_mode) else "a symlink"
            if stat.S_ISLNK(seen.st_mode) else "a FIFO" if stat.S_ISFIFO(seen.st_mode)
            else None)
    if kind is None:
        return ""
    return f"; {kind} owned by uid {seen.st_uid} is in the way (planted?)"


def read(path: str, since_ns: int, *, owner: int = 0, limit: int = DUMP_LIMIT,
         named: str | None = None) -> Dump:
    """The dump at ``path`` if it is a regular file of ``owner``'s written at or after
    ``since_ns``; :class:`DumpUnavailable` otherwise."""
    shown = named or path
    try:
        data, info = files.read_regular_stat(path, limit)
    except FileNotFoundError:
        raise DumpUnavailable(f"{shown}: no such file") from None
    except OSError as exc:
        raise DumpUnavailable(f"{shown}: {exc.strerror or exc}") from None
    if info.st_uid != owner:
        raise DumpUnavailable(f"{shown}: owned by uid {info.st_uid}, not {owner}: not "
                              "keepalived's (planted?)")
    if info.st_mtime_ns < since_ns:
        raise DumpUnavailable(f"{shown}: written before we asked (stale)")
    return Dump(path, data, info.st_mtime_ns)
