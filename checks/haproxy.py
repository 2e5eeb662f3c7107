"""The composite keepalived runs every second: process, stats socket, master CLI, backends.

Order matters for speed: /proc is read first and costs microseconds; when it already proves
haproxy dead or stopped, the socket probes are skipped instead of waiting out the deadline on
a socket nobody will answer.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from lbcheck.checks import info, process, stats_socket
from lbcheck.config import DEFAULT_PIDFILE
from lbcheck.deadline import Deadline
from lbcheck.outcome import Sample, State
from lbcheck.probe import skipped, timed

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
            limits = ", ".join(map(str, self.limits)) or "every backend ≥ 1 UP"
            lines.append(f"backends: {limits}; backups count only when no active is UP")
        return tuple(lines)


def run(target: HaproxyTarget, deadline: Deadline) -> list[Sample]:
    samples = [process_sample(target.resolved_pidfile())]
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


def process_sample(pidfile: str | None, name: str = "haproxy") -> Sample:
    return timed("process", lambda: process.judge(process.collect(name, pidfile)))


def socket_sample(path: str, deadline: Deadline) -> Sample:
    return timed("socket", lambda: info.judge_info(
        info.parse_info(stats_socket.query(path, "show info", deadline))))


def master_sample(path: str, deadline: Deadline) -> Sample:
    from lbcheck.checks import master_cli

    return timed("master", lambda: master_cli.judge_proc(master_cli.parse_show_proc(
        stats_socket.query(path, "show proc;quit", deadline, what="master CLI"))))


def backends_sample(path: str, limits: list[Limit], deadline: Deadline) -> Sample:
    from lbcheck.checks import backends

    return timed("backends", lambda: backends.judge_backends(
        backends.parse_stat(stats_socket.query(path, "show stat", deadline)), limits))
