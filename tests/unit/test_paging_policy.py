"""The paging policy: which VRRP transitions page whom, and how flaps collapse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbcheck.notify.events import STATES, Event
from lbcheck.notify.paging.policy import (
    CRITICAL,
    INFO,
    MAX_DEDUP_KEY,
    RESOLVE,
    TRIGGER,
    WARNING,
    Memory,
    Page,
    decide,
    fault_key,
    pending_summary,
    resend,
)

ROUTER = "lb1"
WINDOW = 60.0


def run(states: list[str], start: float = 1000.0, step: float = 1.0) -> list[Page]:
    """Feed states to the policy as keepalived would, one per ``step`` seconds."""
    memory: Memory | None = None
    pages: list[Page] = []
    for i, state in enumerate(states):
        now = start + i * step
        event = Event("INSTANCE", "VI_1", state, 100, received=now)
        decision = decide(event, memory, ROUTER, WINDOW, now)
        pages.extend(decision.pages)
        memory = decision.memory
    return pages


def test_fault_triggers_one_critical_incident() -> None:
    """Entering FAULT pages on-call once, critical, keyed per router + instance."""
    pages = run(["BACKUP", "FAULT"])
    assert [(TRIGGER, CRITICAL, fault_key(ROUTER, "INSTANCE", "VI_1"))] == [
        (p.action, p.severity, p.dedup_key) for p in pages
    ]
    assert "lbcheck:lb1:INSTANCE:VI_1:fault" == pages[0].dedup_key


def test_repeated_fault_does_not_page_again() -> None:
    """keepalived re-reporting FAULT is the same episode: no second trigger."""
    pages = run(["MASTER", "FAULT", "FAULT", "FAULT"])
    assert [(TRIGGER, INFO), (TRIGGER, CRITICAL)] == [(p.action, p.severity) for p in pages]


def test_leaving_fault_resolves_with_the_same_key() -> None:
    """FAULT → BACKUP and FAULT → MASTER both resolve the incident the trigger opened."""
    for after in ("BACKUP", "MASTER"):
        pages = run(["FAULT", after])
        assert [TRIGGER, RESOLVE] == [p.action for p in pages]
        assert pages[0].dedup_key == pages[1].dedup_key
        assert after == pages[1].state
        assert "FAULT" == pages[1].previous


def test_fault_through_a_restart_still_resolves() -> None:
    """FAULT → STOP → BACKUP (keepalived restarted) resolves when the instance is healthy."""
    pages = run(["FAULT", "STOP", "BACKUP"])
    assert [TRIGGER, RESOLVE] == [p.action for p in pages]


def test_one_trigger_and_one_resolve_per_fault_episode() -> None:
    """Two FAULT episodes, however noisy, give exactly two trigger/resolve pairs."""
    states = ["MASTER", "FAULT", "FAULT", "BACKUP", "BACKUP", "FAULT", "STOP", "FAULT", "MASTER"]
    faults = [p.action for p in run(states) if p.severity == CRITICAL]
    assert [TRIGGER, RESOLVE, TRIGGER, RESOLVE] == faults


def test_giving_up_master_warns_and_taking_over_informs() -> None:
    """MASTER → BACKUP is a warning, BACKUP → MASTER an info notice, each its own alert."""
    pages = run(["BACKUP", "MASTER", "BACKUP"], step=WINDOW)
    assert [(TRIGGER, INFO, "MASTER"), (TRIGGER, WARNING, "BACKUP")] == [
        (p.action, p.severity, p.state) for p in pages
    ]
    assert pages[0].dedup_key != pages[1].dedup_key


def test_start_up_as_backup_pages_no_one() -> None:
    """A node coming up as BACKUP is the normal case."""
    assert [] == run(["BACKUP", "BACKUP"])


def test_flaps_inside_the_window_collapse_into_one_page() -> None:
    """Six role changes in ten seconds page once; the next page after the window says so."""
    flapping = ["BACKUP", "MASTER", "BACKUP", "MASTER", "BACKUP", "MASTER", "BACKUP"]
    pages = run(flapping, step=2.0)
    assert 1 == len(pages)
    memory: Memory | None = None
    for i, state in enumerate(flapping):
        now = 1000.0 + 2 * i
        memory = decide(
            Event("INSTANCE", "VI_1", state, received=now), memory, ROUTER, WINDOW, now
        ).memory
    assert memory is not None
    later = 1000.0 + WINDOW + 20
    decision = decide(
        Event("INSTANCE", "VI_1", "MASTER", received=later), memory, ROUTER, WINDOW, later
    )
    assert 5 == decision.pages[0].suppressed
    assert "5 more transition(s)" in decision.pages[0].summary


def test_pending_summary_reports_where_a_flapping_pair_settled() -> None:
    """Once the window closes with notices swallowed, one summary says where we ended."""
    memory = Memory("INSTANCE", "VI_1", state="BACKUP", last_notice_at=1000.0, suppressed=3)
    assert () == pending_summary(memory, ROUTER, WINDOW, 1000.0 + WINDOW - 1).pages
    decision = pending_summary(memory, ROUTER, WINDOW, 1000.0 + WINDOW)
    assert [(WARNING, "BACKUP", 3)] == [
        (p.severity, p.state, p.suppressed) for p in decision.pages
    ]
    assert 0 == decision.memory.suppressed
    assert () == pending_summary(decision.memory, ROUTER, WINDOW, 5000.0).pages


def test_fault_is_never_swallowed_by_the_flap_window() -> None:
    """The window folds notices only: a FAULT right after a takeover still pages."""
    pages = run(["BACKUP", "MASTER", "FAULT"], step=0.1)
    assert [INFO, CRITICAL] == [p.severity for p in pages]


def test_priority_notices_page_no_one() -> None:
    """FIFO-only priority notices report on a state; they do not change it."""
    memory = Memory("INSTANCE", "VI_1", state="MASTER")
    event = Event("INSTANCE", "VI_1", "MASTER_PRIORITY", 50, source="fifo")
    decision = decide(event, memory, ROUTER, WINDOW, 1.0)
    assert ((), memory) == (decision.pages, decision.memory)


def test_dedup_keys_differ_per_router_and_stay_bounded() -> None:
    """Each node has its own incident, and a huge instance name still fits PagerDuty."""
    assert fault_key("lb1", "INSTANCE", "VI_1") != fault_key("lb2", "INSTANCE", "VI_1")
    long_key = fault_key("lb1" * 40, "GROUP", "G" * 128)
    assert len(long_key) <= MAX_DEDUP_KEY
    assert long_key == fault_key("lb1" * 40, "GROUP", "G" * 128)
    assert long_key != fault_key("lb1" * 40, "GROUP", "G" * 127 + "H")


def test_page_and_memory_survive_a_round_trip_through_json_types() -> None:
    """What the outbox and the memory file store comes back equal."""
    page = run(["FAULT"])[0]
    assert page == Page.from_dict(page.to_dict())
    memory = Memory("GROUP", "G1", "MASTER", True, 12.5, 2)
    assert memory == Memory.from_dict(memory.to_dict())


def test_a_page_with_wrong_field_types_is_refused() -> None:
    """An outbox file edited by hand cannot smuggle a bad value into a provider."""
    raw = run(["FAULT"])[0].to_dict()
    for field, value in (("at", "yesterday"), ("name", 7), ("priority", "high")):
        with pytest.raises(ValueError, match="not a page"):
            Page.from_dict({**raw, field: value})


@given(st.lists(st.sampled_from(STATES), max_size=40), st.floats(0.0, 120.0))
def test_triggers_and_resolves_always_alternate(states: list[str], step: float) -> None:
    """Whatever keepalived reports, a resolve follows a trigger and never stands alone."""
    faults = [p.action for p in run(states, step=step) if p.severity == CRITICAL]
    assert faults[::2] == [TRIGGER] * len(faults[::2])
    assert faults[1::2] == [RESOLVE] * len(faults[1::2])


def test_memory_counts_state_changes_and_when_the_last_one_was() -> None:
    """The metrics' transitions and last change: the first state heard of is not a change."""
    memory = None
    for now, state in [(1.0, "BACKUP"), (2.0, "BACKUP"), (3.0, "MASTER"), (4.0, "FAULT")]:
        memory = decide(Event("INSTANCE", "VI_1", state, 100), memory, ROUTER, WINDOW, now).memory
    assert memory is not None
    assert (2, 4.0, "FAULT") == (memory.transitions, memory.changed_at, memory.state)
    notice = Event("INSTANCE", "VI_1", "MASTER_PRIORITY", 50, source="fifo")
    assert memory == decide(notice, memory, ROUTER, WINDOW, 5.0).memory


def fault_memory(since: float = 1000.0) -> Memory:
    """The memory a FAULT at ``since`` leaves behind."""
    event = Event("INSTANCE", "VI_1", "FAULT", 0, received=since)
    return decide(event, None, ROUTER, WINDOW, since).memory


def test_open_fault_is_resent_once_per_interval_with_its_start() -> None:
    """Not before an interval has passed since the trigger, then once per interval; the
    re-sent page is the trigger's key, critical, and carries when the FAULT began."""
    memory = fault_memory(since=1000.0)
    assert () == resend(memory, ROUTER, 60.0, 1030.0).pages
    first = resend(memory, ROUTER, 60.0, 1060.0)
    assert [(TRIGGER, CRITICAL, fault_key(ROUTER, "INSTANCE", "VI_1"), 1000.0, "FAULT")] == [
        (p.action, p.severity, p.dedup_key, p.at, p.state) for p in first.pages]
    assert 1060.0 == first.memory.resent_at
    assert () == resend(first.memory, ROUTER, 60.0, 1100.0).pages
    assert 1 == len(resend(first.memory, ROUTER, 60.0, 1120.0).pages)


def test_resend_forgives_a_timer_that_comes_back_a_little_early() -> None:
    """A timer every interval may run a moment short of it: it re-sends, not a minute later."""
    memory = fault_memory(since=1000.0)
    assert 1 == len(resend(memory, ROUTER, 60.0, 1059.0).pages)


def test_nothing_is_resent_once_the_fault_is_resolved() -> None:
    """Leaving FAULT closes the episode and forgets its re-send time."""
    memory = fault_memory(since=1000.0)
    resolved = decide(Event("INSTANCE", "VI_1", "BACKUP", 100, received=1010.0), memory,
                      ROUTER, WINDOW, 1010.0).memory
    assert (False, None, None) == (resolved.fault_open, resolved.fault_since, resolved.resent_at)
    assert () == resend(resolved, ROUTER, 60.0, 5000.0).pages


def test_memory_from_before_fault_since_resends_from_the_last_change() -> None:
    """A memory file written before fault_since existed still re-sends, dated by changed_at."""
    raw = {"kind": "INSTANCE", "name": "VI_1", "state": "FAULT", "fault_open": True,
           "last_notice_at": None, "suppressed": 0, "transitions": 1, "changed_at": 900.0}
    pages = resend(Memory.from_dict(raw), ROUTER, 60.0, 1000.0).pages
    assert [900.0] == [p.at for p in pages]
