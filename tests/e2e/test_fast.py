"""The fast profile (examples/fast/) in the lab: sub-second takeover, never VIPs nowhere.

VRRPv3, advert_int 0.1, priorities 250/249, the watcher every 0.1 s (--deadline 0.4) feeding
a weight -20 track_file, keepalived's ExecStopPost giving the VIPs up. Each scenario breaks n1
while the client starts a GET on both VIPs every 20 ms (open loop: tests/lab/poller.py).
Targets (medians, issue 13; `bin/bench lab --profile fast` measures them 10 times a cell):
killed and zombie ≤ 0.3 s, SIGSTOP ≤ 0.5 s, frozen ≤ 0.8 s, node gone ≤ 0.5 s. CI asserts
single runs against 2.5 × the target: a busy 2-core box.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import running_lab
from tests.lab.lab import Lab, LabError
from tests.lab.topology import VIP4, VIP6, host, netns

pytestmark = pytest.mark.e2e

TARGETS = {"killed": 0.3, "zombie": 0.3, "hung": 0.5, "frozen": 0.8, "interface": 0.5}
SLACK = 2.5
SOAK_SECONDS = float(os.environ.get("LBCHECK_FAST_SOAK_SECONDS", "20"))


@pytest.fixture(scope="module")
def fast_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # master-worker, as Debian runs haproxy: the reload scenario needs it, the faults too.
    with running_lab(tmp_path_factory, check="watch", haproxy="master-worker",
                     profile="fast") as lab:
        yield lab


@pytest.mark.parametrize("fault", list(TARGETS))
def test_fast_failover(fast_lab: Lab, fault: str) -> None:
    """n1 breaks: both VIPs move to n2, alone, within the slackened target."""
    if fault == "frozen":
        from tests.support.freezer import available

        if reason := available():
            pytest.skip(reason)
    result = fast_lab.measure(fault)
    try:
        assert {"n1": set(), "n2": {VIP4, VIP6}} == fast_lab.holders(), result
        assert max(result.ipv4, result.ipv6) <= SLACK * TARGETS[fault], result
    finally:
        fast_lab.recover(fault)
    print(f"\nfast {fault}: client-seen outage IPv4 {result.ipv4:.2f} s, "
          f"IPv6 {result.ipv6:.2f} s (target {TARGETS[fault]} s)")


def test_killed_keepalived_gives_its_vips_up(fast_lab: Lab) -> None:
    """`kill -9` of the master's keepalived: n1 drops its VIPs within 1 s (2 s in CI), and
    then only n2 holds them."""
    fast_lab.wait_for_master("n1", 25)
    at = time.monotonic()
    fast_lab.inject("n1", "keepalived-kill")
    released = float("inf")
    try:
        while time.monotonic() - at < 5.0:  # bounded; n1's own addresses, every 20 ms
            out = netns(host("n1").netns, "ip", "addr", "show", "dev", "eth0").stdout
            if f" {VIP4}/" not in out and f" {VIP6}/" not in out:
                released = time.monotonic() - at
                break
            time.sleep(0.02)
        fast_lab.wait_for_master("n2", 2.0)
    finally:
        fast_lab.recover("keepalived-kill")
    print(f"\nfast keepalived SIGKILL: n1 gave its VIPs up after {released:.2f} s")
    assert released <= 2.0


def test_haproxy_down_on_both_keeps_the_vips_on_one_node(fast_lab: Lab) -> None:
    """A bad deploy everywhere: both checks fail, the VIPs stay on n1 (250-20 > 249-20)."""
    fast_lab.wait_for_master("n1", 25)
    for node in ("n2", "n1"):
        fast_lab.inject(node, "killed")
    try:
        time.sleep(3.0)  # ample for any FAULT or takeover to happen at advert_int 0.1
        assert {"n1": {VIP4, VIP6}, "n2": set()} == fast_lab.holders()
    finally:
        fast_lab.restart_node("n2")
        fast_lab.restart_node("n1")
    fast_lab.wait_for_master("n1", 25)


def test_routine_day_causes_no_failover_at_the_fast_profile(fast_lab: Lab) -> None:
    """--fall 1 and 0.1 s checks still ride out reloads (twice a second) and restarts."""
    from tests.e2e.test_soak import nothing_moved, run_soak

    try:
        soak = run_soak(fast_lab, SOAK_SECONDS)
    except LabError as exc:
        pytest.fail(str(exc))
    print("\n" + soak.report())
    assert nothing_moved(soak) == soak.verdict(), soak.report()
