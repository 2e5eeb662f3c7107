"""`lbnotify` end to end with names and lines that garbled or lost pages (issue 16 item 6).

The installed binary, as keepalived runs it, paging the recording receiver on 127.0.0.1.
"""

from __future__ import annotations

import pytest

from tests.receiver import Receiver
from tests.support.notify import Notify

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
