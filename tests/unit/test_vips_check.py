"""`lbcheck vips` without a network: the verdict on who answered, and the VIP list it asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbcheck.checks.vips import judge
from lbcheck.keepalived_conf import parse_text
from lbcheck.keepalived_conf.vips import Vip, all_vips
from lbcheck.link.holders import Holders
from lbcheck.outcome import State

HERE, PEER, OTHER = "02:00:00:00:01:11", "02:00:00:00:01:12", "02:00:00:00:01:13"
VMAC = "00:00:5e:00:01:33"
RECORDED = {"VI_1": "BACKUP", "VI_2": "FAULT"}


def held(local: bool = False, *remote: str, error: str | None = None,
         proxied: tuple[str, ...] = (), local_mac: str = HERE) -> Holders:
    return Holders("192.0.2.10", "eth0", local, remote, error, proxied,
                   local_mac if local else "")


def verdict(holders: Holders, instances: tuple[str, ...] = ("VI_1",)) -> tuple[State, str]:
    sample = judge(holders, instances, RECORDED.get)
    return sample.state, sample.reason


@pytest.mark.parametrize(("holders", "expected"), [
    (held(True), (State.OK, f"held by 1: here ({HERE})")),
    (held(True, local_mac=""), (State.OK, "held by 1: here")),
    (held(False, PEER), (State.OK, f"held by 1: {PEER}")),
    (held(True, PEER),
     (State.CRITICAL, f"held by 2: here ({HERE}) and {PEER} (split brain)")),
    (held(False, PEER, OTHER), (State.CRITICAL, f"held by 2: {PEER} and {OTHER} (split brain)")),
    (held(True, PEER, OTHER),
     (State.CRITICAL, f"held by 3: here ({HERE}), {PEER} and {OTHER} (split brain)")),
    # use_vmac: two masters, one virtual MAC — replies are counted, not MACs.
    (held(False, VMAC, VMAC), (State.CRITICAL, f"held by 2: {VMAC} and {VMAC} (split brain)")),
    (held(), (State.CRITICAL, "held by no node (here: VI_1 BACKUP)")),
])
def test_verdicts(holders: Holders, expected: tuple[State, str]) -> None:
    assert expected == verdict(holders)


def test_no_holder_names_every_instance_listing_the_vip_and_says_what_is_unknown() -> None:
    reason = "held by no node (here: VI_1 BACKUP, VI_2 FAULT, VI_3 state unknown)"
    assert (State.CRITICAL, reason) == verdict(held(), ("VI_1", "VI_2", "VI_3"))


def test_an_error_is_could_not_tell_even_when_held_here() -> None:
    """Without the segment's answer one holder is a guess: UNKNOWN, and no holder metric."""
    sample = judge(held(True, error="asking the link needs CAP_NET_RAW"), ("VI_1",),
                   RECORDED.get)

    assert (State.UNKNOWN, "cannot tell: asking the link needs CAP_NET_RAW") == (
        sample.state, sample.reason)
    assert () == sample.metrics
    assert "it is on this node's interface" in sample.details


def test_a_proxy_is_said_in_the_details_not_counted() -> None:
    sample = judge(held(False, PEER, proxied=(OTHER,)), ("VI_1",), RECORDED.get)

    assert (State.OK, (("holders", 1),)) == (sample.state, sample.metrics)
    assert (f"answered by proxy (Override clear, not a holder): {OTHER}"
            in sample.details)


def test_the_sample_is_named_by_the_vip_and_says_its_instance_and_interface() -> None:
    sample = judge(held(True), ("VI_1",), RECORDED.get, 3.5, ["a note"])

    assert ("vip 192.0.2.10", 3.5) == (sample.probe, sample.elapsed_ms)
    assert ("instance VI_1 on eth0", "a note") == sample.details


CONF = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_ipaddress {
        192.0.2.10/24
        192.0.2.11/24 dev eth1 label eth1:0
        2001:db8:1::10/64
        not-an-address
    }
    virtual_ipaddress_excluded {
        2001:db8:1::11/64
        2001:db8:1::12/64 dev eth2
    }
}
vrrp_instance VI_6 {
    interface eth0
    native_ipv6
    virtual_ipaddress {
        2001:db8:1::60/64
    }
}
vrrp_instance VI_NOWHERE {
    virtual_ipaddress {
        192.0.2.99
    }
}
vrrp_instance VI_EMPTY {
    interface eth0
}
"""


def test_all_vips_reads_both_lists_as_keepalived_does() -> None:
    """dev wins over the instance's interface; the other family's virtual_ipaddress entries
    (which keepalived drops) and what is not an address are left out; "" for no interface."""
    assert [
        Vip("VI_1", "192.0.2.10", "eth0"),
        Vip("VI_1", "192.0.2.11", "eth1"),
        Vip("VI_1", "2001:db8:1::11", "eth0"),
        Vip("VI_1", "2001:db8:1::12", "eth2"),
        Vip("VI_6", "2001:db8:1::60", "eth0"),
        Vip("VI_NOWHERE", "192.0.2.99", ""),
    ] == all_vips(parse_text(CONF, tolerant=True))


def test_lbnotify_announces_the_same_list(tmp_path: Path) -> None:
    """notify/vips.py reads through all_vips: an instance's VIPs, no interface → anywhere."""
    from lbcheck.notify.vips import instance_vips

    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF)

    assert [("192.0.2.10", "eth0"), ("192.0.2.11", "eth1"), ("2001:db8:1::11", "eth0"),
            ("2001:db8:1::12", "eth2")] == instance_vips(str(conf), "VI_1").addresses
    assert [("192.0.2.99", None)] == instance_vips(str(conf), "VI_NOWHERE").addresses
