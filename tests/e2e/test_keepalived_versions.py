"""keepalived 2.3 (Debian trixie, sid) in the lab: the examples and lbcheck work there too.

Each node runs that suite's real keepalived package under chroot, inside the node's own mount
namespace (tests/lab/node_init.py: its mounts end with the node), with the watcher feeding
the track file from outside and lbnotify reading the notify FIFO keepalived makes. A smoke,
not the whole scenario table: the takeover and what lbnotify sees of it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import running_lab
from tests.lab.lab import Lab
from tests.lab.topology import VIP4, VIP6
from tests.support import debian_root

pytestmark = pytest.mark.e2e

SUITES = {"trixie": "2.3", "sid": "2.3"}  # the keepalived branch each suite ships
BOUND = 3.0  # s: test_failover's bound for a killed haproxy


@pytest.fixture(scope="module", params=list(SUITES))
def lab(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    suite = request.param
    try:
        root = debian_root.root(suite)
    except debian_root.RootUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run {suite}'s keepalived, but its root is unavailable: {exc}")
        pytest.skip(f"no Debian {suite} root: {exc}")
    with running_lab(tmp_path_factory, check="watch", keepalived_root=str(root)) as lab:
        yield lab


def keepalived_version(lab: Lab, node: str) -> str:
    found = re.search(r"Starting Keepalived v(\S+)",
                      (lab.workdir / node / "keepalived.log").read_text())
    return found.group(1) if found else ""


def test_the_suites_keepalived_runs_the_example(lab: Lab) -> None:
    """Both nodes run the suite's keepalived; n1 holds both VIPs, n2 none."""
    suite = next(s for s in SUITES if lab.keepalived_root and lab.keepalived_root.endswith(s))
    for node in ("n1", "n2"):
        assert keepalived_version(lab, node).startswith(SUITES[suite] + "."), node
    assert {"n1": {VIP4, VIP6}, "n2": set()} == lab.holders()


def test_a_killed_haproxy_moves_both_vips(lab: Lab) -> None:
    """The watcher's track file drives keepalived 2.3 the same way: n2 takes both families,
    alone, and lbnotify on the FIFO logs its BACKUP → MASTER."""
    result = lab.measure("killed")
    try:
        assert {"n1": set(), "n2": {VIP4, VIP6}} == lab.holders()
        assert max(result.ipv4, result.ipv6) <= BOUND, result
        # The FIFO worker logs the takeover after announcing it: wait for the line (bounded).
        n2 = takeovers(lab.wait_for_log("n2", lambda log: ("BACKUP", "MASTER") in takeovers(log)))
        assert ("BACKUP", "MASTER") in n2
    finally:
        lab.recover("killed")
    print(f"\nkeepalived {keepalived_version(lab, 'n1')}, killed: client-seen outage IPv4 "
          f"{result.ipv4:.2f} s, IPv6 {result.ipv6:.2f} s")


def takeovers(log: list[dict]) -> list[tuple[str | None, str]]:
    """(previous, state) of each VRRP event lbnotify logged."""
    return [(e.get("previous"), e["state"]) for e in log if e.get("event") == "vrrp_event"]
