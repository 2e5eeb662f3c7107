"""The metrics-convention check itself: it must fail on what it is there to catch."""

from __future__ import annotations

from tests.support.textfile import convention_problems

GOOD = """\
# HELP x_verdict 1 for the current state
# TYPE x_verdict gauge
x_verdict{probe="a",state="OK"} 1.0
x_verdict{probe="a",state="CRITICAL"} 0.0
x_verdict{probe="b",state="OK"} 0.0
x_verdict{probe="b",state="CRITICAL"} 1.0
# HELP x_runs Runs
# TYPE x_runs counter
x_runs_total 3.0
"""


def test_a_conforming_file_has_no_problem() -> None:
    assert [] == convention_problems(GOOD, "x_")


def test_two_current_states_a_foreign_prefix_and_a_deprecated_family() -> None:
    bad = GOOD.replace('probe="a",state="CRITICAL"} 0.0', 'probe="a",state="CRITICAL"} 1.0')
    bad += "# TYPE y_old gauge\ny_old 2.0\n"
    problems = convention_problems(bad, "x_")
    assert 2 == len(problems), problems
    assert "exactly one state" in problems[0] and "'probe': 'a'" in problems[0]
    assert "y_old: not named x_*" == problems[1]
    old = "# TYPE y_old gauge\ny_old 2.0\n"
    assert [] == convention_problems(GOOD + old, "x_", frozenset({"y_old"}))  # still written
