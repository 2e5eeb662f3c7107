"""The detached sender: what a hook could not deliver within its budget is not left behind.

keepalived's argv hooks run once per VRRP event, and the next event may be days away. A page
that missed the hook's budget (pager answering 500, a pager that takes seconds, a cold start
importing requests and TLS) must not wait for it. So a hook that leaves pages waiting hands
the outbox to one background process and returns (:func:`hand_off`):

- **detached**: fork, ``setsid``, fork again (never a session leader, so it can never get a
  controlling terminal), stdio on /dev/null, every other descriptor closed — keepalived's
  included, so nothing keepalived or a caller reading our output waits on stays open — then
  exec a fresh interpreter, so none of the hook's threads, locks or log handles come along;
- **one at a time**: the hook takes the outbox's sender lock (``.sender.lock``, by
  :func:`lbcheck.notify.lock.try_lock`: it holds the sender's pid, written in place)
  *before* it forks, and the lock travels to the sender as descriptor 3. A hook that finds it
  taken spawns nothing: the sender re-reads the outbox before it lets go (:func:`run`);
- **bounded**: the sender retries with the outbox's backoff and Retry-After, each request
  allowed up to :data:`ATTEMPT_TIMEOUT` (a slow pager still gets to answer), exits as soon as
  nothing waits, and gives up after ``[page] sender_give_up`` seconds (900) with one log line
  saying what still waits — ``lbnotify flush`` and the flush timer take over from there.

``python -m lbcheck.notify.paging.sender [--config PATH]`` runs one by hand (in the
foreground); it exits at once when another sender holds the lock.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from lbcheck.config import Config, PageSection
from lbcheck.notify.lock import still_held, try_lock
from lbcheck.notify.paging.outbox import Outbox, OutboxError

SENDER_LOCK = ".sender.lock"
LOCK_FD = 3  # where the sender finds the lock the hook took for it
ATTEMPT_TIMEOUT = 10.0  # one request: long enough for a slow pager, short of hanging the rest
ROUND_BUDGET = 30.0  # one flush; the sender re-reads the outbox between flushes
MIN_SLEEP, MAX_SLEEP = 0.2, 1.0  # between flushes: never spin, and see new items within 1 s
MAX_CYCLES = 100_000  # with MIN_SLEEP a bound far above any give-up time; a guard, not a rule
COMM = b"lbnotify-sender"  # what ps and pgrep show (15 bytes: the kernel's limit)


class _Stop(Exception):
    """SIGTERM: leave the loop; what waits stays in the outbox."""


def lock_path(section: PageSection) -> Path:
    return Path(section.outbox) / SENDER_LOCK


def hand_off_enabled(section: PageSection) -> bool:
    """No targets (paging off for now) or ``sender_give_up = 0``: nobody to hand off to."""
    return bool(section.targets) and section.sender_give_up > 0


def hand_off(section: PageSection, config_path: str | None) -> str:
    """Make sure a sender will deliver what waits; says what it did, in a few words.

    ``"started PID"``, ``"already running"`` or ``"off"`` (no targets, or sender_give_up 0).
    Raises :class:`OutboxError` when the lock cannot be used or the fork fails.
    """
    if not hand_off_enabled(section):
        return "off"
    path = lock_path(section)
    try:
        fd = try_lock(path)
    except OSError as exc:
        raise OutboxError(f"cannot open {path}: {exc.strerror}") from None
    if fd is None:
        return "already running"
    try:
        # -P: nothing from the current directory shadows the installed package.
        argv = [sys.executable, "-P", "-m", "lbcheck.notify.paging.sender",
                "--lock-fd", str(LOCK_FD)]
        if config_path:
            argv += ["--config", os.path.abspath(config_path)]
        pid = _spawn_detached(argv, fd)
        _write_pid(fd, pid)
        return f"started {pid}"
    finally:
        os.close(fd)  # the sender holds its own copy of the lock from here on


def _spawn_detached(argv: list[str], lock_fd: int) -> int:
    """Double fork + exec; returns the sender's pid once it has exec'd (or raises)."""
    # Closed on exec: EOF tells us the exec happened; an errno before EOF, that it failed.
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    try:
        child = os.fork()
    except OSError as exc:
        os.close(status_r)
        os.close(status_w)
        raise OutboxError(f"cannot start the sender: {exc.strerror}") from None
    if child == 0:  # pragma: no cover - runs in the forked child
        _child(argv, lock_fd, status_w)
    os.close(status_w)
    os.waitpid(child, 0)  # the middle process exits at once: nothing left to reap later
    reply = b""
    with os.fdopen(status_r, "rb") as status:
        reply = status.read(64)
    head, _, tail = reply.partition(b" ")
    if not head.isdigit():
        raise OutboxError("cannot start the sender: fork failed")
    if tail:
        raise OutboxError(f"cannot start the sender: {os.strerror(int(tail))}")
    return int(head)


def _child(argv: list[str], lock_fd: int, status_w: int) -> None:  # pragma: no cover
    """The middle process and the sender, between fork and exec: only os calls, then exec."""
    try:
        os.setsid()
        grandchild = os.fork()
        if grandchild:
            os.write(status_w, f"{grandchild} ".encode())
            os._exit(0)
        # Out of the way of 0-3 first: with keepalived's stdio closed, they may be 0, 1 or 2.
        lock_fd = fcntl.fcntl(lock_fd, fcntl.F_DUPFD_CLOEXEC, 10)
        status_w = fcntl.fcntl(status_w, fcntl.F_DUPFD_CLOEXEC, 10)
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(null, std)
        os.dup2(lock_fd, LOCK_FD)  # inheritable: the one descriptor the sender keeps
        low, high = min(lock_fd, status_w), max(lock_fd, status_w)
        os.closerange(LOCK_FD + 1, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
        os.chdir("/")  # hold no directory (or mount) busy
        try:
            os.execv(argv[0], argv)
        except OSError as exc:
            os.write(status_w, str(exc.errno).encode())
    finally:
        os._exit(127)


# -- the sender process -------------------------------------------------------------------


def run(config: Config, log: Any, lock_fd: int, *, clock: Any = time.monotonic) -> int:
    """Deliver until the outbox is empty or ``sender_give_up`` passes; returns pages sent."""
    section = config.page
    outbox = Outbox.from_section(section, log)
    started = clock()
    give_up_at = started + section.sender_give_up
    sent = failed = 0
    log.info("sender started", waiting=outbox.depth(),
             give_up_in=section.sender_give_up)
    for _ in range(MAX_CYCLES):
        budget = min(ROUND_BUDGET, give_up_at - clock())
        if budget <= 0:
            break
        report = outbox.flush(budget, attempt_timeout=ATTEMPT_TIMEOUT)
        sent, failed = sent + report.sent, failed + report.failed
        if report.sent or report.failed or report.dead or report.quarantined:
            _write_metrics(config, log)
        if report.waiting == 0 and not report.busy:
            lock_fd = _release_unless_more(outbox, lock_fd)
            if lock_fd < 0:
                log.info("sender done", sent=sent, failed_attempts=failed,
                         took=round(clock() - started, 3))
                return sent
            continue
        time.sleep(_pause(outbox, report.busy, give_up_at - clock()))
    _give_up(outbox, log, sent, failed, clock() - started)
    _write_metrics(config, log)  # the oldest page's age keeps growing: show it as of now
    return sent


def _write_metrics(config: Config, log: Any) -> None:
    """The textfile's outbox figures follow what the sender does (when metrics are on)."""
    if not config.notify.metrics_file:
        return
    from lbcheck.notify.metrics import MetricsError, write

    try:
        write(config, log)
    except MetricsError as exc:
        log.error("sender cannot write metrics", error=str(exc))


def _release_unless_more(outbox: Outbox, lock_fd: int) -> int:
    """Let go of the sender lock, then look again: -1 when done, else the lock (held again).

    Looking *after* letting go closes the race with a hook that enqueued, saw the lock held
    and so spawned nobody: either we see its item now, or it saw the lock free.
    """
    os.close(lock_fd)
    if not outbox.depth():
        return -1
    try:
        fd = try_lock(outbox.directory / SENDER_LOCK)
    except OSError:
        return -1  # the outbox went away (or became unusable): nothing we could send either
    if fd is None:
        return -1  # a sender started meanwhile: it has them
    _write_pid(fd)
    return fd


def _pause(outbox: Outbox, busy: bool, left: float) -> float:
    """Until the next item is due (at most MAX_SLEEP: a hook's new item may be due sooner)."""
    due = outbox.next_due()
    wait = MIN_SLEEP if busy or due is None else due - time.time()
    return max(0.0, min(max(wait, MIN_SLEEP), MAX_SLEEP, left))


def _give_up(outbox: Outbox, log: Any, sent: int, failed: int, took: float) -> None:
    waiting = outbox.waiting()
    stats = outbox.stats()
    log.error(
        "sender gave up; pages still wait in the outbox",
        waiting=len(waiting),
        oldest_age=None if stats.oldest_age is None else round(stats.oldest_age, 1),
        sent=sent,
        failed_attempts=failed,
        took=round(took, 3),
        items=[
            {"item": w.name, "target": w.target, "attempts": w.attempts, "error": w.last_error}
            for w in waiting[:10]
        ],
        hint="`lbnotify flush` sends them now; the lbnotify-flush timer retries every minute",
    )


def _write_pid(fd: int, pid: int | None = None) -> None:
    """The sender's pid in the lock file, for an operator's `cat` (and the tests)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{pid or os.getpid()}\n".encode(), 0)
    except OSError:
        pass


def _own_lock(outbox_dir: str, lock_fd: int | None) -> int:
    """The lock the hook passed us, or one we take ourselves; -1 when another sender has it."""
    if lock_fd is not None and still_held(lock_fd):  # the hook's lock: ours already
        try:
            os.set_inheritable(lock_fd, False)
            return lock_fd
        except OSError:
            pass  # not a descriptor we can use after all: take the lock properly
    fd = try_lock(Path(outbox_dir) / SENDER_LOCK)
    return -1 if fd is None else fd


def _name_process() -> None:
    try:
        with open("/proc/self/comm", "wb") as comm:
            comm.write(COMM)
    except OSError:
        pass


def _terminate(signum: int, frame: object) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached sender; exit 0 done or not needed, 2 bad config."""
    parser = argparse.ArgumentParser(prog="python -m lbcheck.notify.paging.sender",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="PATH")
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _name_process()
    # A hook's caller may have blocked or ignored signals; the sender must stay stoppable.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGTERM, _terminate)

    from lbcheck.config import ConfigError, load
    from lbcheck.log import get_logger

    try:
        config = load(args.config)
        log = get_logger(config.log, "lbnotify").bind(role="sender")
    except ConfigError as exc:
        print(f"lbnotify sender: config error: {exc}", file=sys.stderr)
        return 2
    try:
        lock_fd = _own_lock(config.page.outbox, args.lock_fd)
    except OSError as exc:
        log.error("sender cannot lock the outbox", error=exc.strerror)
        return 1
    if lock_fd < 0:
        return 0
    _write_pid(lock_fd)
    try:
        run(config, log, lock_fd)
    except _Stop:
        log.warning("sender stopped by SIGTERM; pages stay in the outbox")
    except OutboxError as exc:
        log.error("sender stopped: the outbox is unusable", error=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
