"""Issue 16's ways of losing or stalling pages, each against a real HTTP receiver on 127.0.0.1
and the real outbox on disk: a poisoned item, a refused key, a pager that trickles or floods
its answer, and credentials in a webhook URL."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbcheck.config import LogSection, PageTarget
from lbcheck.log import get_logger
from lbcheck.notify.paging.outbox import CORRUPT, DEAD, REJECTED_CAP, Outbox, target_id
from lbcheck.notify.paging.policy import CRITICAL, TRIGGER, Page
from tests.receiver import Receiver, running
from tests.support.notify import ROUTING_KEY, Notify

BUDGET = 0.5
SLACK = 0.5  # two shared cores: scheduling noise, not work we do
START = 1.5  # an lbnotify interpreter's start-up on a busy 2-core box


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running() as started:
        yield started


def refused_url() -> str:
    """An address on this machine where nothing listens: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def page(name: str, n: int = 0, at: float | None = None) -> Page:
    return Page(action=TRIGGER, severity=CRITICAL, dedup_key=f"lbcheck:lb1:INSTANCE:{name}:{n}",
                summary=f"FAULT: VRRP instance {name} on lb1", router="lb1", kind="INSTANCE",
                name=name, state="FAULT", previous="MASTER", priority=100,
                at=time.time() if at is None else at)


def rewrite(path: Path, **fields: object) -> None:
    record = json.loads(path.read_text())
    record.update(fields)
    path.write_text(json.dumps(record))


# -- 1. one stuck target, one bad value: the rest is still delivered ----------------------------


def test_a_target_failing_for_17_hours_does_not_stop_the_others(
    tmp_path: Path, receiver: Receiver
) -> None:
    """After 1,024 failed attempts (17 h of the minute timer) the backoff once overflowed and
    every flush died on that item: now it is capped, and the live target still gets its page."""
    dead, live = PageTarget("webhook", f"{refused_url()}/hook"), PageTarget(
        "webhook", f"{receiver.url}/hook")
    outbox = Outbox(tmp_path / "outbox", [dead, live])
    stuck, fresh = outbox.enqueue(page("VI_1"))
    rewrite(stuck, attempts=1024)
    receiver.down()  # the live one's page waits too: only its own target's lane may block it
    receiver.up()
    before = time.time()
    report = outbox.flush(BUDGET)
    assert (1, 1, 0, 0) == (report.sent, report.failed, report.dead, report.quarantined)
    assert not fresh.exists()
    record = json.loads(stuck.read_text())
    assert 1025 == record["attempts"]
    assert before < record["next_attempt"] <= time.time() + outbox.backoff_cap


DAMAGE = {
    "attempts 1e30": {"attempts": 1e30},
    "attempts 10**30": {"attempts": 10**30},
    "attempts -1": {"attempts": -1},
    "next_attempt nan": {"next_attempt": "NaN"},
    "at 1e300": {"page_at": 1e300},
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_an_item_with_impossible_values_is_quarantined_and_the_rest_sent(
    tmp_path: Path, receiver: Receiver, damage: str
) -> None:
    """Each value once raised out of the flush (OverflowError, MemoryError…): now the item goes
    to corrupt/ with one log line and the other instance's page is delivered."""
    log_path = tmp_path / "log.jsonl"
    log = get_logger(LogSection(target=str(log_path)), f"test-{damage}")
    target = PageTarget("pagerduty", f"{receiver.url}/v2/enqueue", routing_key=ROUTING_KEY)
    outbox = Outbox(tmp_path / "outbox", [target], log)
    [bad] = outbox.enqueue(page("VI_1"))
    outbox.enqueue(page("VI_2"))
    fields = dict(DAMAGE[damage])
    if "page_at" in fields:
        record = json.loads(bad.read_text())
        record["page"]["at"] = fields.pop("page_at")
        bad.write_text(json.dumps(record))
    if fields:
        text = bad.read_text()
        record = json.loads(text)
        record.update(fields)
        bad.write_text(json.dumps(record).replace('"NaN"', "NaN"))
    report = outbox.flush(BUDGET)
    assert (1, 1) == (report.sent, report.quarantined)
    assert ["lbcheck:lb1:INSTANCE:VI_2:0"] == [r["json"]["dedup_key"] for r in receiver.requests]
    assert [bad.name] == [p.name for p in (tmp_path / "outbox" / CORRUPT).iterdir()]
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    [line] = [e for e in lines if e["event"] == "outbox file quarantined"]
    assert bad.name == line["item"]


PLANTED = ["deep JSON", "symlink to /dev/zero", "FIFO", "2 MiB", "a directory"]


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_file_is_quarantined_without_hanging_or_reading_it_whole(
    tmp_path: Path, receiver: Receiver, planted: str
) -> None:
    """Whatever sits in the outbox under an item's name — nested JSON past the recursion
    limit, a link to /dev/zero, a FIFO, a huge file — costs one line, never a hang."""
    target = PageTarget("webhook", f"{receiver.url}/hook")
    outbox = Outbox(tmp_path / "outbox", [target])
    outbox.enqueue(page("VI_2"))
    bad = tmp_path / "outbox" / f"{'0' * 19}1-1-1.{target_id(target)}.json"
    if planted == "deep JSON":
        bad.write_text("[" * 100_000 + "]" * 100_000)
    elif planted == "symlink to /dev/zero":
        bad.symlink_to("/dev/zero")
    elif planted == "FIFO":
        os.mkfifo(bad)
    elif planted == "2 MiB":
        bad.write_bytes(b" " * (2 << 20))
    else:
        bad.mkdir()
    started = time.monotonic()
    report = outbox.flush(BUDGET)
    assert time.monotonic() - started < BUDGET + SLACK
    assert (1, 1) == (report.sent, report.quarantined)
    assert not os.path.lexists(bad)
    assert [bad.name] == [p.name for p in (tmp_path / "outbox" / CORRUPT).iterdir()]


def test_a_retry_after_that_is_not_a_number_is_ignored(
    tmp_path: Path, receiver: Receiver
) -> None:
    """`Retry-After: ²` passes str.isdigit but not float(): it once raised out of the flush."""
    outbox = Outbox(tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")])
    receiver.set_mode("429", retry_after="²")
    [item] = outbox.enqueue(page("VI_1"))
    before = time.time()
    report = outbox.flush(BUDGET)
    assert (0, 1) == (report.sent, report.failed)
    assert before < json.loads(item.read_text())["next_attempt"] <= time.time() + 1.5


def test_lbnotify_fault_pages_through_a_poisoned_outbox(tmp_path: Path,
                                                        receiver: Receiver) -> None:
    """The operator's view of failure 1: a webhook dead for 17 h and PagerDuty up. The hook
    once exited "internal error: OverflowError" and PagerDuty got nothing."""
    targets = (f'[[page.target]]\ntype = "webhook"\nurl = "{refused_url()}/hook"\n'
               f'[[page.target]]\ntype = "pagerduty"\nurl = "{receiver.url}/v2/enqueue"\n'
               f'routing_key = "{ROUTING_KEY}"\n')
    with Notify(tmp_path, receiver.url, targets=targets, sender_give_up=0) as notify:
        outbox = Outbox(notify.outbox, [PageTarget("webhook", "x")])
        first = notify("event", "INSTANCE", "VI_0", "FAULT", "0")
        assert 0 == first.returncode, first.stderr
        [stuck] = [p for p in notify.outbox.glob("*.json") if "webhook" in p.name]
        rewrite(stuck, attempts=1024, next_attempt=0)
        receiver.requests.clear()
        result = notify("event", "INSTANCE", "VI_1", "FAULT", "0")
        assert (0, "") == (result.returncode, result.stderr)
        keys = [r["json"]["dedup_key"] for r in receiver.requests]
        assert any(":VI_1:fault" in key for key in keys), keys
        del outbox


# -- 2. a refused key keeps the page --------------------------------------------------------------


@pytest.mark.parametrize("status", ["401", "403", "404"])
def test_a_refused_key_keeps_the_page_and_says_so_loudly(
    tmp_path: Path, receiver: Receiver, status: str
) -> None:
    """A rotated key, a revoked one, a disabled integration: the page once went to dead/ and
    `flush` said "waiting 0". Now it waits, every refusal is an error line, the metrics show
    it, and once the key is fixed the page arrives."""
    with Notify(tmp_path, receiver.url, metrics=True, sender_give_up=0) as notify:
        receiver.set_mode(status)
        assert 0 == notify("event", "INSTANCE", "VI_1", "FAULT", "0").returncode
        assert (1, []) == (notify.waiting(), list((notify.outbox / DEAD).iterdir()))
        [line] = notify.lines("page refused by the pager: fix this target's key or URL; "
                              "the page is kept and retried")
        assert ("error", int(status)) == (line["level"], line["status"])
        assert 60 <= line["retry_in"] <= REJECTED_CAP
        flushed = notify("flush", "--budget", "2")
        assert 1 == flushed.returncode
        assert "refused 1 (fix the target's key or URL: see the log)" in flushed.stdout
        assert "lbnotify_outbox_rejected 1.0" in notify.metrics.read_text()
        receiver.set_mode("ok")  # the operator fixed the key
        assert (0, "sent 1, waiting 0, failed 0, dead-lettered 0\n") == (
            (done := notify("flush", "--budget", "2")).returncode, done.stdout)
        assert "lbnotify_outbox_rejected 0.0" in notify.metrics.read_text()


def test_a_refused_payload_still_goes_to_dead_letters(tmp_path: Path, receiver: Receiver) -> None:
    """Only the page's own fault is final: a 400 that does not name the key is dead."""
    outbox = Outbox(tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")])
    receiver.set_mode("400")
    report = outbox.deliver([page("VI_1")], BUDGET)
    assert (1, 0, 0) == (report.dead, report.rejected, report.waiting)


# -- 3. a target that cannot work is refused at load ---------------------------------------------


def test_a_pagerduty_target_without_its_key_is_a_config_error(tmp_path: Path) -> None:
    """It once loaded and sent `"routing_key": ""`: every page refused. Now exit 2, one line."""
    targets = '[[page.target]]\ntype = "pagerduty"\nurl = "http://127.0.0.1:9/v2/enqueue"\n'
    with Notify(tmp_path, "http://127.0.0.1:9", targets=targets) as notify:
        result = notify("event", "INSTANCE", "VI_1", "FAULT", "0")
    assert 2 == result.returncode
    assert result.stderr.startswith("lbnotify: config error: ")
    assert "type = 'pagerduty': needs routing_key" in result.stderr
    assert 1 == len(result.stderr.splitlines())


# -- 4. replies are bounded in time and bytes ----------------------------------------------------


def test_a_trickling_pager_is_cut_at_the_budget(tmp_path: Path, receiver: Receiver) -> None:
    """One byte every 0.2 s never trips a read timeout: it kept a 0.5 s hook for 45 s."""
    with Notify(tmp_path, receiver.url, budget=BUDGET, sender_give_up=0) as notify:
        receiver.set_mode("trickle")
        result, took = notify.timed("event", "INSTANCE", "VI_1", "FAULT", "0")
        assert 0 == result.returncode, result.stderr
        assert took < BUDGET + START
        assert 1 == notify.waiting()
        [event] = notify.events()
        assert event["deliver"]["ms"] < (BUDGET + SLACK) * 1000


def test_the_senders_per_request_limit_holds_against_a_trickle(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The detached sender's long budget allows each request only its attempt timeout."""
    outbox = Outbox(tmp_path / "outbox", [PageTarget("webhook", f"{receiver.url}/hook")])
    outbox.enqueue(page("VI_1"))
    receiver.set_mode("trickle")
    started = time.monotonic()
    report = outbox.flush(30.0, attempt_timeout=1.0)
    assert time.monotonic() - started < 1.0 + SLACK
    assert (0, 1) == (report.sent, report.failed)


def test_a_huge_error_body_is_not_read(tmp_path: Path, receiver: Receiver) -> None:
    """A 1 GiB error body once took 12.5 s and 3.1 GB of RSS: only its head is read now."""
    with Notify(tmp_path, receiver.url, sender_give_up=0) as notify:
        receiver.set_mode("huge")
        started = time.monotonic()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", *notify.argv(
            "event", "INSTANCE", "VI_1", "FAULT", "0")], capture_output=True, text=True,
            timeout=30, check=False)
        took = time.monotonic() - started
        assert 0 == result.returncode, result.stderr
        max_rss_kb = int(result.stderr.strip().splitlines()[-1])
        assert max_rss_kb < 150_000
        assert took < BUDGET + START
        [dead] = list((notify.outbox / DEAD).iterdir())
        assert len(json.loads(dead.read_text())["dead_reason"]) <= 300


# -- 5. credentials never reach a log line -------------------------------------------------------

TOKEN, QUERY = "XQ7fTb2LkP9sW4mZ8rV1nC3d", "hunter2hunter2"


def test_webhook_credentials_stay_out_of_logs_output_and_items(tmp_path: Path) -> None:
    """A Slack-style webhook URL is its key: the connection error quotes it, and it once
    reached the log line, `-v` output and the item's last_error. The log file is root's."""
    url = f"{refused_url()}/hooks/T0AB12CD3/B0EF45GH6/{TOKEN}?token={QUERY}"
    targets = f'[[page.target]]\ntype = "webhook"\nurl = "{url}"\n'
    with Notify(tmp_path, "unused", targets=targets, sender_give_up=0) as notify:
        quiet = notify("event", "INSTANCE", "VI_1", "FAULT", "0")
        loud = notify("-v", "event", "INSTANCE", "VI_2", "FAULT", "0")
        items = [p.read_text() for p in notify.outbox.glob("[0-9]*.json")]
        log = notify.log.read_text()
        mode = stat.S_IMODE(notify.log.stat().st_mode)
    assert (0, 0, 2) == (quiet.returncode, loud.returncode, len(items))
    assert any("last_error" in item and "ConnectionError" in item for item in items)
    assert "page delivery failed" in loud.stderr + log
    for text in (quiet.stdout, quiet.stderr, loud.stdout, loud.stderr, log, *items):
        assert TOKEN not in text
        assert QUERY not in text
    assert 0o600 == mode
