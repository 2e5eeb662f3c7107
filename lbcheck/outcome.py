"""Verdicts: what a probe found, and what the whole check concludes.

States are ordered by how bad they are so that the worst one wins with ``max``. A definite
failure (CRITICAL) outranks "could not tell" (UNKNOWN): if the process is gone we *know*
the node is unhealthy, even when the stats socket could not be read either.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from lbcheck.exits import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNKNOWN,
    NAGIOS_CRITICAL,
    NAGIOS_OK,
    NAGIOS_UNKNOWN,
    NAGIOS_WARNING,
)


class State(IntEnum):
    OK = 0
    WARN = 1
    UNKNOWN = 2
    CRITICAL = 3

    @property
    def exit_code(self) -> int:
        """keepalived's view: 0 healthy (WARN too), 1 unhealthy, 3 could not tell."""
        return _KEEPALIVED_CODES[self]

    @property
    def nagios_code(self) -> int:
        """The monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
        return _NAGIOS_CODES[self]


_KEEPALIVED_CODES = {State.OK: EXIT_OK, State.WARN: EXIT_OK, State.CRITICAL: EXIT_FAILED,
                     State.UNKNOWN: EXIT_UNKNOWN}
_NAGIOS_CODES = {State.OK: NAGIOS_OK, State.WARN: NAGIOS_WARNING, State.CRITICAL: NAGIOS_CRITICAL,
                 State.UNKNOWN: NAGIOS_UNKNOWN}


class ProbeError(Exception):
    """A probe could not produce data; carries the state that failure means and why.

    ``transient`` marks what a reload of a healthy haproxy also looks like for a moment (a
    refused connection, an old worker's `Stopping: 1`, a pidfile being rewritten): the probe
    asks again within the deadline before that failure stands (lbcheck.checks.retry).
    """

    def __init__(self, state: State, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.transient = transient


class Sample(NamedTuple):
    """One probe's verdict. ``metrics`` become nagios perfdata and JSON fields."""

    probe: str
    state: State
    reason: str
    elapsed_ms: float = 0.0
    metrics: tuple[tuple[str, float], ...] = ()
    details: tuple[str, ...] = ()
    skipped: bool = False


class Outcome(NamedTuple):
    """The whole check: every sample, in the order the probes ran.

    Records on the check path are NamedTuples, not frozen dataclasses: defining a frozen
    dataclass execs generated code (~1 ms each, measured) and the check defines a dozen.
    """

    samples: tuple[Sample, ...]
    elapsed_ms: float = 0.0
    thresholds: tuple[str, ...] = ()

    @property
    def state(self) -> State:
        return max((s.state for s in self.samples), default=State.UNKNOWN)

    @property
    def reason(self) -> str:
        """The first sample with the worst state explains the verdict."""
        worst = self.state
        for sample in self.samples:
            if sample.state is worst:
                return f"{sample.probe}: {sample.reason}"
        return "no probe ran"
