"""The gratuitous ARP and unsolicited NA frames, byte by byte (no root, no network)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbcheck.link.frames import gratuitous_arp, neighbor_advertisement, unsolicited_na
from lbcheck.notify.announce import bursts
from lbcheck.notify.announce.bursts import AnnounceError, AnnounceResult, parse_addresses
from tests.support.checksum import ipv6_addresses, macs, ones_complement_sum, pseudo_header

MAC = bytes.fromhex("020000000001")
VIP4 = ipaddress.IPv4Address("192.0.2.100")
VIP6 = ipaddress.IPv6Address("2001:db8:1::100")
ALL_NODES = ipaddress.IPv6Address("ff02::1")

def test_gratuitous_arp_is_a_broadcast_request_for_the_vip_from_our_mac() -> None:
    """IPv4: what keepalived sends — ARP request, broadcast, sender IP = target IP = VIP."""
    expected = bytes.fromhex(
        "ffffffffffff"  # Ethernet destination: broadcast
        "020000000001"  # Ethernet source: the interface MAC
        "0806"  # EtherType ARP
        "0001"  # hardware type Ethernet
        "0800"  # protocol type IPv4
        "06" "04"  # hardware / protocol address lengths
        "0001"  # operation: request
        "020000000001"  # sender hardware address: the interface MAC
        "c0000264"  # sender protocol address: 192.0.2.100
        "ffffffffffff"  # target hardware address: broadcast, as keepalived
        "c0000264"  # target protocol address: 192.0.2.100 again
    )

    assert expected == gratuitous_arp(MAC, VIP4)


def test_unsolicited_na_has_the_rfc_4861_layout_and_a_valid_checksum() -> None:
    """IPv6: NA from the VIP to ff02::1 via 33:33:00:00:00:01, hop limit 255, O set, option 2."""
    frame = unsolicited_na(MAC, VIP6)

    ethernet, ip6, icmp = frame[:14], frame[14:54], frame[54:]
    assert bytes.fromhex("333300000001" "020000000001" "86dd") == ethernet
    assert bytes.fromhex(
        "60000000"  # version 6, traffic class 0, flow label 0
        "0020"  # payload length 32
        "3a"  # next header ICMPv6
        "ff"  # hop limit 255
        "20010db8000100000000000000000100"  # source: the VIP
        "ff020000000000000000000000000001"  # destination: all nodes
    ) == ip6
    unsummed = bytes.fromhex(
        "88"  # type 136 Neighbor Advertisement
        "00"  # code 0
        "0000"  # checksum, zero while computing it
        "20000000"  # flags: Router 0, Solicited 0, Override 1; reserved 0
        "20010db8000100000000000000000100"  # target: the VIP
        "02"  # option type 2: Target Link-Layer Address
        "01"  # option length 1 (8 octets)
        "020000000001"  # the interface MAC
    )
    checksum = 0xFFFF - ones_complement_sum(pseudo_header(VIP6, ALL_NODES, 32) + unsummed)
    assert unsummed[:2] + checksum.to_bytes(2, "big") + unsummed[4:] == icmp
    assert 86 == len(frame)


def test_router_flag_is_set_only_when_asked() -> None:
    """keepalived sets R when the interface forwards IPv6; the builder does exactly that."""
    plain = neighbor_advertisement(MAC, VIP6, source=VIP6)
    router = neighbor_advertisement(MAC, VIP6, source=VIP6, router=True)

    assert 0x20 == plain[4]
    assert 0xA0 == router[4]


@given(mac=macs, vip=ipv6_addresses, router=st.booleans())
def test_na_checksum_verifies_for_any_address_and_mac(mac: bytes, vip: ipaddress.IPv6Address,
                                                      router: bool) -> None:
    """RFC 1071 receiver check: pseudo-header + message with its checksum sums to 0xFFFF."""
    icmp = unsolicited_na(mac, vip, router=router)[54:]

    assert 0xFFFF == ones_complement_sum(pseudo_header(vip, ALL_NODES, len(icmp)) + icmp)


@given(mac=macs, vip=st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address))
def test_arp_carries_the_vip_twice_and_the_mac_as_sender(mac: bytes,
                                                         vip: ipaddress.IPv4Address) -> None:
    """Whatever the address and MAC, they land in the sender/target fields keepalived uses."""
    frame = gratuitous_arp(mac, vip)

    assert (mac, mac, vip.packed, vip.packed) == (frame[6:12], frame[22:28], frame[28:32],
                                                  frame[38:42])


def test_a_mac_of_the_wrong_length_is_refused() -> None:
    """A 20-byte InfiniBand address must not silently make a malformed Ethernet frame."""
    with pytest.raises(ValueError, match="6 bytes"):
        unsolicited_na(b"\x00" * 20, VIP6)


def test_addresses_parse_with_or_without_prefix_and_duplicates_collapse() -> None:
    """keepalived.conf writes VIPs as ADDR/PREFIX; the prefix does not change what we announce."""
    parsed = parse_addresses(["192.0.2.100/24", "192.0.2.100", " 2001:db8:1::100/64 "])

    assert [(VIP4, None), (VIP6, None)] == parsed


def test_an_address_may_name_its_own_device_which_wins_over_dev() -> None:
    """`192.0.2.100/24 dev eth1` in keepalived.conf: that pair's device beats the default."""
    parsed = parse_addresses([("192.0.2.100/24", "eth1"), ("2001:db8:1::100", None)], dev="eth0")

    assert [(VIP4, "eth1"), (VIP6, "eth0")] == parsed


@pytest.mark.parametrize("text", ["192.0.2.300", "eth0", "", "fe80::1%eth0"])
def test_bad_address_text_is_one_clear_error(text: str) -> None:
    """Bad input becomes an AnnounceError naming the input, never a ValueError traceback."""
    with pytest.raises(AnnounceError) as caught:
        parse_addresses([text])

    assert repr(text) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("count", "interval", "deadline"),
    [(0, 0.5, None), (101, 0.5, None), (True, 0.5, None), (3, -1.0, None),
     (3, float("nan"), None), (3, 61.0, None), (3, 0.5, -1.0)],
)
def test_unbounded_schedules_are_refused_before_any_io(count: int, interval: float,
                                                       deadline: float | None) -> None:
    """Every loop is bounded: zero/huge counts and negative or NaN times are input errors."""
    with pytest.raises(AnnounceError):
        bursts.announce(["192.0.2.100"], count=count, interval=interval, deadline=deadline)


def test_results_read_as_one_line_each() -> None:
    """What `lbnotify announce` prints: address, interface, what was sent or why not."""
    assert "192.0.2.100 on eth0: sent 3 gratuitous ARP" == str(
        AnnounceResult("192.0.2.100", "eth0", "ipv4", sent=3)
    )
    assert "2001:db8::1: skipped: not configured on any interface" == str(
        AnnounceResult("2001:db8::1", None, "ipv6", skipped="not configured on any interface")
    )
    assert "2001:db8::1 on eth0: error: interface eth0 is down" == str(
        AnnounceResult("2001:db8::1", "eth0", "ipv6", error="interface eth0 is down")
    )
