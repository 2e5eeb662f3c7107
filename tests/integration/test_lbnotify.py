"""`lbnotify` as keepalived runs it: argv hooks, the notify FIFO, the outbox, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import BIN
from tests.receiver import Receiver
from tests.support.notify import FifoReader, Notify, fifo_reader


def fault_pages(receiver: Receiver) -> list[str]:
    return [r["json"]["event_action"] for r in receiver.requests
            if r["json"].get("dedup_key", "").endswith(":fault")]


def test_every_argv_form_becomes_one_logged_event(notify: Notify) -> None:
    """notify (4 args, bare or via `event`) and notify_* (state + name) are all understood."""
    assert 0 == notify("INSTANCE", "VI_1", "BACKUP", "100").returncode
    assert 0 == notify("event", "INSTANCE", "VI_1", "FAULT", "0").returncode
    assert 0 == notify("backup", "VI_1").returncode
    assert 0 == notify("event", "GROUP", "G1", "BACKUP", "0").returncode
    seen = [(e["kind"], e["instance"], e["previous"], e["state"]) for e in notify.events()]
    assert [("INSTANCE", "VI_1", None, "BACKUP"), ("INSTANCE", "VI_1", "BACKUP", "FAULT"),
            ("INSTANCE", "VI_1", "FAULT", "BACKUP"), ("GROUP", "G1", None, "BACKUP")] == seen


@pytest.mark.parametrize("argv", [
    ["INSTANCE", "VI_1", "SIDEWAYS", "100"],
    ["INSTANCE", "VI_1", "MASTER", "high"],
    ["event", "INSTANCE", "VI_1"],
    ["event", "HOST", "VI_1", "MASTER", "100"],
    ["event", "INSTANCE", "x" * 1025, "MASTER", "100"],
    ["master", "a\nb"],
    ["fifo", "/nonexistent/fifo"],
])
def test_bad_input_is_one_line_exit_2_and_logged(notify: Notify, argv: list[str]) -> None:
    """Malformed calls: exit 2, one line on stderr, never a traceback, nothing recorded."""
    result = notify(*argv)
    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines()), result.stderr
    assert "Traceback" not in result.stderr
    assert [] == notify.events()


def test_fault_pages_trigger_then_resolve(notify: Notify, receiver: Receiver) -> None:
    """FAULT triggers a critical incident; leaving FAULT resolves it, same dedup key."""
    notify("INSTANCE", "VI_1", "FAULT", "0")
    notify("INSTANCE", "VI_1", "BACKUP", "100")
    receiver.wait_for(2)
    assert ["trigger", "resolve"] == fault_pages(receiver)
    keys = {r["json"]["dedup_key"] for r in receiver.requests}
    assert 1 == len(keys)


def test_pager_down_hook_returns_within_budget_and_flush_delivers_once(
        notify: Notify, receiver: Receiver) -> None:
    """Receiver down: the hook still returns in budget, the page waits; flush sends it once."""
    receiver.down()
    result = notify("INSTANCE", "VI_1", "FAULT", "0")
    assert 0 == result.returncode
    event = notify.events()[-1]
    assert event["deliver"]["ms"] < 500 + 100
    assert 1 == notify.waiting()
    receiver.up()
    assert 0 == notify("flush").returncode  # the sender may have sent it first: either way,
    assert 0 == notify("flush").returncode  # exactly once
    assert ["trigger"] == fault_pages(receiver)
    assert 0 == notify.waiting()


@pytest.fixture
def no_sender(tmp_path: Path, receiver: Receiver) -> Iterator[Notify]:
    """Hooks that leave their pages waiting (sender_give_up = 0): what flush finds."""
    with Notify(tmp_path, receiver.url, sender_give_up=0) as hooks:
        yield hooks


def test_flush_right_after_recovery_sends_everything_now(
        no_sender: Notify, receiver: Receiver) -> None:
    """`lbnotify flush` means now: pages still backing off go out, exit 0, nothing waits."""
    receiver.down()
    for name in ("VI_1", "VI_2", "VI_3"):
        assert 0 == no_sender("INSTANCE", name, "FAULT", "0").returncode
    assert 3 == no_sender.waiting()
    receiver.up()
    result = no_sender("flush")
    assert (0, "sent 3, waiting 0, failed 0, dead-lettered 0") == (
        result.returncode, result.stdout.strip())
    assert 3 == len(fault_pages(receiver))


def test_flush_due_only_keeps_the_backoff(no_sender: Notify, receiver: Receiver) -> None:
    """--due-only (the timer) leaves a page whose retry time has not come; exit 0 for that."""
    receiver.down()
    assert 0 == no_sender("INSTANCE", "VI_1", "FAULT", "0").returncode  # retry in 1 s
    receiver.up()
    early = no_sender("flush", "--due-only")
    assert (0, "sent 0, waiting 1") == (early.returncode, early.stdout[:17])
    time.sleep(1.1)
    due = no_sender("flush", "--due-only")
    assert (0, "sent 1, waiting 0") == (due.returncode, due.stdout[:17])


def test_flush_due_only_fails_when_a_due_page_fails(no_sender: Notify,
                                                    receiver: Receiver) -> None:
    """The timer's unit turns failed when a due page fails again: the pager is still down."""
    receiver.down()
    assert 0 == no_sender("INSTANCE", "VI_1", "FAULT", "0").returncode
    time.sleep(1.1)
    result = no_sender("flush", "--due-only")
    assert (1, "sent 0, waiting 1, failed 1") == (result.returncode, result.stdout[:27])
    now = no_sender("flush")
    assert (1, "sent 0, waiting 1, failed 1") == (now.returncode, now.stdout[:27])


def test_fifty_concurrent_hooks_lose_nothing(notify: Notify, receiver: Receiver) -> None:
    """50 hooks at once for one instance: 50 events logged, pages consistent with the end state."""
    states = ["FAULT" if i % 2 else "BACKUP" for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda s: notify("INSTANCE", "VI_1", s, "100"), states))
    assert [0] * 50 == [r.returncode for r in results]
    logged = notify.events()
    assert 50 == len(logged)
    assert 0 == notify("flush").returncode
    pages = fault_pages(receiver)
    # Serialised by the lock, triggers and resolves strictly alternate, starting with a trigger.
    assert pages == ["trigger", "resolve"] * (len(pages) // 2) + ["trigger"] * (len(pages) % 2)
    # Every transition was seen: each event's `previous` is some event's state, and exactly
    # one event (the first to take the lock) saw no previous state.
    assert 1 == sum(e["previous"] is None for e in logged)


def test_secret_config_must_be_private(notify: Notify) -> None:
    """A config holding a routing key but readable by others is refused, in one line."""
    notify.config.chmod(0o644)
    result = notify("INSTANCE", "VI_1", "MASTER", "100")
    assert 2 == result.returncode
    assert "chmod 600" in result.stderr


@pytest.fixture
def fifo(notify: Notify, tmp_path: Path) -> Iterator[FifoReader]:
    with fifo_reader(notify, tmp_path / "notify.fifo") as reader:
        yield reader


def wait_for_events(notify: Notify, count: int, timeout: float) -> list[dict]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = notify.events()
        if len(events) >= count:
            return events
        time.sleep(0.05)
    return notify.events()


def test_fifo_burst_of_1000_arrives_complete_and_in_order(notify: Notify,
                                                         fifo: FifoReader) -> None:
    """1,000 events written at once are all handled, in the order keepalived wrote them."""
    lines = [f'INSTANCE "VI_{i % 7}" {"BACKUP" if i % 2 else "FAULT"} {i % 250}'
             for i in range(1000)]
    started = time.monotonic()
    fifo.write(lines)
    events = wait_for_events(notify, 1000, timeout=120)
    took = time.monotonic() - started
    assert 0 == fifo.stop()
    assert 1000 == len(events)
    assert [(f"VI_{i % 7}", i % 250) for i in range(1000)] == [
        (e["instance"], e["priority"]) for e in events]
    print(f"\nFIFO throughput: {1000 / took:.0f} events/s (1000 events, pages queued)")


def test_fifo_survives_writer_reopen_and_fifo_only_states(notify: Notify,
                                                         fifo: FifoReader) -> None:
    """keepalived reloading closes and reopens the FIFO; priority notices are understood."""
    fifo.write(['INSTANCE "VI_1" BACKUP 100'])
    wait_for_events(notify, 1, timeout=10)
    fifo.write(['INSTANCE "VI_1" BACKUP_PRIORITY 90', "garbage line", 'GROUP "G" FAULT 0'])
    events = wait_for_events(notify, 3, timeout=10)
    assert ["BACKUP", "BACKUP_PRIORITY", "FAULT"] == [e["state"] for e in events]
    rejected = [json.loads(x) for x in notify.log.read_text().splitlines()
                if '"bad_fifo_line"' in x]
    assert 1 == len(rejected)


def test_fifo_ignores_checker_lines_of_the_combined_fifo(notify: Notify,
                                                       fifo: FifoReader) -> None:
    """notify_fifo also carries VS/RS checker lines: debug lines, no bad_fifo_line, no event."""
    fifo.write(["VS [192.0.2.10]:tcp:80 UP", 'INSTANCE "VI_1" BACKUP 100',
                "RS [10.0.0.2]:tcp:8080 [192.0.2.10]:tcp:80 DOWN", 'INSTANCE "VI_1" FAULT 0'])
    events = wait_for_events(notify, 2, timeout=10)
    assert 0 == fifo.stop()
    assert ["BACKUP", "FAULT"] == [e["state"] for e in events]
    assert [] == notify.lines("bad_fifo_line")
    ignored = notify.lines("checker_fifo_line_ignored")
    assert (["debug"] * 2, "VS [192.0.2.10]:tcp:80 UP") == (
        [e["level"] for e in ignored], ignored[0]["line"])
    [stopped] = notify.lines("fifo_reader_stopped")
    assert (2, 0, 2) == (stopped["events"], stopped["rejected"], stopped["checker_lines"])


def test_fifo_keeps_reading_briefly_after_sigterm(notify: Notify, fifo: FifoReader) -> None:
    """keepalived writes STOP events as it exits: the reader catches them during its grace."""
    fifo.write(['INSTANCE "VI_1" MASTER 100'])
    wait_for_events(notify, 1, timeout=10)
    with open(fifo.path, "w") as writer:  # keepalived holds the FIFO open while stopping
        fifo.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        writer.write('INSTANCE "VI_1" STOP 100\n')
    assert 0 == fifo.proc.wait(timeout=30)
    assert ["MASTER", "STOP"] == [e["state"] for e in notify.events()]


def test_announce_skips_an_address_not_held_here(notify: Notify) -> None:
    """`lbnotify announce` never claims an address this host does not hold: skipped, exit 1."""
    result = notify("announce", "--count", "1", "192.0.2.254")
    assert 1 == result.returncode
    assert "192.0.2.254: skipped" in result.stdout
    assert "Traceback" not in result.stderr


def test_announce_rejects_garbage_in_one_line(notify: Notify) -> None:
    """A non-address is a usage problem: one line, no traceback."""
    result = notify("announce", "not-an-ip")
    assert 1 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines())
    assert "not an IPv4 or IPv6 address" in result.stderr


@pytest.mark.parametrize("target", ["syslog", "file"])
@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_a_non_utf8_instance_name_keeps_its_log_line(tmp_path: Path, target: str,
                                                     fmt: str) -> None:
    """keepalived passes names as bytes; `VI_\\xff` once lost the line ("internal error:
    UnicodeEncodeError", exit 1) with syslog, the default target. Now it is logged escaped."""
    log = tmp_path / "lbnotify.log"
    config = tmp_path / "lbcheck.toml"
    config.write_text(
        f'[log]\nformat = "{fmt}"\ntarget = "{"syslog" if target == "syslog" else log}"\n'
        f'[notify]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[page]\noutbox = "{tmp_path / "outbox"}"\n')
    result = subprocess.run([os.fsencode(BIN / "lbnotify"), b"--config", os.fsencode(config),
                             b"event", b"INSTANCE", b"VI_\xff", b"FAULT", b"0"],
                            capture_output=True, timeout=20, check=False)
    assert (0, b"") == (result.returncode, result.stderr)
    if target == "file":
        assert "VI_\\udcff" in log.read_text()
