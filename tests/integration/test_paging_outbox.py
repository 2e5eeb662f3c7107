"""The outbox against a real HTTP receiver on 127.0.0.1 and real files: nothing is lost."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lbcheck.config import LogSection, PageTarget
from lbcheck.log import get_logger
from lbcheck.notify.paging.outbox import (
    CORRUPT,
    DEAD,
    LOCK_FILE,
    Outbox,
    OutboxError,
    target_id,
)
from lbcheck.notify.paging.policy import CRITICAL, RESOLVE, TRIGGER, Page
from tests.receiver import Receiver, running

BUDGET = 0.5
SLACK = 0.25  # two shared cores: scheduling noise, not work we do


class Clock:
    """Wall time the test can move forward, so backoff is tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_page(name: str, n: int, action: str = TRIGGER) -> Page:
    return Page(
        action=action,
        severity=CRITICAL,
        dedup_key=f"lbcheck:lb1:INSTANCE:{name}:{n}",
        summary=f"lb1: {name} page {n}",
        router="lb1",
        kind="INSTANCE",
        name=name,
        state="FAULT",
        previous="MASTER",
        priority=n,
        at=1000.0 + n,
    )


def keys(receiver: Receiver) -> list[str]:
    return [r["json"]["dedup_key"] for r in receiver.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running() as started:
        yield started


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, receiver: Receiver, clock: Clock) -> Outbox:
    return Outbox(
        tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")], clock=clock
    )


def test_each_target_type_gets_its_request(tmp_path: Path, receiver: Receiver) -> None:
    """PagerDuty, Opsgenie and a webhook each receive their own URL, body and headers."""
    targets = [
        PageTarget("pagerduty", f"{receiver.url}/v2/enqueue", routing_key="RK"),
        PageTarget("opsgenie", f"{receiver.url}/v2/alerts", api_key="GK"),
        PageTarget("webhook", f"{receiver.url}/hook", headers=(("X-Token", "s3cret"),)),
    ]
    outbox = Outbox(tmp_path / "outbox", targets)
    trigger = make_page("VI_1", 0)
    resolve = Page(**{**trigger.to_dict(), "action": RESOLVE, "state": "BACKUP"})
    report = outbox.deliver([trigger, resolve], BUDGET)
    assert (6, 0) == (report.sent, report.waiting)
    by_path = {(r["path"], (r["json"] or {}).get("event_action")): r for r in receiver.requests}
    pd_trigger = by_path[("/v2/enqueue", "trigger")]["json"]
    assert ("RK", trigger.dedup_key, "critical") == (
        pd_trigger["routing_key"],
        pd_trigger["dedup_key"],
        pd_trigger["payload"]["severity"],
    )
    assert trigger.dedup_key == by_path[("/v2/enqueue", "resolve")]["json"]["dedup_key"]
    og_create = by_path[("/v2/alerts", None)]
    assert "GenieKey GK" == og_create["headers"]["Authorization"]
    assert trigger.dedup_key == og_create["json"]["alias"]
    close_path = "/v2/alerts/lbcheck%3Alb1%3AINSTANCE%3AVI_1%3A0/close?identifierType=alias"
    assert "GenieKey GK" == by_path[(close_path, None)]["headers"]["Authorization"]
    hooks = [r for r in receiver.requests if r["path"] == "/hook"]
    assert [trigger.to_dict(), resolve.to_dict()] == [
        {k: v for k, v in r["json"].items() if k != "at_iso"} for r in hooks]  # + ISO time
    assert ["s3cret", "s3cret"] == [r["headers"]["X-Token"] for r in hooks]
    assert ["application/json"] * 6 == [r["headers"]["Content-Type"] for r in receiver.requests]


def test_receiver_down_deliver_returns_within_budget(outbox: Outbox, receiver: Receiver) -> None:
    """With the pager unreachable the hook still returns in time, the pages wait on disk."""
    receiver.down()
    start = time.monotonic()
    report = outbox.deliver([make_page("VI_1", 0), make_page("VI_2", 0)], BUDGET)
    elapsed = time.monotonic() - start
    assert elapsed < BUDGET + SLACK
    assert (0, 2) == (report.sent, report.waiting)
    assert 2 == outbox.stats().depth


def test_receiver_back_sends_each_page_once_in_order(
    outbox: Outbox, receiver: Receiver, clock: Clock
) -> None:
    """Pages queued while the pager was down go out once each, in order per instance."""
    receiver.down()
    for n in range(3):
        outbox.deliver([make_page("VI_1", n), make_page("VI_2", n)], BUDGET)
    receiver.up()
    clock.advance(120)  # past every backoff
    report = outbox.flush(BUDGET)
    assert (6, 0) == (report.sent, report.waiting)
    sent = keys(receiver)
    assert sorted(set(sent)) == sorted(sent)
    for name in ("VI_1", "VI_2"):
        assert [f"lbcheck:lb1:INSTANCE:{name}:{n}" for n in range(3)] == [
            k for k in sent if f":{name}:" in k
        ]
    assert 0 == outbox.flush(BUDGET).sent  # nothing left to send twice


def test_waiting_item_holds_back_only_its_own_instance(
    outbox: Outbox, receiver: Receiver, clock: Clock
) -> None:
    """A newer page never overtakes an older one of the same instance; others go on."""
    receiver.down()
    outbox.deliver([make_page("VI_1", 0)], BUDGET)  # fails, backs off
    receiver.up()
    outbox.deliver([make_page("VI_1", 1), make_page("VI_2", 0)], BUDGET)
    assert ["lbcheck:lb1:INSTANCE:VI_2:0"] == keys(receiver)
    clock.advance(1.0)
    outbox.flush(BUDGET)
    assert ["lbcheck:lb1:INSTANCE:VI_1:0", "lbcheck:lb1:INSTANCE:VI_1:1"] == keys(receiver)[1:]


def test_server_error_is_retried_with_growing_backoff(
    outbox: Outbox, receiver: Receiver, clock: Clock
) -> None:
    """A 500 keeps the page; it is retried after 1 s, then 2 s, and sent once it works."""
    receiver.set_mode("500")
    outbox.deliver([make_page("VI_1", 0)], BUDGET)
    assert 1 == len(receiver.requests)
    outbox.flush(BUDGET)
    assert 1 == len(receiver.requests)  # not due yet
    clock.advance(1.0)
    assert 1 == outbox.flush(BUDGET).failed
    assert 2 == len(receiver.requests)
    clock.advance(1.9)
    outbox.flush(BUDGET)
    assert 2 == len(receiver.requests)  # the second delay is 2 s
    receiver.set_mode("ok")
    clock.advance(0.1)
    report = outbox.flush(BUDGET)
    assert (1, 0, 3) == (report.sent, report.waiting, len(receiver.requests))
    stats = outbox.stats()
    assert (1, 2, 0) == (stats.sent_total, stats.failures_total, stats.depth)


def test_throttled_page_waits_for_retry_after(
    outbox: Outbox, receiver: Receiver, clock: Clock
) -> None:
    """429 with Retry-After: 5 is not retried for 5 s, longer than our own backoff."""
    receiver.set_mode("429", retry_after="5")
    outbox.deliver([make_page("VI_1", 0)], BUDGET)
    receiver.set_mode("ok")
    clock.advance(4.9)
    outbox.flush(BUDGET)
    assert 1 == len(receiver.requests)
    clock.advance(0.1)
    assert 1 == outbox.flush(BUDGET).sent
    assert 2 == len(receiver.requests)


def test_rejected_page_goes_to_dead_letters_with_a_log_line(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A 400 will never succeed: the page moves to dead/, is logged, and does not block."""
    log_path = tmp_path / "lbnotify.jsonl"
    log = get_logger(LogSection(target=str(log_path), format="json"), "lbnotify")
    outbox = Outbox(tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")], log)
    receiver.set_mode("400")
    report = outbox.deliver([make_page("VI_1", 0)], BUDGET)
    assert (0, 1, 0) == (report.sent, report.dead, report.waiting)
    [dead] = list((tmp_path / "outbox" / DEAD).iterdir())
    record = json.loads(dead.read_text())
    assert (400, "lbcheck:lb1:INSTANCE:VI_1:0") == (
        record["dead_status"],
        record["page"]["dedup_key"],
    )
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    [line] = [entry for entry in lines if entry["event"] == "page rejected, moved to dead letters"]
    assert ("error", 400) == (line["level"], line["status"])
    receiver.set_mode("ok")
    assert 1 == outbox.deliver([make_page("VI_1", 1)], BUDGET).sent
    assert 1 == outbox.stats().dead


def test_slow_receiver_is_cut_off_at_the_budget(outbox: Outbox, receiver: Receiver) -> None:
    """A pager that takes 2 s to answer costs the hook its budget, not more; the page stays."""
    receiver.set_mode("slow", delay=2.0)
    start = time.monotonic()
    report = outbox.deliver([make_page("VI_1", 0)], 0.3)
    elapsed = time.monotonic() - start
    assert elapsed < 0.3 + SLACK
    assert (0, 1, 1) == (report.sent, report.failed, report.waiting)


def test_unanswered_connect_is_cut_off_at_the_budget(tmp_path: Path) -> None:
    """A pager whose host drops our SYNs (a full accept queue here) costs only the budget."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(3):  # fill the accept queue; later SYNs are dropped, not refused
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        outbox = Outbox(tmp_path / "outbox", [PageTarget("webhook", url)])
        start = time.monotonic()
        report = outbox.deliver([make_page("VI_1", 0)], 0.3)
        elapsed = time.monotonic() - start
    finally:
        for sock in (*fillers, listener):
            sock.close()
    assert elapsed < 0.3 + SLACK
    assert (0, 1) == (report.sent, report.waiting)


def test_flusher_without_the_lock_returns_at_once(outbox: Outbox, receiver: Receiver) -> None:
    """While another process flushes, we only enqueue; the holder sends our page."""
    outbox.enqueue(make_page("VI_1", 0))
    fd = os.open(outbox.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        report = outbox.flush(BUDGET)
    finally:
        os.close(fd)
    assert (True, 0, 1) == (report.busy, report.sent, report.waiting)
    assert report.elapsed < 0.1
    assert [] == receiver.requests


def test_corrupt_files_are_quarantined_and_the_rest_sent(
    outbox: Outbox, receiver: Receiver
) -> None:
    """Garbage or foreign files move to corrupt/, a dead writer's old temp file is removed
    (never an item: its enqueue did not return); the flusher goes on."""
    outbox.enqueue(make_page("VI_1", 0))
    tid = target_id(outbox.targets[next(iter(outbox.targets))])
    directory = outbox.directory
    (directory / f"{0:020d}-1-1.{tid}.json").write_text("{not json")
    (directory / f"{1:020d}-1-2.{tid}.json").write_text('{"page": {"action": "trigger"}}')
    (directory / "notes.txt").write_text("an operator was here")
    stale = directory / ".tmp-crashed-writer"
    stale.write_text('{"half": ')
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = directory / ".tmp-still-writing"
    fresh.write_text("")
    report = outbox.flush(BUDGET)
    assert (1, 3, 0) == (report.sent, report.quarantined, report.waiting)
    assert 3 == len(list((directory / CORRUPT).iterdir()))
    assert (False, True) == (stale.exists(), fresh.exists())


def test_page_for_a_removed_target_is_kept_as_dead_letter(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Dropping a target from the config does not silently delete its waiting pages."""
    old = Outbox(tmp_path / "outbox", [PageTarget("webhook", "http://127.0.0.1:9/gone")])
    old.enqueue(make_page("VI_1", 0))
    new = Outbox(tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")])
    report = new.flush(BUDGET)
    assert (0, 1) == (report.sent, report.dead)
    assert 1 == new.stats().dead


def test_unwritable_outbox_is_a_one_line_error(tmp_path: Path) -> None:
    """An outbox path that cannot be a directory gives one clear line, not a traceback."""
    (tmp_path / "file").write_text("")
    outbox = Outbox(tmp_path / "file" / "outbox", [PageTarget("webhook", "http://127.0.0.1:9")])
    with pytest.raises(
        OutboxError, match=r"^cannot create outbox .*file/outbox: Not a directory$"
    ):
        outbox.enqueue(make_page("VI_1", 0))


def _storm_child(directory: str, url: str, index: int, start: Any) -> None:
    """One `lbnotify event`: three pages for its own instance, a flush after each."""
    start.wait(10)
    outbox = Outbox(directory, [PageTarget("webhook", url)])
    for n in range(3):
        outbox.deliver([make_page(f"VI_{index}", n)], 2.0)


def test_fifty_processes_enqueue_and_flush_at_once(tmp_path: Path, receiver: Receiver) -> None:
    """50 hooks plus a FIFO reader: every page arrives, none twice, in order per instance."""
    directory, url = str(tmp_path / "outbox"), f"{receiver.url}/hook"
    context = multiprocessing.get_context("fork")
    start = context.Event()
    children = [
        context.Process(target=_storm_child, args=(directory, url, i, start)) for i in range(50)
    ]
    reader_done = threading.Event()

    def fifo_reader() -> None:
        outbox = Outbox(directory, [PageTarget("webhook", url)])
        deadline = time.monotonic() + 30
        while not reader_done.is_set() and time.monotonic() < deadline:
            outbox.flush(0.2)
            time.sleep(0.01)

    reader = threading.Thread(target=fifo_reader, daemon=True)
    try:
        for child in children:
            child.start()
        reader.start()
        start.set()
        for child in children:
            child.join(timeout=30)
        assert [0] * 50 == [child.exitcode for child in children]
    finally:
        reader_done.set()
        reader.join(timeout=10)
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(timeout=5)
    Outbox(directory, [PageTarget("webhook", url)]).flush(5.0)  # whatever the last one left
    sent = keys(receiver)
    assert 150 == len(sent)
    assert 150 == len(set(sent))
    for i in range(50):
        assert [f"lbcheck:lb1:INSTANCE:VI_{i}:{n}" for n in range(3)] == [
            k for k in sent if k.split(":")[3] == f"VI_{i}"
        ]
    assert 0 == Outbox(directory, []).stats().depth


def test_without_targets_waiting_pages_are_left_alone(tmp_path: Path, receiver: Receiver) -> None:
    """Switching paging off for a while neither sends nor buries what waits."""
    Outbox(tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")]).enqueue(
        make_page("VI_1", 0)
    )
    report = Outbox(tmp_path / "outbox", []).flush(BUDGET)
    assert (0, 0, 1) == (report.sent, report.dead, report.waiting)


def test_flush_now_ignores_the_backoff_but_keeps_the_order(
    outbox: Outbox, receiver: Receiver
) -> None:
    """due_only=False (an operator's flush) sends pages still backing off, oldest first."""
    receiver.down()
    outbox.deliver([make_page("VI_1", 0)], BUDGET)  # fails: next attempt in 1 s
    outbox.enqueue(make_page("VI_1", 1))
    receiver.up()
    assert 0 == outbox.flush(BUDGET).sent  # due only: the head is backing off, 1 waits behind
    report = outbox.flush(BUDGET, due_only=False)
    assert (2, 0) == (report.sent, report.waiting)
    assert ["lbcheck:lb1:INSTANCE:VI_1:0", "lbcheck:lb1:INSTANCE:VI_1:1"] == keys(receiver)


def test_flush_waits_for_a_busy_outbox_when_asked(outbox: Outbox, receiver: Receiver) -> None:
    """lock_wait: a flush started while another holds the outbox sends once it is free."""
    outbox.enqueue(make_page("VI_1", 0))
    fd = os.open(outbox.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    releaser = threading.Timer(0.3, os.close, (fd,))
    releaser.start()
    try:
        report = outbox.flush(2.0, lock_wait=1.0)
    finally:
        releaser.join(timeout=5)
    assert (False, 1, 0) == (report.busy, report.sent, report.waiting)
