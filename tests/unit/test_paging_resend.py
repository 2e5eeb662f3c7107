"""Re-sending open FAULTs to Alertmanager: only to it, through the outbox, rate-limited on
disk, and never piling up behind a page of the same instance that still waits."""

from __future__ import annotations

import json
from pathlib import Path

from lbcheck.config import PageSection, PageTarget
from lbcheck.notify import paging
from lbcheck.notify.events import Event
from lbcheck.notify.paging.outbox import Outbox, target_id

ALERTMANAGER = PageTarget("alertmanager", "http://127.0.0.1:9")
PAGERDUTY = PageTarget("pagerduty", "http://127.0.0.1:9/v2/enqueue", routing_key="RK")


def section(tmp_path: Path, *targets: PageTarget) -> PageSection:
    return PageSection(outbox=str(tmp_path / "outbox"), resend_interval=60.0, targets=targets)


def items(page: PageSection) -> list[tuple[str, str]]:
    """(target id, action) of each waiting item, oldest first."""
    found = []
    for path in sorted(Path(page.outbox).glob("*.json")):
        record = json.loads(path.read_text())
        found.append((record["target"], record["page"]["action"]))
    return found


def fault(page: PageSection, state: Path, at: float, state_name: str = "FAULT") -> None:
    event = Event("INSTANCE", "VI_1", state_name, 0, received=at)
    paging.queue_event(event, page, state, "lb1", now=at)


def drain(page: PageSection) -> None:
    """What a successful flush would do: the outbox empties."""
    for path in Path(page.outbox).glob("*.json"):
        path.unlink()


def test_open_fault_is_resent_to_alertmanager_only_once_per_interval(tmp_path: Path) -> None:
    """The re-send goes to the Alertmanager target alone, once the interval has passed, and
    the time of it is on disk: a second process (the next timer run) does not repeat it."""
    page, state = section(tmp_path, PAGERDUTY, ALERTMANAGER), tmp_path / "state"
    fault(page, state, at=1000.0)
    drain(page)
    assert [] == paging.queue_resends(page, state, "lb1", now=1030.0)
    [resent] = paging.queue_resends(page, state, "lb1", now=1060.0)
    assert (resent.action, resent.at) == ("trigger", 1000.0)
    assert [(target_id(ALERTMANAGER), "trigger")] == items(page)
    drain(page)
    assert [] == paging.queue_resends(page, state, "lb1", now=1090.0)
    assert 1 == len(paging.queue_resends(page, state, "lb1", now=1120.0))


def test_no_alertmanager_target_means_no_resend_and_no_write(tmp_path: Path) -> None:
    """PagerDuty keeps its incident open by itself: nothing is re-sent, the memory untouched."""
    page, state = section(tmp_path, PAGERDUTY), tmp_path / "state"
    fault(page, state, at=1000.0)
    memory_file = next((state / "page").glob("*.json"))
    before = memory_file.read_bytes()
    assert [] == paging.queue_resends(page, state, "lb1", now=5000.0)
    assert before == memory_file.read_bytes()


def test_no_resend_piles_up_behind_a_page_that_waits(tmp_path: Path) -> None:
    """Alertmanager down: the trigger still waits, and that one page will refresh the alert
    when it goes out, so the outbox does not grow by one re-send per interval."""
    page, state = section(tmp_path, ALERTMANAGER), tmp_path / "state"
    fault(page, state, at=1000.0)
    for now in (1060.0, 1120.0, 1180.0):
        assert [] == paging.queue_resends(page, state, "lb1", now=now)
    assert 1 == Outbox.from_section(page).depth()


def test_resolved_fault_is_not_resent(tmp_path: Path) -> None:
    """After BACKUP the episode is over: the resolve waits, no trigger follows it."""
    page, state = section(tmp_path, ALERTMANAGER), tmp_path / "state"
    fault(page, state, at=1000.0)
    fault(page, state, at=1010.0, state_name="BACKUP")
    drain(page)
    assert [] == paging.queue_resends(page, state, "lb1", now=9000.0)
