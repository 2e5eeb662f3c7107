"""See the pair (issue 19): a VIP held by two nodes or by none is found and paged within
seconds; a routine day, a proxying backup and a virtual MAC page nothing.

Real keepalived pairs in the lab (tests/lab), both families. VRRP is cut with nftables in one
node's namespace (tests/lab/vrrp_block.py); the ground truth is each node's own addresses,
read every 10 ms (tests/lab/addrwatch.py), and what the segment answers is asked a second
way, independently of lbcheck (tests/lab/asker.py). Each node's FIFO reader runs the pair
watch as examples/lbcheck.toml leaves it (the defaults: a round every 2 s, 2 rounds in a row,
settle after a local transition) and pages its own receiver; both nodes key a condition by
VIP and condition only, so "one incident for the pair" is one dedup key, whichever node sends.

One lab serves the module, reconfigured between groups (Lab.configure: a fresh pair in ~5 s);
tests run in file order, grouped by configuration. The routine day is marked `routine_day`
(`-m routine_day` runs it alone; ROUTINE_MOVES shortens it while developing).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import pytest

from tests.e2e.conftest import running_lab
from tests.lab import proxy, vrrp_block
from tests.lab.addrwatch import Watch
from tests.lab.lab import PRIORITIES, Lab, LabError
from tests.lab.pages import NONE, SPLIT, VipPage, first, key, vip_pages
from tests.lab.render import BIN
from tests.lab.topology import VIP4, VIP6, host
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

T = TypeVar("T")
VIPS = (VIP4, VIP6)
MACS = {name: host(name).mac for name in ("n1", "n2")}
PAGE_WITHIN = 10.0  # s: the bound, from the condition to its first page
RESOLVE_WITHIN = 10.0  # s: from the end of the condition to its resolve
MOVE_WITHIN = 15.0  # s: a blocked backup takes over after 3 x advert_int + skew (~3.6 s)
# The second node pages too (same key), once its settle after becoming MASTER is over: what
# the defaults allow (settle + 2 rounds + a round's phase), and a margin for a busy machine.
BOTH_NODES_WITHIN = 20.0
QUIET = 7.0  # s of rounds (3+) in which nothing may be paged
ROUTINE_MOVES = int(os.environ.get("LBCHECK_ROUTINE_MOVES", "20"))
STORM_SECONDS = float(os.environ.get("LBCHECK_STORM_SECONDS", "10"))
ASKER_PAIRS = 5  # two `lbcheck vips` at once on the backup, this many times
AFTER_ROUTINE = 14.0  # s after the last move: a settle and two rounds, and delivery


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (bin/setup installs nftables)")
    with running_lab(tmp_path_factory) as lab:
        yield lab
        for name in ("n1", "n2"):  # the namespaces take their tables along; say so anyway
            vrrp_block.unblock(host(name).netns)


@pytest.fixture
def pair(lab: Lab) -> Lab:
    """examples/keepalived.conf at the conservative profile: one instance, IPv6 excluded."""
    lab.configure(variant="keepalived.conf", profile="conservative", check="lbcheck",
                  haproxy="standalone")
    lab.wait_for_master("n1", 25)
    return lab


# -- looking ---------------------------------------------------------------------------------


class Verdict(NamedTuple):
    """`lbcheck --json vips` run on a node: its exit code and each VIP's probe."""

    code: int
    vips: dict[str, dict]  # address → {"state", "reason", "metrics", "details", …}
    output: str

    def reason(self, vip: str) -> str:
        return str(self.vips.get(vip, {}).get("reason", ""))


def vips_check(lab: Lab, node: str) -> Verdict:
    """`lbcheck vips` on ``node``, inside its namespaces, with its lbcheck.toml."""
    done = lab.exec(node, str(BIN / "lbcheck"), "--config",
                    str(lab.workdir / node / "lbcheck.toml"), "--json", "vips")
    try:
        probes = json.loads(done.stdout).get("probes", [])
    except ValueError:
        probes = []
    found = {str(p["name"]).removeprefix("vip "): p for p in probes}
    return Verdict(done.returncode, found, done.stdout + done.stderr)


def until(read: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """``read()`` once ``done`` holds for it; fail the test with what was seen otherwise."""
    seen = eventually(read, done, timeout, interval=0.1)
    if not done(seen):
        pytest.fail(f"{what} within {timeout:g} s; saw: {seen}")
    return seen


def held_by(watch: Watch, wanted: dict[str, set[str]], timeout: float) -> float:
    """When the nodes' addresses became ``wanted`` (time.time() of the last change)."""
    until(lambda: {n: set(watch.now(n)) for n in watch.nodes}, lambda seen: seen == wanted,
          timeout, f"VIPs held as {wanted}")
    return max(cs[-1].at for cs in watch.changes.values() if cs)


def triggered(pages: list[VipPage]) -> set[tuple[str, str]]:
    """(node, dedup key) of every trigger."""
    return {(p.node, p.key) for p in pages if p.action == "trigger"}


def split_ends(lab: Lab, watch: Watch, since: float, unblocked_at: float,
               split: tuple[str, ...]) -> None:
    """After unblocking: every node that triggered resolves each split within the bound."""
    pages = vip_pages(lab, since)
    opened = {(p.node, p.key) for p in pages if p.action == "trigger"}
    resolved = until(lambda: vip_pages(lab, unblocked_at),
                     lambda ps: opened <= {(p.node, p.key) for p in ps
                                           if p.action == "resolve"},
                     RESOLVE_WITHIN + 5, f"resolves for {sorted(opened)}")
    for vip in split:
        page = first(resolved, "resolve", vip, SPLIT)
        assert page is not None and page.at - unblocked_at <= RESOLVE_WITHIN, (page, resolved)


# -- split brain: VRRP blocked between the nodes -----------------------------------------------


def test_vrrp_blocked_is_a_split_brain_found_on_both_nodes_and_paged_once(pair: Lab) -> None:
    """VRRP dropped in n2's namespace: both MASTER, both VIPs on both. `lbcheck vips` exits 1
    on each node naming both MACs; one incident per VIP (both nodes trigger the same key)
    within 10 s of n2 taking the VIPs; unblocking resolves it within 10 s."""
    lab, n2 = pair, host("n2").netns
    since = time.time()
    with Watch(VIPS) as watch:
        vrrp_block.block(n2)
        try:
            split_at = held_by(watch, {"n1": set(VIPS), "n2": set(VIPS)}, MOVE_WITHIN)
            answers = lab.ask(wait=0.5)  # the oracle: two holders answer for each family
            verdicts = {node: vips_check(lab, node) for node in MACS}
            pages = until(lambda: vip_pages(lab, since),
                          lambda ps: {(n, key(v, SPLIT)) for n in MACS for v in VIPS}
                          <= triggered(ps),
                          BOTH_NODES_WITHIN, "split triggers from both nodes for both VIPs")
            assert vrrp_block.dropped(n2) > 0
        finally:
            unblocked_at = time.time()
            vrrp_block.unblock(n2)
        held_by(watch, {"n1": set(VIPS), "n2": set()}, MOVE_WITHIN)
        split_ends(lab, watch, since, unblocked_at, VIPS)
    for family in ("ipv4", "ipv6"):
        assert sorted(MACS.values()) == sorted(a["mac"] for a in answers
                                               if a["family"] == family), answers
    for node, verdict in verdicts.items():
        assert verdict.code == 1, verdict.output
        for vip in VIPS:
            assert all(mac in verdict.reason(vip) for mac in MACS.values()), verdict.output
            assert verdict.vips[vip]["metrics"].get("holders") == 2, verdict.output
    assert {key(v, SPLIT) for v in VIPS} == {p.key for p in pages}, pages  # nothing else
    for vip in VIPS:
        opened = first(pages, "trigger", vip, SPLIT)
        assert opened is not None and opened.at - split_at <= PAGE_WITHIN, (split_at, pages)
        for node in MACS:  # one trigger per node: re-sent pages would be more incidents' noise
            assert len([p for p in pages if p.node == node and p.action == "trigger"
                        and p.vip == vip]) == 1, pages
    print(f"\nsplit brain: paged {min(p.at for p in pages) - split_at:.1f} s after n2 took "
          f"the VIPs; resolved {_resolved_after(lab, unblocked_at):.1f} s after unblocking")


def _resolved_after(lab: Lab, at: float) -> float:
    resolves = [p.at for p in vip_pages(lab, at) if p.action == "resolve"]
    return min(resolves) - at if resolves else float("inf")


# -- held by no node: haproxy down on both (weight 0 → FAULT on both) --------------------------


def test_haproxy_down_on_both_is_held_by_no_node_and_paged(pair: Lab) -> None:
    """A bad deploy everywhere at the conservative profile: both nodes FAULT, the VIPs on no
    node. `lbcheck vips` exits 1 naming the local FAULT; "held by no node" paged within 10 s
    for each VIP; resolved within 10 s of n1 holding them again."""
    lab = pair
    since = time.time()
    with Watch(VIPS) as watch:
        try:
            for node in ("n2", "n1"):
                lab.inject(node, "killed")
            none_at = held_by(watch, {"n1": set(), "n2": set()}, MOVE_WITHIN)
            verdicts = {node: vips_check(lab, node) for node in MACS}
            pages = until(lambda: vip_pages(lab, since),
                          lambda ps: all(first(ps, "trigger", v, NONE) for v in VIPS),
                          PAGE_WITHIN + 5, "no-holder triggers for both VIPs")
        finally:
            for node in ("n1", "n2"):
                lab.start_haproxy(node)
        held_by(watch, {"n1": set(VIPS), "n2": set()}, 25)
        # Held again from the first moment any node had it (n2 may take it before n1
        # preempts): the resolve may come before n1 is the master again.
        back_at = min(c.at for cs in watch.changes.values() for c in cs
                      if c.at > none_at and c.held)
        resolved = until(lambda: vip_pages(lab, since),
                         lambda ps: all(first(ps, "resolve", v, NONE) for v in VIPS),
                         RESOLVE_WITHIN + 5, "no-holder resolves for both VIPs")
    for node, verdict in verdicts.items():
        assert verdict.code == 1, verdict.output
        for vip in VIPS:
            assert "held by no node" in verdict.reason(vip), verdict.output
            assert "FAULT" in verdict.reason(vip), verdict.output  # this node's own state
    assert not [p for p in pages if p.condition == SPLIT], pages
    for vip in VIPS:
        opened, closed = first(pages, "trigger", vip, NONE), first(resolved, "resolve", vip, NONE)
        assert opened is not None and opened.at - none_at <= PAGE_WITHIN, (none_at, pages)
        assert closed is not None and closed.at - back_at <= RESOLVE_WITHIN, (back_at, resolved)
    print(f"\nheld by no node: paged {min(p.at for p in pages) - none_at:.1f} s after the "
          "VIPs left the last node")


# -- no false alarm: two askers on one node ----------------------------------------------------


def test_two_askers_on_one_node_count_each_holder_once(pair: Lab) -> None:
    """`lbcheck vips` run by hand (or by a monitoring agent) while the FIFO reader's round
    asks too: the holder answers both questions, both answers reach both askers on the same
    MAC — neither may count the holder twice (a split brain that is not there). The askers
    take turns; one whose turn did not come within its deadline (two others ahead of it) says
    it cannot tell, which is honest — but never a count of 2, and most runs do count."""
    lab = pair
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = [v for _ in range(ASKER_PAIRS)
                    for v in pool.map(lambda _: vips_check(lab, "n2"), range(2))]
    counted = [v for v in verdicts if v.code != 3]
    waited = [v for v in verdicts if v.code == 3]
    assert all(v.code == 0 and {vip: p["metrics"].get("holders") for vip, p in v.vips.items()}
               == {VIP4: 1, VIP6: 1} for v in counted), [v.output for v in counted]
    assert all("another asker on this host" in p["reason"] for v in waited
               for p in v.vips.values()), [v.output for v in waited]
    assert len(counted) > len(verdicts) // 2, [v.output for v in verdicts]


# -- no false alarm: a proxying backup ---------------------------------------------------------


def test_proxy_arp_on_the_backup_is_not_a_holder(pair: Lab) -> None:
    """n2 proxies ARP and NDP for the VIPs (it answers an ordinary resolution with its MAC):
    `lbcheck vips` exits 0 on both nodes and nothing is paged."""
    lab = pair
    n2 = host("n2")
    proxy.start(n2.netns, VIP4, VIP6)
    try:
        resolution = lab.ask(sender=host("c").v4, wait=1.2)  # proxy_delay: up to 0.8 s
        probe = lab.ask(wait=1.2)
        since = time.time()
        seen = eventually(lambda: vip_pages(lab, since), bool, QUIET)
        verdicts = {node: vips_check(lab, node) for node in MACS}
    finally:
        proxy.stop(n2.netns)
    # The proxy is live: n2 answers a resolution of the IPv4 VIP, and a DAD solicitation for
    # the IPv6 one with Override clear; the RFC 5227 probe only n1 answers.
    assert {"family": "ipv4", "mac": n2.mac} in _plain(resolution), resolution
    assert {"family": "ipv6", "mac": n2.mac, "override": False} in _plain(probe), probe
    assert [n1 for n1 in _plain(probe) if n1["family"] == "ipv4"] == [
        {"family": "ipv4", "mac": MACS["n1"]}], probe
    assert [] == seen
    for verdict in verdicts.values():
        assert (verdict.code, {v: p["state"] for v, p in verdict.vips.items()}) == (
            0, {VIP4: "OK", VIP6: "OK"}), verdict.output


def _plain(answers: list[dict]) -> list[dict]:
    return [{k: v for k, v in a.items() if k != "after"} for a in answers]


# -- one IPv4 and one IPv6 instance, no sync group: IPv6 adverts blocked -----------------------


def test_per_family_instances_with_ipv6_adverts_blocked_split_ipv6_only(lab: Lab) -> None:
    """The no-sync-group configuration (VI_4 over IPv4, VI_6 VRRPv3 over IPv6): with only
    IPv6's VRRP dropped, VI_6 is MASTER on both and the IPv6 VIP on both nodes (keepalived adds
    it `nodad`: the kernel's DAD never notices). Found on both nodes, paged once; the IPv4 VIP
    stays held once and pages nothing."""
    lab.configure(variant="keepalived-no-sync-group.conf", profile="conservative",
                  check="lbcheck", haproxy="standalone")
    lab.wait_for_master("n1", 25)
    n2 = host("n2").netns
    since = time.time()
    with Watch(VIPS) as watch:
        vrrp_block.block(n2, "ipv6")
        try:
            split_at = held_by(watch, {"n1": set(VIPS), "n2": {VIP6}}, MOVE_WITHIN)
            verdicts = {node: vips_check(lab, node) for node in MACS}
            pages = until(lambda: vip_pages(lab, since),
                          lambda ps: first(ps, "trigger", VIP6, SPLIT) is not None,
                          PAGE_WITHIN + 5, "a split trigger for the IPv6 VIP")
        finally:
            unblocked_at = time.time()
            vrrp_block.unblock(n2)
        held_by(watch, {"n1": set(VIPS), "n2": set()}, MOVE_WITHIN)
        split_ends(lab, watch, since, unblocked_at, (VIP6,))
    for verdict in verdicts.values():
        assert verdict.code == 1, verdict.output
        assert all(mac in verdict.reason(VIP6) for mac in MACS.values()), verdict.output
        assert verdict.vips[VIP4]["state"] == "OK", verdict.output
    opened = first(pages, "trigger", VIP6, SPLIT)
    assert opened is not None and opened.at - split_at <= PAGE_WITHIN, (split_at, pages)
    assert [] == [p for p in vip_pages(lab, since) if p.vip == VIP4]


# -- no false alarm: use_vmac (both masters answer from 00:00:5e:00:01:33) ---------------------


VMAC = "00:00:5e:00:01:33"  # virtual_router_id 51


def test_use_vmac_pair_pages_nothing(lab: Lab) -> None:
    """A use_vmac pair (the IPv4 VIP on vrrp.51, answering from the virtual MAC): `lbcheck
    vips` exits 0 on both nodes, and nothing is paged."""
    lab.configure(variant="keepalived-use-vmac.conf", profile="conservative",
                  check="lbcheck", haproxy="standalone")
    lab.wait_for_master("n1", 25)
    since = time.time()
    answers = lab.ask(wait=0.5)
    verdicts = {node: vips_check(lab, node) for node in MACS}
    seen = eventually(lambda: vip_pages(lab, since), bool, QUIET)
    assert {"family": "ipv4", "mac": VMAC} in _plain(answers), answers
    for verdict in verdicts.values():
        assert (verdict.code, {v: p["state"] for v, p in verdict.vips.items()}) == (
            0, {VIP4: "OK", VIP6: "OK"}), verdict.output
    assert [] == seen


def test_use_vmac_split_brain_counts_replies_not_macs(lab: Lab) -> None:
    """Split, both masters answer for the IPv4 VIP from the same virtual MAC: still two
    holders, found and paged."""
    lab.configure(variant="keepalived-use-vmac.conf", profile="conservative",
                  check="lbcheck", haproxy="standalone")
    lab.wait_for_master("n1", 25)
    n2 = host("n2").netns
    since = time.time()
    with Watch(VIPS) as watch:
        vrrp_block.block(n2)
        try:
            split_at = held_by(watch, {"n1": set(VIPS), "n2": set(VIPS)}, MOVE_WITHIN)
            verdicts = {node: vips_check(lab, node) for node in MACS}
            pages = until(lambda: vip_pages(lab, since),
                          lambda ps: first(ps, "trigger", VIP4, SPLIT) is not None,
                          PAGE_WITHIN + 5, "a split trigger for the IPv4 VIP")
        finally:
            unblocked_at = time.time()
            vrrp_block.unblock(n2)
        held_by(watch, {"n1": set(VIPS), "n2": set()}, MOVE_WITHIN)
        split_ends(lab, watch, since, unblocked_at, (VIP4,))
    for verdict in verdicts.values():
        assert verdict.code == 1, verdict.output
        assert verdict.vips[VIP4]["metrics"].get("holders") == 2, verdict.output
    opened = first(pages, "trigger", VIP4, SPLIT)
    assert opened is not None and opened.at - split_at <= PAGE_WITHIN, (split_at, pages)


# -- the routine day: planned moves, a reload storm, 0.1 s adverts -----------------------------


@pytest.fixture
def fast_pair(lab: Lab) -> Lab:
    """examples/fast/: VRRPv3, advert_int 0.1, 250/249, the watcher, haproxy as Debian runs
    it (master-worker: the reload storm needs it)."""
    lab.configure(variant="keepalived.conf", profile="fast", check="watch",
                  haproxy="master-worker")
    lab.wait_for_master("n1", 25)
    return lab


class Move(NamedTuple):
    label: str
    act: Callable[[Lab], object]
    master: str  # who holds the VIPs alone after it
    moves: int = 1  # failovers and fail-backs it makes: a keepalived restart is both


def routine_moves(profile: str, count: int) -> list[Move]:
    """At least ``count`` planned failovers and fail-backs, whole cycles only (n1 is the
    master again at its own priority after the last): haproxy killed and started again,
    keepalived restarted (away and back), the priority lowered and restored."""
    low, high = PRIORITIES[profile]["n2"] - 10, PRIORITIES[profile]["n1"]
    cycles = [
        [Move("haproxy killed on n1", lambda lab: lab.inject("n1", "killed"), "n2"),
         Move("haproxy started on n1", lambda lab: lab.start_haproxy("n1"), "n1")],
        [Move("keepalived restarted on n1", lambda lab: lab.restart_keepalived("n1"), "n1",
              2)],
        [Move(f"n1 priority {low}", lambda lab: lab.set_priority("n1", low), "n2"),
         Move(f"n1 priority {high}", lambda lab: lab.set_priority("n1", high), "n1")],
    ]
    moves: list[Move] = []
    for cycle in itertools.cycle(cycles):
        if sum(m.moves for m in moves) >= count:
            return moves
        moves += cycle
    raise AssertionError("unreachable: itertools.cycle never ends")


@pytest.mark.routine_day
def test_routine_day_pages_no_split_and_no_holder(fast_pair: Lab) -> None:
    """A reload storm (haproxy twice a second, a keepalived reload, watcher restarts), then 20
    planned failovers and fail-backs (a keepalived restart counts twice) at random spacing —
    so the watch's rounds meet every phase of a move — at 0.1 s adverts: no split, no
    no-holder page, on either node."""
    from tests.e2e.test_soak import run_soak

    lab = fast_pair
    since = time.time()
    soak = run_soak(lab, STORM_SECONDS)
    rng = random.Random(19)
    done: list[Move] = []
    for move in routine_moves(lab.profile, ROUTINE_MOVES):
        time.sleep(rng.uniform(0.2, 2.0))
        move.act(lab)
        try:
            lab.wait_for_master(move.master, MOVE_WITHIN)
        except LabError as exc:
            pytest.fail(f"{move.label}: {exc} (after {[m.label for m in done]})")
        done.append(move)
    seen = eventually(lambda: vip_pages(lab, since), bool, AFTER_ROUTINE)
    assert (soak.done, soak.action_errors) == (soak.planned, []), soak.report()
    assert [] == seen, soak.report()
    print(f"\nroutine day: {sum(m.moves for m in done)} failovers and fail-backs after a "
          f"{STORM_SECONDS:g} s reload storm, "
          f"{time.time() - since:.0f} s: no split or no-holder page")


@pytest.mark.routine_day
def test_after_the_routine_day_a_real_split_is_still_paged(fast_pair: Lab) -> None:
    """The same watch, after the routine day, still pages a real split: no vacuous pass."""
    lab, n2 = fast_pair, host("n2").netns
    since = time.time()
    with Watch(VIPS) as watch:
        vrrp_block.block(n2)
        try:
            split_at = held_by(watch, {"n1": set(VIPS), "n2": set(VIPS)}, MOVE_WITHIN)
            pages = until(lambda: vip_pages(lab, since),
                          lambda ps: all(first(ps, "trigger", v, SPLIT) for v in VIPS),
                          PAGE_WITHIN + 5, "split triggers for both VIPs")
        finally:
            unblocked_at = time.time()
            vrrp_block.unblock(n2)
        held_by(watch, {"n1": set(VIPS), "n2": set()}, MOVE_WITHIN)
        split_ends(lab, watch, since, unblocked_at, VIPS)
    for vip in VIPS:
        opened = first(pages, "trigger", vip, SPLIT)
        assert opened is not None and opened.at - split_at <= PAGE_WITHIN, (split_at, pages)
