"""States, exit codes and the Outcome verdict: the worst state wins and explains itself."""

from __future__ import annotations

import pytest

from lbcheck.exits import EXIT_UNKNOWN, EXIT_USAGE
from lbcheck.outcome import Outcome, ProbeError, Sample, State


def test_states_are_ordered_worst_last() -> None:
    """CRITICAL > UNKNOWN > WARN > OK, so `max` picks the worst."""
    assert [State.OK, State.WARN, State.UNKNOWN, State.CRITICAL] == sorted(State)
    assert State.CRITICAL == max(State.UNKNOWN, State.CRITICAL, State.OK)


@pytest.mark.parametrize(
    ("state", "exit_code", "nagios_code"),
    [(State.OK, 0, 0), (State.WARN, 0, 1), (State.CRITICAL, 1, 2), (State.UNKNOWN, 3, 3)],
)
def test_exit_and_nagios_codes(state: State, exit_code: int, nagios_code: int) -> None:
    """keepalived sees 0/0/1/3 (WARN is healthy); --nagios gives the plugin 0/1/2/3."""
    assert (exit_code, nagios_code) == (state.exit_code, state.nagios_code)


def test_usage_and_unknown_exit_codes() -> None:
    """Usage errors exit 2 and 'could not tell' exits 3, as docs/checks.md says."""
    assert (2, 3) == (EXIT_USAGE, EXIT_UNKNOWN)


def test_probe_error_carries_state_and_reason() -> None:
    """A probe that cannot tell raises its state and a reason that is also the message."""
    error = ProbeError(State.UNKNOWN, "no socket")
    assert (State.UNKNOWN, "no socket", "no socket") == (error.state, error.reason, str(error))


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((State.OK, State.OK), State.OK),
        ((State.OK, State.WARN), State.WARN),
        ((State.WARN, State.UNKNOWN, State.OK), State.UNKNOWN),
        ((State.UNKNOWN, State.CRITICAL, State.WARN), State.CRITICAL),
        ((State.CRITICAL, State.UNKNOWN), State.CRITICAL),
    ],
)
def test_worst_state_wins(states: tuple[State, ...], expected: State) -> None:
    """A known failure (CRITICAL) outranks 'could not tell' (UNKNOWN), which outranks WARN."""
    outcome = Outcome(tuple(Sample(f"p{i}", s, "r") for i, s in enumerate(states)))
    assert expected == outcome.state


def test_reason_is_the_first_worst_sample() -> None:
    """The first sample with the worst state explains the verdict, prefixed by its probe."""
    outcome = Outcome((Sample("process", State.OK, "running"),
                       Sample("socket", State.UNKNOWN, "permission denied"),
                       Sample("backends", State.CRITICAL, "app: 0/2 UP"),
                       Sample("master", State.CRITICAL, "no worker")))
    assert "backends: app: 0/2 UP" == outcome.reason


def test_no_sample_is_unknown() -> None:
    """An outcome with no probe could not tell anything."""
    assert (State.UNKNOWN, "no probe ran") == (Outcome(()).state, Outcome(()).reason)
