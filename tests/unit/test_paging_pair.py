"""The pair watch's pages: one incident per VIP and condition for the whole pair, texts that
lead with the condition and name the holders, and each pager's request for them."""

from __future__ import annotations

import json
from pathlib import Path

from lbcheck.config import PageTarget
from lbcheck.notify.paging.outbox import Outbox, read_item
from lbcheck.notify.paging.pair import (
    NO_HOLDER,
    NONE,
    SPLIT,
    SPLIT_BRAIN,
    Holding,
    resend,
    resolve,
    trigger,
    vip_key,
)
from lbcheck.notify.paging.policy import CRITICAL, RESOLVE, TRIGGER, VIP, Page
from lbcheck.notify.paging.providers import FIRING_HOLD, render

ADDRESS, IF = "192.0.2.10", "eth0"
MAC1, MAC2 = "02:00:00:00:01:11", "02:00:00:00:01:12"
SPLIT_HERE = Holding(2, local=True, local_mac=MAC1, remote=(MAC2,))
AM = PageTarget("alertmanager", "http://am.example:9093")
PD = PageTarget("pagerduty", "http://127.0.0.1:9/v2/enqueue", routing_key="R" * 32)


def test_the_dedup_key_is_the_vip_and_the_condition_the_same_from_either_node() -> None:
    one = trigger(SPLIT, ADDRESS, IF, "lb1", SPLIT_HERE, 1000.0)
    other = trigger(SPLIT, ADDRESS, "ens3", "lb2", Holding(2, True, MAC2, (MAC1,)), 1001.0)
    assert one.dedup_key == other.dedup_key == vip_key(ADDRESS, SPLIT)
    assert "lb1" not in one.dedup_key and "lb2" not in other.dedup_key
    assert vip_key(ADDRESS, SPLIT) != vip_key(ADDRESS, NONE) != vip_key("192.0.2.11", NONE)
    gone = resolve(SPLIT, ADDRESS, IF, "lb2", None, 2000.0)
    assert (one.dedup_key, RESOLVE, CRITICAL) == (gone.dedup_key, gone.action, gone.severity)
    assert one.dedup_key == resend(SPLIT, ADDRESS, IF, "lb1", 1000.0).dedup_key


def test_a_split_brain_page_names_each_holder_and_which_is_this_node() -> None:
    page = trigger(SPLIT, ADDRESS, IF, "lb1", SPLIT_HERE, 1000.0)
    assert (f"SPLIT BRAIN: VIP {ADDRESS} on {IF} held by 2 nodes: {MAC1} (lb1: this node), "
            f"{MAC2}") == page.summary
    assert (TRIGGER, CRITICAL, VIP, ADDRESS, SPLIT_BRAIN) == (
        page.action, page.severity, page.kind, page.name, page.state)
    assert not page.informational


def test_a_split_brain_between_two_others_says_this_node_is_not_one() -> None:
    page = trigger(SPLIT, ADDRESS, IF, "lb1", Holding(2, remote=(MAC2, MAC1)), 1000.0)
    assert page.summary.endswith(f"held by 2 nodes: {MAC2}, {MAC1} (not lb1)")


def test_use_vmac_masters_answer_from_one_mac_and_still_count_twice() -> None:
    vmac = "00:00:5e:00:01:33"
    page = trigger(SPLIT, ADDRESS, IF, "lb1", Holding(2, True, None, (vmac,)), 1000.0)
    assert page.summary.endswith(f"held by 2 nodes: lb1 (this node), {vmac}")
    three = trigger(SPLIT, ADDRESS, IF, "lb1", Holding(3, remote=(vmac,) * 3), 1000.0)
    assert f"held by 3 nodes: {vmac}, {vmac}, {vmac}" in three.summary


def test_a_vip_on_no_node_names_this_nodes_instance_states() -> None:
    page = trigger(NONE, ADDRESS, IF, "lb1", Holding(0, local_states=(("VI_1", "FAULT"),)),
                   1000.0)
    assert f"NO HOLDER: VIP {ADDRESS} on {IF} held by no node (on lb1: VI_1 FAULT)" == (
        page.summary)
    assert NO_HOLDER == page.state
    unknown = trigger(NONE, ADDRESS, IF, "lb1", Holding(0, local_states=(("VI_1", None),)),
                      1000.0)
    assert unknown.summary.endswith("(on lb1: VI_1 state not known)")


def test_resolves_say_what_is_over_and_how_it_stands_now() -> None:
    assert (f"RESOLVED: VIP {ADDRESS} on {IF} split brain over: now held by 1 node (seen "
            "from lb1)") == resolve(SPLIT, ADDRESS, IF, "lb1", Holding(1), 2000.0).summary
    assert resolve(NONE, ADDRESS, IF, "lb1", Holding(1), 2000.0).summary.startswith(
        f"RESOLVED: VIP {ADDRESS} on {IF} held by a node again")
    turned = resolve(SPLIT, ADDRESS, IF, "lb1", Holding(0), 2000.0)
    assert "now held by no node" in turned.summary
    assert (f"RESOLVED: VIP {ADDRESS} on {IF} is no longer in keepalived.conf on lb1: split "
            "brain no longer watched") == resolve(SPLIT, ADDRESS, IF, "lb1", None, 0).summary


def test_a_resend_starts_when_the_incident_did() -> None:
    page = resend(NONE, ADDRESS, IF, "lb1", 1000.0)
    assert (TRIGGER, 1000.0) == (page.action, page.at)
    assert page.summary.startswith(f"NO HOLDER: VIP {ADDRESS} on {IF} (still")


def test_details_say_vip_and_condition_not_instance() -> None:
    details = trigger(SPLIT, ADDRESS, IF, "lb1", SPLIT_HERE, 1000.0).details()
    assert {"router": "lb1", "kind": VIP, "vip": ADDRESS, "condition": SPLIT_BRAIN} == details


def test_alertmanager_fires_one_alert_for_the_pair_and_either_node_resolves_it() -> None:
    """No router label: lb1's trigger and lb2's are the same alert; endsAt is kept ahead of
    the sending like a FAULT's, and a resolve ends it at once."""
    one = render(trigger(SPLIT, ADDRESS, IF, "lb1", SPLIT_HERE, 1000.0), AM).body
    two = render(trigger(SPLIT, ADDRESS, IF, "lb2", Holding(2, True, MAC2, (MAC1,)), 1001.0),
                 AM).body
    assert isinstance(one, list) and isinstance(two, list)
    assert {"alertname": "VIPSplitBrain", "vip": ADDRESS, "severity": "critical"} == (
        one[0]["labels"] == two[0]["labels"] and one[0]["labels"])
    none = render(trigger(NONE, ADDRESS, IF, "lb1", Holding(0), 1000.0), AM).body
    assert isinstance(none, list) and "VIPNoHolder" == none[0]["labels"]["alertname"]
    [closed] = render(resolve(SPLIT, ADDRESS, IF, "lb2", Holding(1), 2000.0), AM).body
    assert one[0]["labels"] == closed["labels"]
    assert closed["startsAt"] == closed["endsAt"] == "1970-01-01T00:33:20.000Z"
    [firing] = render(resend(SPLIT, ADDRESS, IF, "lb1", 1000.0), AM).body
    assert "1970-01-01T00:16:40.000Z" == firing["startsAt"]
    assert FIRING_HOLD <= 300.0


def test_pagerduty_opens_an_incident_not_a_change_event() -> None:
    page = trigger(SPLIT, ADDRESS, IF, "lb1", SPLIT_HERE, 1000.0)
    request = render(page, PD)
    assert request.url.endswith("/v2/enqueue")
    assert isinstance(request.body, dict)
    assert ("trigger", page.dedup_key, "critical", ADDRESS, "vip") == (
        request.body["event_action"], request.body["dedup_key"],
        request.body["payload"]["severity"], request.body["payload"]["component"],
        request.body["payload"]["group"])


def test_vip_pages_survive_the_outbox_round_trip(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox", [AM])
    page = trigger(SPLIT, ADDRESS, IF, "lb1", SPLIT_HERE, 1000.0)
    [path] = outbox.enqueue(page)
    _, again = read_item(path)
    assert page == again == Page.from_dict(json.loads(path.read_text())["page"])
