"""A check's probes, run under one deadline, become one Outcome: the spawned check and the
watcher both come through here.

`lbcheck haproxy` (spawned by keepalived every second) and `lbcheck watch … haproxy` (the
in-process loop) must judge one target alike. Keeping the deadline, the timing and what a
check cut short means in one place keeps them from drifting: a check the deadline stops is
one UNKNOWN sample named after the check, since its probes may not have left anything to name.
Stdlib only at import time: the spawned check loads this on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lbcheck.deadline import Deadline, DeadlineExceeded
from lbcheck.outcome import Outcome, Sample, State

Probes = Callable[[Deadline], list[Sample]]


class Check:
    """What a command asks for: its name, its probes, and the thresholds shown with the verdict
    (-v, --json), computed when the check is built so that their cost is not the probes'.

    A slotted class, not a NamedTuple: defining a NamedTuple compiles its constructor, ~1.3 M
    instructions (callgrind) on every spawned check for a record nobody compares or unpacks.
    """

    __slots__ = ("name", "probes", "thresholds")

    def __init__(self, name: str, probes: Probes, thresholds: tuple[str, ...] = ()) -> None:
        self.name = name
        self.probes = probes
        self.thresholds = thresholds


def run_check(check: Check, deadline: Deadline) -> Outcome:
    """The probes under ``deadline`` (SIGALRM as the backstop for a call that ignores its
    timeout), timed; the caller keeps ``deadline`` for what it does with the verdict."""
    started = time.perf_counter()
    try:
        with deadline.guard():
            samples = check.probes(deadline)
    except DeadlineExceeded as exc:
        samples = [Sample(check.name, State.UNKNOWN, str(exc))]
    return Outcome(tuple(samples), (time.perf_counter() - started) * 1000, check.thresholds)
