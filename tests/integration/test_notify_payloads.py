"""`lbnotify` end to end with names and FIFO lines that garbled or lost pages (issue 16, 6).

The installed binary, as keepalived runs it, paging the recording receiver on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receiver import Receiver
from tests.support.notify import FifoReader, Notify, fifo_reader

CJK = ("負荷分散装置東京第一系統" * 11)[:128]  # 384 bytes: 81+ CJK characters broke the files
EMOJI = "🚦🔥" * 64  # 512 bytes: 57+ emoji did
ARRIVAL = 10.0  # seconds a page may take to reach the receiver (the hook's budget is 0.5 s)


def incident_pages(receiver: Receiver) -> list[tuple[str, str]]:
    """(event_action, dedup_key) of the incident pages (a key past 255 characters ends in a
    hash, not ":fault")."""
    return [(r["json"]["event_action"], r["json"]["dedup_key"]) for r in receiver.requests
            if r["path"] == "/v2/enqueue"]


@pytest.mark.parametrize("name", [CJK, EMOJI], ids=["cjk-128", "emoji-128"])
def test_fault_of_a_long_multibyte_instance_is_triggered_and_resolved(
        notify: Notify, receiver: Receiver, name: str) -> None:
    """FAULT then BACKUP for a 128-character CJK or emoji name: both hooks exit 0 and the
    trigger and its resolve (same dedup key) reach the pager ("File name too long" before)."""
    fault = notify("INSTANCE", name, "FAULT", "0")
    back = notify("INSTANCE", name, "BACKUP", "100")
    assert [(0, ""), (0, "")] == [(r.returncode, r.stderr) for r in (fault, back)]
    receiver.wait_for(2, timeout=ARRIVAL)
    pages = incident_pages(receiver)
    assert ["trigger", "resolve"] == [action for action, _ in pages]
    assert 1 == len({key for _, key in pages})
    trigger = receiver.requests[0]["json"]["payload"]
    assert (name, "critical") == (trigger["component"], trigger["severity"])
    assert [("FAULT", "BACKUP")] == [(e["previous"], e["state"]) for e in notify.events()[1:]]
    assert notify.wait_until_empty(ARRIVAL) is not None


@pytest.fixture
def reader(notify: Notify, tmp_path: Path) -> Iterator[FifoReader]:
    with fifo_reader(notify, tmp_path / "notify.fifo") as started:
        yield started


def test_a_line_cut_by_a_closing_writer_is_not_glued_to_the_next_writers(
        notify: Notify, reader: FifoReader) -> None:
    """Writer 1 closes mid-line; writer 2 writes a whole line: writer 2's event is handled and
    the fragment is reported as a bad line. Before, the two were glued into one bad line."""
    with open(reader.path, "wb") as writer:
        writer.write(b'INSTANCE "VI_1" MAST')
    # Writer 2 must open only after the reader saw writer 1's EOF: two writers open at once
    # share one stream, and no reader can tell whose bytes are whose.
    cut = notify.wait_for_lines("bad_fifo_line", timeout=5.0)
    with open(reader.path, "wb") as writer:
        writer.write(b'INSTANCE "VI_2" FAULT 0\n')
    end = time.monotonic() + 10
    while not notify.events() and time.monotonic() < end:
        time.sleep(0.05)
    assert 0 == reader.stop()
    assert [("VI_2", "FAULT")] == [(e["instance"], e["state"]) for e in notify.events()]
    assert ['INSTANCE "VI_1" MAST'] == [line["line"] for line in cut]
    assert "incomplete line" in cut[0]["reason"]
