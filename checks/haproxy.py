"""The composite keepalived runs every second: process, stats socket, master CLI, backends.

Order matters for speed: /proc is read first and costs microseconds; when it already proves
haproxy dead or stopped, the socket probes are skipped instead of waiting out the deadline on
a socket nobody will answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from lbcheck.checks import info, process, stats_socket
from lbcheck.checks.pipeline import Check
from lbcheck.checks.probe import skipped, timed
from lbcheck.checks.retry import Exhausted, until_settled
from lbcheck.config import DEFAULT_PIDFILE
from lbcheck.deadline import Deadline
from lbcheck.outcome import Sample, State

PIDFILE_PATIENCE = 0.05  # seconds; haproxy rewrites its pidfile on reload (missing/empty briefly)

if TYPE_CHECKING:  # imported where used: csv and re cost ~2.4 ms the default check never needs
    from lbcheck.checks.backends import Limit


class HaproxyTarget(NamedTuple):
    socket: str
    pidfile: str | None = None
    master_socket: str | None = None
    limits: tuple[Limit, ...] = ()
    check_backends: bool = False

    def resolved_pidfile(self) -> str | None:
        """Debian's unit writes /run/haproxy.pid; elsewhere we find haproxy by name."""
        if self.pidfile is not None:
            return self.pidfile
        return DEFAULT_PIDFILE if os.path.exists(DEFAULT_PIDFILE) else None

    def thresholds(self) -> tuple[str, ...]:
        pidfile = self.resolved_pidfile()
        found = f"pidfile {pidfile}" if pidfile else "name"
        lines = [f"process: found by {found}; zombie/stopped = down",
                 f"socket: {self.socket} answers `show info`, Stopping = 0"]
        if self.master_socket:
            lines.append(f"master: {self.master_socket} lists ≥ 1 current worker")
        if self.check_backends:
            from lbcheck.checks.backends import describe

            lines.append(describe(list(self.limits)))
        return tuple(lines)


def check(target: HaproxyTarget) -> Check:
    """The composite as `lbcheck haproxy` and `lbcheck watch … haproxy` both run it: one name,
    one set of probes and thresholds, so a target is judged alike whichever runs it."""
    return Check("haproxy", lambda deadline: run(target, deadline), target.thresholds())


def run(target: HaproxyTarget, deadline: Deadline) -> list[Sample]:
    samples = [process_sample(target.resolved_pidfile(), deadline)]
    rest = ["socket"] + (["master"] if target.master_socket else []) + (
        ["backends"] if target.check_backends else [])
    if samples[0].state is State.CRITICAL:
        return samples + [skipped(name, "not asked: the process probe already failed")
                          for name in rest]
    samples.append(socket_sample(target.socket, deadline))
    if target.master_socket:
        samples.append(master_sample(target.master_socket, deadline))
    if target.check_backends:
        if samples[1].state is State.OK:
            samples.append(backends_sample(target.socket, list(target.limits), deadline))
        else:
            samples.append(skipped("backends", "stats socket did not answer"))
    return samples


def process_sample(pidfile: str | None, deadline: Deadline, name: str = "haproxy") -> Sample:
    """/proc, read again while the pidfile is being rewritten by a reload — for 50 ms at most:
    the rewrite takes microseconds, and a stopped haproxy (pidfile removed) must fail fast."""
    return timed("process", lambda: settled(
        lambda share: process.judge(process.collect(name, pidfile)), deadline,
        patience=PIDFILE_PATIENCE))


def socket_sample(path: str, deadline: Deadline) -> Sample:
    """`show info` from a process that is not stopping; an old worker's answer is asked again."""
    return timed("socket", lambda: settled(lambda share: info.judge_info(
        info.parse_info(stats_socket.query(path, "show info", share))), deadline))


def master_sample(path: str, deadline: Deadline) -> Sample:
    """`show proc` lists a current worker.

    A master CLI that still refuses (or resets) connections when the deadline runs out is a
    master re-executing itself for a reload, which takes longer the bigger the config (over
    450 ms with 20,000 servers, measured on 2.6). Its workers serve meanwhile, and the process
    and socket probes judge them, so that is a WARN the on-call can see, not a failover.
    """
    from lbcheck.checks import master_cli

    def attempt(share: Deadline) -> Sample:
        return master_cli.judge_proc(master_cli.parse_show_proc(
            stats_socket.query(path, "show proc;quit", share, what="master CLI")))

    def judged() -> Sample:
        try:
            return settled(attempt, deadline)
        except Exhausted as exc:
            if isinstance(exc.last, stats_socket.NoAnswer):
                raise  # a silent master is hung, not re-executing
            return Sample("master", State.WARN, f"{exc.reason}; a master re-executing for a "
                          "reload does that: its workers are judged by the other probes")

    return timed("master", judged)


def backends_sample(path: str, limits: list[Limit], deadline: Deadline) -> Sample:
    """Only the named backends are asked for (flat cost); no limit means every backend."""
    from lbcheck.checks import backends

    names = [limit.backend for limit in limits]
    filtered = backends.stat_commands(names)

    def attempt(share: Deadline) -> Sample:
        if filtered is None:
            found = backends.parse_stat(stats_socket.query(path, "show stat", share))
        else:
            found, unresolved = backends.parse_filtered(
                stats_socket.query(path, filtered, share), names)
            if unresolved:  # a name `show stat NAME` resolved to a frontend of that name
                whole = backends.parse_stat(stats_socket.query(path, "show stat", share))
                found.update({name: whole[name] for name in unresolved if name in whole})
        return backends.judge_backends(found, limits)

    return timed("backends", lambda: settled(attempt, deadline))


def settled(attempt: Callable[[Deadline], Sample], deadline: Deadline,
            patience: float | None = None) -> Sample:
    """Ride out a reload (lbcheck.checks.retry); note in the reason when it took retries."""
    sample, attempts = until_settled(attempt, deadline, patience=patience)
    if attempts.tries == 1:
        return sample
    return sample._replace(reason=sample.reason + attempts.note(),
                           metrics=sample.metrics + (("attempts", float(attempts.tries)),))
