"""Riding out a reload: transient failures are asked again within the deadline, others not."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from lbcheck.checks.retry import Attempts, Exhausted, until_settled
from lbcheck.deadline import Deadline
from lbcheck.outcome import ProbeError, State

REFUSED = ProbeError(State.CRITICAL, "refused", transient=True)


def flaky(failures: list[ProbeError], answer: str = "answer"):
    """An attempt that raises each of ``failures`` in turn, then answers."""
    calls: list[float] = []

    def attempt(share: Deadline) -> str:
        calls.append(time.monotonic())
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return answer

    return attempt, calls


def test_first_answer_needs_no_retry() -> None:
    """A healthy haproxy costs one attempt and no note."""
    attempt, calls = flaky([])
    value, attempts = until_settled(attempt, Deadline(0.8))
    assert ("answer", 1, "") == (value, len(calls), attempts.note())


def test_transient_failures_are_asked_again_until_an_answer() -> None:
    """Refused twice (a master re-executing), then an answer: the answer stands, noted."""
    attempt, _ = flaky([REFUSED, REFUSED])
    value, attempts = until_settled(attempt, Deadline(0.8))
    assert ("answer", 3) == (value, attempts.tries)
    assert attempts.note().startswith(" (attempt 3 after ")
    assert attempts.note().endswith("; first: refused)")


def test_a_lasting_failure_is_not_retried() -> None:
    """A failure that is not transient (a zombie, a reply that is not haproxy's) is raised at
    once: asking again cannot change it."""
    hung = ProbeError(State.CRITICAL, "not haproxy")
    attempt, calls = flaky([hung])
    with pytest.raises(ProbeError) as caught:
        until_settled(attempt, Deadline(0.8))
    assert (hung, 1) == (caught.value, len(calls))


def test_transient_failure_that_lasts_stands_before_the_deadline() -> None:
    """A haproxy really stopping keeps failing: the last failure stands, with a reserve of the
    deadline left for the probes after this one."""
    attempt, calls = flaky([REFUSED] * 1000)
    deadline = Deadline(0.5)
    with pytest.raises(Exhausted) as caught:
        until_settled(attempt, deadline, reserve=0.1)
    assert State.CRITICAL == caught.value.state
    assert 0.1 <= deadline.remaining() < 0.25
    assert 5 <= len(calls) < 20  # backoff: 5 ms doubling to 100 ms, not a busy loop
    assert caught.value.reason.startswith(f"refused (attempt {len(calls)} after ")


def test_pauses_double_up_to_a_tenth_of_a_second() -> None:
    """Bounded backoff: short first (a reload's sign lasts milliseconds), never over 100 ms."""
    attempt, calls = flaky([REFUSED] * 8)
    until_settled(attempt, Deadline(5))
    gaps = [later - earlier for earlier, later in pairwise(calls)]
    assert gaps[0] < 0.05
    assert all(gap < 0.15 for gap in gaps)
    assert gaps[-1] > 0.09


def test_note_names_the_first_failure_only_when_it_differs() -> None:
    """'first:' would repeat the reason when the same failure lasted throughout."""
    assert " (attempt 2 after 12 ms)" == Attempts(2, 12.3, "refused").note("refused")
    assert " (attempt 2 after 12 ms; first: reset)" == Attempts(2, 12.3, "reset").note("x")


def test_each_attempt_gets_a_share_so_a_swallowed_connection_leaves_time_to_ask_again() -> None:
    """Half of what is left after the reserve, then half again, then (under 0.1 s) the rest:
    a silent first attempt costs 0.35 s of 0.8, a really silent socket all of it."""
    shares: list[float] = []

    def silent(share: Deadline) -> str:
        shares.append(share.seconds)
        time.sleep(share.seconds)
        raise ProbeError(State.CRITICAL, "did not answer", transient=True)

    deadline = Deadline(0.8)
    with pytest.raises(Exhausted):
        until_settled(silent, deadline)
    assert shares[0] == pytest.approx(0.35, abs=0.02)
    assert shares[1] == pytest.approx(0.17, abs=0.03)
    assert deadline.remaining() < 0.02  # the last attempt had everything left
    assert 3 <= len(shares) <= 4


def test_patience_bounds_the_asking_again() -> None:
    """A sign known to be brief (a pidfile being rewritten) is asked again for ``patience``
    only: a stopped haproxy whose pidfile is gone still fails in tens of milliseconds."""
    attempt, calls = flaky([REFUSED] * 1000)
    deadline = Deadline(0.8)
    with pytest.raises(Exhausted):
        until_settled(attempt, deadline, patience=0.05)
    assert calls[-1] - calls[0] < 0.1
    assert deadline.remaining() > 0.6
