"""The death watch: the kernel says a process ended, reaped or not, without polling."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from lbcheck.checks.watch.deathwatch import DeathWatch, haproxy_pids


def test_a_killed_process_wakes_the_wait_at_once_even_unreaped() -> None:
    """A zombie (killed, not yet reaped) ends the wait well before its timeout."""
    child = subprocess.Popen(["sleep", "30"])
    watch = DeathWatch()
    try:
        watch.track([child.pid])
        assert [] == watch.wait(0.05)  # alive: the wait times out
        os.kill(child.pid, signal.SIGKILL)  # not reaped yet: a zombie
        started = time.monotonic()
        assert [child.pid] == watch.wait(5.0)
        assert time.monotonic() - started < 1.0
        watch.track([child.pid])  # a zombie is not watched again: no busy loop
        assert {} == watch.fds
    finally:
        child.kill()
        child.wait()
        watch.close()


def test_wake_ends_a_wait_at_once() -> None:
    """A signal handler's wake() ends the sleep: SIGTERM does not wait out the interval."""
    watch = DeathWatch()
    watch.wake()
    started = time.monotonic()
    assert [] == watch.wait(5.0)
    assert time.monotonic() - started < 1.0
    watch.close()


def test_pidfile_pids_and_their_children(tmp_path) -> None:
    """The pidfile's pid and its children (the workers); nothing for a missing pidfile."""
    pidfile = tmp_path / "haproxy.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in haproxy_pids(str(pidfile))
        assert os.getpid() == haproxy_pids(str(pidfile))[0]
    finally:
        child.kill()
        child.wait()
    assert [] == haproxy_pids(str(tmp_path / "missing.pid"))
    assert [] == haproxy_pids(None)
