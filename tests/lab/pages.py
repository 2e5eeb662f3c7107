"""The pair watch's pages as the nodes' receivers recorded them (tests/receiver.py).

Each node pages its own receiver (127.0.0.1 in its namespace, the lab's webhook target), so a
page "for the pair" is seen once per node that sent it. Both nodes key a condition by the VIP
and the condition only (`lbcheck:vip:ADDRESS:split|none`): a pager opens one incident for
the pair however many of its nodes trigger it.
"""

from __future__ import annotations

from typing import NamedTuple

from tests.lab.lab import PRIORITY, Lab

PREFIX = "lbcheck:vip:"
SPLIT, NONE = "split", "none"


class VipPage(NamedTuple):
    node: str  # whose receiver got it (the node that sent it)
    at: float  # when it arrived (time.time())
    action: str  # trigger | resolve
    vip: str
    condition: str  # split | none
    summary: str

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.vip}:{self.condition}"


def key(vip: str, condition: str) -> str:
    return f"{PREFIX}{vip}:{condition}"


def vip_pages(lab: Lab, since: float = 0.0) -> list[VipPage]:
    """Every split / no-holder page either node's receiver got at or after ``since``."""
    found = []
    for node in PRIORITY:
        for request in lab.log(node, "pages.jsonl"):
            body = request.get("json") or {}
            dedup = str(body.get("dedup_key", ""))
            if not dedup.startswith(PREFIX) or request.get("at", 0.0) < since:
                continue
            vip, _, condition = dedup.removeprefix(PREFIX).rpartition(":")
            found.append(VipPage(node, request["at"], str(body.get("action")), vip, condition,
                                 str(body.get("summary", ""))))
    return sorted(found, key=lambda p: p.at)


def first(pages: list[VipPage], action: str, vip: str, condition: str) -> VipPage | None:
    return next((p for p in pages if (p.action, p.vip, p.condition) == (action, vip, condition)),
                None)
