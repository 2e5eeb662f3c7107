"""The pair watch's rules: consecutive rounds, settle after a local transition, unknown is no
evidence, one incident per VIP and condition, re-sends, VIPs leaving the config."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lbcheck.notify.pairwatch.tracker import (
    ANY_INSTANCE,
    NONE,
    OK,
    RESEND,
    RESOLVE,
    SPLIT,
    TRIGGER,
    UNKNOWN,
    Change,
    Rules,
    Seen,
    Tracker,
    VipState,
    condition_of,
)

VIP, IF, INSTANCE = "192.0.2.10", "eth0", "VI_1"
COUNTS = {OK: 1, SPLIT: 2, NONE: 0, UNKNOWN: None}
INTERVAL = 2.0


def seen(condition: str, address: str = VIP, instance: str = INSTANCE) -> Seen:
    return Seen(address, IF, instance, holders=COUNTS[condition],
                error="no CAP_NET_RAW" if condition == UNKNOWN else None)


def play(tracker: Tracker, conditions: list[str], start: float = 1000.0,
         ) -> list[tuple[int, str, str]]:
    """Feed one VIP's conditions, one round every INTERVAL s: (round, action, condition)."""
    decided = []
    for i, condition in enumerate(conditions):
        for change in tracker.round([seen(condition)], start + i * INTERVAL):
            decided.append((i, change.action, change.condition))
    return decided


def test_the_conditions_of_a_holder_count() -> None:
    assert [NONE, OK, SPLIT, SPLIT, UNKNOWN] == [condition_of(c) for c in (0, 1, 2, 3, None)]


def test_one_round_is_a_moment_two_in_a_row_page() -> None:
    assert [] == play(Tracker(Rules()), [OK, SPLIT, OK, NONE, OK])
    assert [(2, TRIGGER, SPLIT)] == play(Tracker(Rules()), [OK, SPLIT, SPLIT, SPLIT, SPLIT])


def test_rounds_is_how_many_in_a_row_to_page_and_to_resolve() -> None:
    decided = play(Tracker(Rules(rounds=3)), [NONE, NONE, OK, NONE, NONE, NONE, OK, OK, OK])
    assert [(5, TRIGGER, NONE), (8, RESOLVE, NONE)] == decided
    assert [(0, TRIGGER, NONE), (1, RESOLVE, NONE)] == play(Tracker(Rules(rounds=1)),
                                                            [NONE, OK])


def test_an_incident_resolves_after_as_many_good_rounds_and_one_bad_round_restarts_them(
        ) -> None:
    decided = play(Tracker(Rules()), [SPLIT, SPLIT, OK, SPLIT, OK, OK])
    assert [(1, TRIGGER, SPLIT), (5, RESOLVE, SPLIT)] == decided


def test_each_condition_is_its_own_incident_and_one_turning_into_the_other_swaps_them(
        ) -> None:
    """Split brain ending with both nodes FAULT: the split resolves as "no holder" opens."""
    decided = play(Tracker(Rules()), [SPLIT, SPLIT, NONE, NONE, OK, OK])
    assert [(1, TRIGGER, SPLIT), (3, RESOLVE, SPLIT), (3, TRIGGER, NONE),
            (5, RESOLVE, NONE)] == decided


def test_a_planned_takeover_split_for_a_round_within_settle_pages_nothing() -> None:
    tracker = Tracker(Rules())
    tracker.transition(INSTANCE, "BACKUP", "MASTER", 1001.0)
    assert [] == play(tracker, [OK, SPLIT, SPLIT, OK, OK, OK])  # rounds at 1002 and 1004


def test_settle_does_not_count_but_does_not_forget_either() -> None:
    """A split that outlasts the window pages one counted round after it."""
    tracker = Tracker(Rules(settle=6.0))
    tracker.transition(INSTANCE, "BACKUP", "MASTER", 1000.0)
    # Rounds at 1000 … 1006 are within 6 s of the transition; 1006 is the first counted.
    decided = play(tracker, [SPLIT, SPLIT, SPLIT, SPLIT, SPLIT])
    assert [(4, TRIGGER, SPLIT)] == decided


def test_settle_is_for_the_condition_the_transition_causes_only() -> None:
    """Becoming MASTER may split for a moment, not leave the VIP on nobody; leaving MASTER
    the other way round; BACKUP → FAULT moves no VIP (haproxy down on both nodes)."""
    becoming = Tracker(Rules())
    becoming.transition(INSTANCE, "BACKUP", "MASTER", 1000.0)
    assert [(1, TRIGGER, NONE)] == play(becoming, [NONE, NONE])
    leaving = Tracker(Rules())
    leaving.transition(INSTANCE, "MASTER", "FAULT", 1000.0)
    assert [] == play(leaving, [NONE, NONE])
    assert [(1, TRIGGER, SPLIT)] == play(leaving, [SPLIT, SPLIT], start=1100.0)
    unmoved = Tracker(Rules())
    unmoved.transition(INSTANCE, "BACKUP", "FAULT", 1000.0)
    assert [(1, TRIGGER, NONE)] == play(unmoved, [NONE, NONE])


def test_a_transition_from_an_unknown_state_settles_both() -> None:
    tracker = Tracker(Rules())
    tracker.transition(INSTANCE, None, "BACKUP", 1000.0)
    assert [SPLIT, NONE] == sorted(tracker.settling(INSTANCE, 1000.0), reverse=True)
    assert set() == tracker.settling(INSTANCE, 1006.0)
    tracker.transition("VI_2", None, "MASTER", 1000.0)
    assert {SPLIT, NONE} == tracker.settling("VI_2", 1000.0)


def test_settle_is_per_instance_unless_the_transition_is_everyones() -> None:
    tracker = Tracker(Rules())
    tracker.transition("VI_2", "BACKUP", "MASTER", 1000.0)
    assert [(1, TRIGGER, SPLIT)] == play(tracker, [SPLIT, SPLIT])
    group = Tracker(Rules())
    group.transition(ANY_INSTANCE, "BACKUP", "MASTER", 1000.0)
    assert [] == play(group, [SPLIT, SPLIT])


def test_a_repeated_state_opens_no_window() -> None:
    tracker = Tracker(Rules())
    tracker.transition(INSTANCE, "MASTER", "MASTER", 1000.0)
    assert set() == tracker.settling(INSTANCE, 1000.0)


def test_unknown_never_triggers_or_resolves_and_breaks_no_run() -> None:
    assert [] == play(Tracker(Rules()), [UNKNOWN] * 10)
    assert [(2, TRIGGER, SPLIT)] == play(Tracker(Rules()), [SPLIT, UNKNOWN, SPLIT])
    decided = play(Tracker(Rules()), [NONE, NONE, UNKNOWN, UNKNOWN, UNKNOWN, OK, UNKNOWN, OK])
    assert [(1, TRIGGER, NONE), (7, RESOLVE, NONE)] == decided


def test_the_state_says_what_the_last_round_saw_counted_or_not() -> None:
    tracker = Tracker(Rules())
    tracker.round([seen(SPLIT)], 1000.0)
    tracker.round([seen(UNKNOWN)], 1002.0)
    [state] = tracker.states()
    assert (UNKNOWN, None, SPLIT, 1) == (state.seen, state.holders, state.run, state.length)


def test_a_steady_run_stops_changing_the_state() -> None:
    """Lengths are capped at ``rounds``: a quiet pair does not rewrite its file every round."""
    tracker = Tracker(Rules())
    play(tracker, [OK, OK, OK])
    before = tracker.states()
    tracker.round([seen(OK)], 2000.0)
    assert before == tracker.states()


def test_a_restart_with_the_stored_state_does_not_page_again_and_still_resolves() -> None:
    first = Tracker(Rules())
    assert [(1, TRIGGER, SPLIT)] == play(first, [SPLIT, SPLIT])
    again = Tracker(Rules(), [VipState.from_dict(s.to_dict()) for s in first.states()])
    assert [(2, RESOLVE, SPLIT)] == play(again, [SPLIT, OK, OK], start=1100.0)


def test_an_open_incident_is_resent_every_interval_when_asked_to() -> None:
    tracker = Tracker(Rules(resend_interval=60.0))
    changes: list[Change] = []
    for i in range(70):  # 140 s of split: trigger at 2 s, re-sends at ~56 s and ~110 s
        changes += tracker.round([seen(SPLIT)], 1000.0 + i * INTERVAL)
    assert [TRIGGER, RESEND, RESEND] == [c.action for c in changes]
    assert {1002.0} == {c.since for c in changes}
    assert [] == play(Tracker(Rules()), [SPLIT] * 70)[1:]  # nobody needs them: none


def test_a_vip_that_left_the_config_resolves_its_incident_and_is_forgotten() -> None:
    tracker = Tracker(Rules())
    play(tracker, [NONE, NONE])
    other = seen(OK, address="192.0.2.20")
    [change] = tracker.round([other], 1010.0)
    assert (RESOLVE, NONE, None, 1002.0) == (change.action, change.condition, change.seen,
                                              change.since)
    assert ["192.0.2.20"] == [s.address for s in tracker.states()]
    assert [] == tracker.round([], 1012.0, complete=False)
    assert ["192.0.2.20"] == [s.address for s in tracker.states()]


def test_restore_takes_back_a_round_the_outbox_refused() -> None:
    tracker = Tracker(Rules())
    play(tracker, [SPLIT])
    before = tracker.states()
    assert [TRIGGER] == [c.action for c in tracker.round([seen(SPLIT)], 1002.0)]
    tracker.restore(before)
    assert [TRIGGER] == [c.action for c in tracker.round([seen(SPLIT)], 1004.0)]


def test_stored_states_are_checked_field_by_field() -> None:
    good = VipState(VIP, IF, INSTANCE, SPLIT, 2, SPLIT, 2, SPLIT, 1.0, None).to_dict()
    assert VipState.from_dict(good).open == SPLIT
    for bad in ({"length": -1}, {"open": OK}, {"seen": "weird"}, {"holders": "2"},
                {"opened_at": True}, {"address": 10}, {"extra": 1}):
        try:
            VipState.from_dict({**good, **bad})
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


@given(st.lists(st.sampled_from([OK, SPLIT, NONE, UNKNOWN]), max_size=40),
       st.integers(1, 4))
def test_triggers_and_resolves_alternate_per_condition(conditions: list[str], rounds: int
                                                       ) -> None:
    """Whatever the rounds: never two triggers of one incident without a resolve between,
    never a resolve of what is not open, never a page of ``ok`` or ``unknown``."""
    tracker = Tracker(Rules(rounds=rounds))
    open_now: str | None = None
    for _, action, condition in play(tracker, conditions):
        assert condition in (SPLIT, NONE)
        if action == TRIGGER:
            assert open_now is None
            open_now = condition
        else:
            assert (action, open_now) == (RESOLVE, condition)
            open_now = None
    [state] = tracker.states() or [VipState(VIP, IF)]
    assert state.open == open_now
