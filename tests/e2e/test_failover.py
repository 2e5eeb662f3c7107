"""Real keepalived, real haproxy, lbcheck as vrrp_script, lbnotify on the notify FIFO.

Each scenario breaks n1 (the master, priority 150) while the client starts a GET on both VIPs
every 20 ms (open loop), and measures the client-seen outage per family. Bounds are generous
(shared, noisy machines); `bin/bench lab` prints the measured table. Targets: killed ≤ 1.2 s,
hung ≤ 2.0 s, zombie ≤ 1.2 s, backends down ≤ haproxy's detection + 1.0 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.lab.lab import Lab, outage, stop_poll
from tests.lab.topology import VIP4, VIP6, host

pytestmark = pytest.mark.e2e

BOUNDS = {"killed": 3.0, "hung": 3.5, "zombie": 3.0, "backends": 4.0, "keepalived": 6.0,
          "interface": 4.0}


def transitions(lab: Lab, node: str, since: float,
                wanted: Callable[[list[tuple[str | None, str]]], bool] = bool,
                ) -> list[tuple[str | None, str]]:
    """``node``'s (previous, state) pairs logged since ``since``, once ``wanted`` holds for
    them (bounded: lbnotify's FIFO worker logs an event after announcing it)."""
    return _transitions(lab.wait_for_log(node, lambda log: wanted(_transitions(log, since))),
                        since)


def _transitions(log: list[dict], since: float) -> list[tuple[str | None, str]]:
    from datetime import datetime

    found = []
    for entry in log:
        if entry.get("event") != "vrrp_event":
            continue
        when = datetime.fromisoformat(entry["timestamp"]).timestamp()
        if when >= since:
            found.append((entry["previous"], entry["state"]))
    return found


@pytest.mark.parametrize("fault", ["killed", "hung", "zombie", "backends", "interface",
                                   "keepalived"])
def test_failover(lab: Lab, fault: str) -> None:
    """n1 breaks: both VIPs move to n2 within bounds, alone, announced, logged in order."""
    result = lab.measure(fault)
    try:
        assert {"n1": set(), "n2": {VIP4, VIP6}} == lab.holders()
        assert result.ipv4 <= BOUNDS[fault], result
        assert result.ipv6 <= BOUNDS[fault], result
        assert abs(result.ipv4 - result.ipv6) < 1.0, result  # the families move together
        n2_mac = host("n2").mac
        assert (n2_mac, n2_mac) == (lab.neighbour_mac(VIP4), lab.neighbour_mac(VIP6))
        assert ("BACKUP", "MASTER") in transitions(
            lab, "n2", result.at, lambda seen: ("BACKUP", "MASTER") in seen)
        if fault != "keepalived":  # with keepalived gone nothing on n1 can report
            n1 = transitions(lab, "n1", result.at,
                             lambda seen: "FAULT" in [state for _, state in seen])
            assert "FAULT" in [state for _, state in n1]
    finally:
        lab.recover(fault)
    print(f"\n{fault}: client-seen outage IPv4 {result.ipv4:.2f} s, IPv6 {result.ipv6:.2f} s")


def test_one_trigger_and_one_resolve_per_fault_episode(lab: Lab) -> None:
    """A hung haproxy on n1 and its recovery page exactly once each (dedup key per instance)."""
    before = len(fault_pages(lab, "n1"))
    result = lab.measure("hung")
    lab.recover("hung")
    # The FIFO reader delivers within its budget, after the VIPs are back: wait for both.
    received = lab.wait_for_log("n1", lambda log: len(_faults(log)) >= before + 2,
                                kind="pages.jsonl")
    pages = _faults(received)[before:]
    assert ["trigger", "resolve"] == [p["action"] for p in pages], (result, pages)
    assert 1 == len({p["dedup_key"] for p in pages})


def fault_pages(lab: Lab, node: str) -> list[dict]:
    return _faults(lab.log(node, "pages.jsonl"))


def _faults(received: list[dict]) -> list[dict]:
    """The FAULT incident's pages among the requests the node's receiver recorded."""
    import json

    pages = [json.loads(r["body"]) for r in received]
    return [p for p in pages if p.get("dedup_key", "").endswith(":fault")]


def test_failback_with_preempt_is_short(lab: Lab) -> None:
    """After recovery n1 (higher priority) takes the VIPs back; the client barely notices."""
    lab.measure("killed")
    lab.restart_node("n1")
    process, out = lab.poll(40)
    at = time.time()
    try:
        lab.wait_for_master("n1", 25)
        time.sleep(1.0)
    finally:
        rows = stop_poll(process, out)
    assert outage(rows, "ipv4", at) <= 3.0
    assert outage(rows, "ipv6", at) <= 3.0
