"""Pairs `lbcheck init` writes, proven in the lab (issue 22, point 5).

Each variant is generated through lbcheck.init's API from the lab's own addresses
(tests/lab/render.py: Generated), then run as the examples are: real keepalived and haproxy,
this checkout's lbcheck and lbnotify. Each meets the fault table on n1 — haproxy killed,
haproxy hung, n1 gone (link down) — and haproxy down on both nodes. The families move
together and only to n2, within the profile's figures; with both checks failing the
weighted pair keeps its VIPs on exactly one node (n1: 150-60 > 100-60, 250-20 > 249-20).

One lab for the module, configured afresh once per variant (tests run in file order, grouped
by variant) and reused across its faults.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import lab_or_skip
from tests.lab.lab import Lab
from tests.lab.render import Generated
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

VARIANTS = {
    "dual-multicast-conservative": Generated((4, 6), "conservative", unicast=False),
    "dual-unicast-fast": Generated((4, 6), "fast", unicast=True),
    "ipv4-conservative": Generated((4,), "conservative", unicast=False),
    "ipv6-fast": Generated((6,), "fast", unicast=True),
}
FAULTS = ("killed", "hung", "interface", "both-down")
CASES = [(variant, fault) for variant in VARIANTS for fault in FAULTS]
# Client-seen outage bounds per profile (s). Conservative: a failed check weighs 150 down to
# 90 and n2 takes over when n1's adverts stop winning, 3 x advert_int + skew (~3.6 s), as does
# a node gone; fast: 3 x 0.1 s + skew after the watcher's verdict.
BOUNDS = {"conservative": 6.0, "fast": 2.0}
# How long both nodes' checks failing is watched for a move: longer than a check's verdict
# plus a takeover at the profile's timing.
BOTH_DOWN_WATCH = {"conservative": 5.0, "fast": 2.0}
PRIORITY_CHANGE = re.compile(r"Changing effective priority from (\d+) to (\d+)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab_or_skip()
    lab = Lab(Path(tmp_path_factory.mktemp("lab")))  # up once configured with a variant
    try:
        yield lab
    finally:
        lab.down()


@pytest.mark.parametrize("variant, fault", CASES)
def test_generated_pair_through_the_fault_table(lab: Lab, variant: str, fault: str) -> None:
    pair = VARIANTS[variant]
    lab.configure(generated=pair)
    lab.wait_for_master("n1", 25)
    if fault == "both-down":
        both_down(lab, pair)
        return
    result = lab.measure(fault)
    try:
        assert {"n1": set(), "n2": set(pair.vips)} == lab.holders(), result
        outages = result.outages()
        assert len(outages) == len(pair.families), result
        assert max(outages.values()) <= BOUNDS[pair.profile], result
        if len(outages) == 2:  # the families move together
            assert abs(result.ipv4 - result.ipv6) < 1.0, result
    finally:
        lab.recover(fault)  # n1 takes the VIPs back (preempt) within its bound
    print(f"\n{pair.label}, {fault}: client-seen outage "
          + ", ".join(f"{f} {o:.2f} s" for f, o in outages.items()))


def both_down(lab: Lab, pair: Generated) -> None:
    """haproxy killed on both nodes: both checks fail, the VIPs stay on n1 alone (the higher
    node after both weights), watched for a while; haproxy back, n1 still the master."""
    expected = {"n1": set(pair.vips), "n2": set()}
    for node in ("n2", "n1"):
        lab.inject(node, "killed")
    try:
        # A bounded wait for the VIPs to leave n1 or reach n2: there must be none.
        seen = eventually(lab.holders, lambda held: held != expected,
                          BOTH_DOWN_WATCH[pair.profile], interval=0.1)
        failed = {node: check_failed(lab, node) for node in ("n1", "n2")}
    finally:
        for node in ("n1", "n2"):
            lab.start_haproxy(node)
    assert expected == seen
    assert {"n1": True, "n2": True} == failed  # the checks did fail: no vacuous pass
    lab.wait_for_master("n1", 25)
    print(f"\n{pair.label}, haproxy down on both: the VIPs stayed on n1 alone for "
          f"{BOTH_DOWN_WATCH[pair.profile]:g} s")


def check_failed(lab: Lab, node: str) -> bool:
    """Whether keepalived on ``node`` runs at its failed-check priority: its last "Changing
    effective priority from A to B" lowered it (a vrrp_script and a track_file alike)."""
    log = (lab.workdir / node / "keepalived.log").read_text(errors="replace")
    changes = PRIORITY_CHANGE.findall(log)
    return bool(changes) and int(changes[-1][1]) < int(changes[-1][0])
