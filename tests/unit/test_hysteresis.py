"""rise/fall as keepalived counts them, including start-up: the first result decides."""

from __future__ import annotations

import pytest

from lbcheck.checks.watch.hysteresis import Hysteresis


@pytest.mark.parametrize("first", [True, False])
def test_the_first_result_decides(first: bool) -> None:
    """No verdict yet: one result is enough either way (vrrp_script without init_fail)."""
    verdict = Hysteresis(rise=3, fall=2)
    assert verdict.healthy is None
    assert verdict.update(first) is True
    assert first is verdict.healthy


def test_after_the_first_verdict_fall_and_rise_apply() -> None:
    """Healthy from the start; two failures to fail, three successes to recover."""
    verdict = Hysteresis(rise=3, fall=2)
    results = [True, False, True, False, False, True, True, True]
    flips = [verdict.update(ok) for ok in results]
    assert [True, False, False, False, True, False, False, True] == flips
    assert verdict.healthy is True


def test_a_given_starting_verdict_must_be_changed_by_streaks() -> None:
    """An explicit start (healthy=False) keeps the old 'earn it' behaviour for callers who ask."""
    verdict = Hysteresis(rise=2, fall=1, healthy=False)
    assert [False, True] == [verdict.update(True), verdict.update(True)]
