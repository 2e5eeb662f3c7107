"""The master CLI (`haproxy -S`): does the master have a current worker?

A failed reload leaves the previous worker serving the previous config: traffic flows, so it
is a WARN the on-call should see, not a failover.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from lbcheck.outcome import ProbeError, Sample, State

_FAILED = re.compile(r"\[failed:\s*(\d+)\]")


class ProcTable(NamedTuple):
    master_pid: int
    reloads: int
    failed_reloads: int
    workers: tuple[int, ...]  # current workers
    old_workers: tuple[int, ...]  # still draining after a reload


def parse_show_proc(reply: str) -> ProcTable:
    """Parse `show proc`; sections are introduced by `# workers`, `# old workers`, …"""
    if not reply.startswith("#<PID>"):
        raise ProbeError(State.UNKNOWN, f"not a master CLI `show proc` reply: {reply[:60]!r}")
    if not reply.endswith("\n\n"):  # cut before `# workers` would read as "no worker"
        raise ProbeError(State.UNKNOWN, f"`show proc` reply was cut short after {len(reply)} "
                         "bytes (no terminating empty line)")
    section = "master"
    master: tuple[int, int, int] | None = None
    workers: list[int] = []
    old: list[int] = []
    for line in reply.splitlines()[1:]:
        if not line.strip():
            continue
        if line.startswith("#"):
            section = line.lstrip("# ").strip().lower()
            continue
        words = line.split()
        if len(words) < 3 or not words[0].isdecimal():
            raise ProbeError(State.UNKNOWN, f"unexpected `show proc` line: {line[:60]!r}")
        pid = int(words[0])
        if words[1] == "master":
            failed = _FAILED.search(line)
            reloads = int(words[2]) if words[2].isdecimal() else 0
            master = (pid, reloads, int(failed.group(1)) if failed else 0)
        elif words[1] == "worker" and section == "workers":
            workers.append(pid)
        elif words[1] == "worker" and section == "old workers":
            old.append(pid)
    if master is None:
        raise ProbeError(State.UNKNOWN, "`show proc` reply has no master line")
    return ProcTable(master[0], master[1], master[2], tuple(workers), tuple(old))


def judge_proc(table: ProcTable) -> Sample:
    """≥ 1 current worker. haproxy 3.2 files workers by generation: after a failed reload the
    worker still serving the previous config is listed under `# old workers` and `# workers`
    is empty (2.6 and 3.0 keep it under `# workers`; captured in tests/unit/data). That is
    the failed reload's WARN, not a dead haproxy: the socket probe still asks the worker and
    fails the check if it is really stopping."""
    metrics = (("workers", float(len(table.workers))),
               ("failed_reloads", float(table.failed_reloads)))
    if not table.workers and table.old_workers and table.failed_reloads:
        return Sample("master", State.WARN,
                      f"master {table.master_pid}, previous worker(s) "
                      f"{','.join(map(str, table.old_workers))} still serving; "
                      f"{table.failed_reloads} reload(s) failed: the previous config still "
                      "serves (check `haproxy -c`)", metrics=metrics)
    if not table.workers:
        return Sample("master", State.CRITICAL,
                      f"master {table.master_pid} has no current worker", metrics=metrics)
    reason = f"master {table.master_pid}, worker(s) {','.join(map(str, table.workers))}"
    if table.old_workers:
        reason += f", {len(table.old_workers)} old worker(s) draining"
    if table.failed_reloads:
        return Sample("master", State.WARN,
                      f"{reason}; {table.failed_reloads} reload(s) failed: the previous "
                      "config still serves (check `haproxy -c`)", metrics=metrics)
    return Sample("master", State.OK, reason, metrics=metrics)
