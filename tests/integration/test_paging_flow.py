"""keepalived events through policy, memory and outbox to a real receiver, as the lab sees it."""

from __future__ import annotations

import time
from pathlib import Path

from lbcheck.config import PageSection, PageTarget
from lbcheck.notify import paging
from lbcheck.notify.events import from_notify_args
from tests.receiver import Receiver, running


def _section(tmp_path: Path, receiver: Receiver) -> PageSection:
    target = PageTarget("pagerduty", f"{receiver.url}/v2/enqueue", routing_key="RK")
    return PageSection(outbox=str(tmp_path / "outbox"), budget=0.5, targets=(target,))


def _hook(line: str, section: PageSection, state: Path, now: float) -> None:
    """What one `lbnotify event …` run does with the page handler."""
    event = from_notify_args(line.split())
    paging.queue_event(event, section, state, "lb1", now=now)
    paging.flush(section)


def test_one_trigger_and_one_resolve_per_fault_episode(tmp_path: Path) -> None:
    """Repeated FAULTs and a pager outage mid-episode still give one trigger, one resolve."""
    state = tmp_path / "state"
    with running() as receiver:
        section = _section(tmp_path, receiver)
        _hook("INSTANCE VI_1 BACKUP 100", section, state, 1000.0)
        _hook("INSTANCE VI_1 FAULT 0", section, state, 1001.0)
        receiver.down()
        _hook("INSTANCE VI_1 FAULT 0", section, state, 1002.0)
        _hook("INSTANCE VI_1 BACKUP 100", section, state, 1003.0)  # resolve waits on disk
        receiver.up()
        for _ in range(40):  # the FIFO reader's idle flushes; the first retry is due after 1 s
            report = paging.flush(section)
            if report.sent or report.waiting == 0:
                break
            time.sleep(0.05)
    faults = [
        (r["json"]["event_action"], r["json"]["dedup_key"])
        for r in receiver.requests
        if r["json"]["dedup_key"].endswith(":fault")
    ]
    key = "lbcheck:lb1:INSTANCE:VI_1:fault"
    assert [("trigger", key), ("resolve", key)] == faults
    assert (1, 0) == (report.sent, report.waiting)


def test_a_flapping_pair_pages_once_then_says_where_it_settled(tmp_path: Path) -> None:
    """Six takeovers in ten seconds: one page, then one summary after the window."""
    state = tmp_path / "state"
    with running() as receiver:
        section = _section(tmp_path, receiver)
        for i, role in enumerate(["BACKUP", "MASTER"] * 3 + ["BACKUP"]):
            _hook(f"INSTANCE VI_1 {role} 100", section, state, 1000.0 + i)
        assert 1 == len(receiver.requests)
        assert [] == paging.queue_summaries(section, state, "lb1", now=1030.0)
        [summary] = paging.queue_summaries(section, state, "lb1", now=1000.0 + 1 + 60)
        paging.flush(section)
    assert (5, "BACKUP") == (summary.suppressed, summary.state)
    assert 2 == len(receiver.requests)
    assert "flapped 5 more time(s)" in receiver.requests[1]["json"]["payload"]["summary"]
