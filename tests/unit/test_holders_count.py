"""How answers become holders: a host's MAC is one host, a VRRP virtual MAC may be two."""

from __future__ import annotations

from lbcheck.link.holders import _count

HOST = "02:00:00:00:01:12"
VMAC4 = "00:00:5e:00:01:33"  # keepalived use_vmac, VRID 51
VMAC6 = "00:00:5e:00:02:33"


def test_a_hosts_mac_counts_once_however_many_answers() -> None:
    """Two answers from one host's MAC (another asker on our host, a duplicated frame) are
    one holder: counting them twice would page a split brain on a healthy pair."""
    seen: list[str] = []
    for mac in (HOST, HOST, "02:00:00:00:01:13", HOST):
        _count(seen, mac)
    assert [HOST, "02:00:00:00:01:13"] == seen


def test_each_answer_from_a_vrrp_virtual_mac_counts() -> None:
    """use_vmac: two masters answer from one virtual MAC; only the count of answers tells."""
    for vmac in (VMAC4, VMAC6):
        seen: list[str] = []
        _count(seen, vmac)
        _count(seen, vmac)
        assert [vmac, vmac] == seen
