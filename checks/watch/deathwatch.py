"""The kernel tells the watcher when haproxy dies: pidfds, not the next poll.

A pidfd (Linux 5.3+) becomes readable the moment its process exits — reaped or not, so a
zombie counts. The watcher sleeps in select() on the pidfds of haproxy's pidfile processes
and their children (the workers, in master-worker mode) instead of a plain timer, so a death
starts a check at once and kill/zombie detection no longer depends on `--interval`. Hangs
are not deaths: the probes' own deadline finds them.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Iterable

from lbcheck.checks.process import read_pidfile  # the process probe's own reader
from lbcheck.outcome import ProbeError


class DeathWatch:
    """Pidfds of the processes to watch; ``wait`` returns early when one of them ends."""

    def __init__(self) -> None:
        self.fds: dict[int, int] = {}  # pid → pidfd
        self.ended: set[int] = set()  # pids seen to end: never watched again (zombies stay)
        self.available = hasattr(os, "pidfd_open")
        # A self-pipe: wake() (from a signal handler) ends a wait at once.
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full pipe: a wake-up is already pending
            os.write(self._wake_w, b"x")

    def track(self, pids: Iterable[int]) -> None:
        """Watch exactly ``pids`` (minus those already seen to end)."""
        if not self.available:
            return
        wanted = set(pids) - self.ended
        for pid in set(self.fds) - wanted:
            os.close(self.fds.pop(pid))
        for pid in wanted - set(self.fds):
            try:
                self.fds[pid] = os.pidfd_open(pid)
            except ProcessLookupError:
                self.ended.add(pid)
            except OSError:  # no pidfd here (old kernel, seccomp): plain polling
                self.available = False
                return
        self.ended &= set(pids)  # a pid number reused later is a new process

    def wait(self, timeout: float) -> list[int]:
        """Sleep up to ``timeout`` s; the pids that ended meanwhile (empty on timeout)."""
        by_fd = {fd: pid for pid, fd in self.fds.items()}
        readable, _, _ = select.select([self._wake_r, *by_fd], [], [], max(0.0, timeout))
        if self._wake_r in readable:
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 64)
        ended = [by_fd[fd] for fd in readable if fd in by_fd]
        for pid in ended:
            os.close(self.fds.pop(pid))
            self.ended.add(pid)
        return ended

    def close(self) -> None:
        for fd in (*self.fds.values(), self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()


def haproxy_pids(pidfile: str | None) -> list[int]:
    """The pidfile's pids and their children (workers); [] when there is nothing to read."""
    if pidfile is None:
        return []
    try:
        roots = read_pidfile(pidfile)
    except ProbeError:  # missing, empty, unreadable: the probe says which; nothing to watch
        return []
    pids = list(roots)
    for pid in roots:
        with (contextlib.suppress(OSError, ValueError),
              open(f"/proc/{pid}/task/{pid}/children", "rb") as fh):
            pids.extend(int(word) for word in fh.read().split())
    return pids
