"""The frames that ask who holds a VIP, and the parsers of the answers (no root, no network).

References are written out byte by byte from RFC 5227 / RFC 4861 / RFC 4862; checksums are
computed by hand (worked in the comments) and again by an independent RFC 1071 sum.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbcheck.link.frames import (
    ArpReply,
    arp_probe,
    dad_solicitation,
    neighbor_solicitation,
    parse_advertisement,
    parse_arp_reply,
    solicited_node,
    unsolicited_na,
)
from tests.support.checksum import ipv6_addresses, macs, ones_complement_sum, pseudo_header

OURS = bytes.fromhex("020000000001")
HOLDER = bytes.fromhex("020000000112")
PROXY = bytes.fromhex("020000000113")
VIP4 = ipaddress.IPv4Address("192.0.2.100")
VIP6 = ipaddress.IPv6Address("2001:db8:1::100")
LINK_LOCAL = ipaddress.IPv6Address("fe80::1")
ALL_NODES = ipaddress.IPv6Address("ff02::1")

unicast6 = ipv6_addresses.filter(lambda a: not a.is_multicast)


def icmpv6_sums_to_ffff(frame: bytes) -> bool:
    """The receiver's check (RFC 4443 §2.3): pseudo-header + message sum to 0xffff."""
    source, destination = frame[22:38], frame[38:54]
    message = frame[54:54 + int.from_bytes(frame[18:20], "big")]
    return ones_complement_sum(pseudo_header(source, destination, len(message))
                               + message) == 0xFFFF


def advertisement(source_mac: bytes, source: ipaddress.IPv6Address,
                  destination: ipaddress.IPv6Address, target: ipaddress.IPv6Address,
                  flags: int, option_mac: bytes | None, hop_limit: int = 255,
                  options: bytes | None = None) -> bytes:
    """An NA written out independently of the code under test (for the parsers): ``options``
    as given, else the Target Link-Layer Address option for ``option_mac``, if any."""
    message = bytearray(b"\x88\x00\x00\x00" + flags.to_bytes(4, "big") + target.packed)
    if options is not None:
        message += options
    elif option_mac is not None:
        message += b"\x02\x01" + option_mac
    pseudo = pseudo_header(source, destination, len(message))
    message[2:4] = (~ones_complement_sum(pseudo + bytes(message)) & 0xFFFF).to_bytes(2, "big")
    ip6 = (b"\x60\x00\x00\x00" + len(message).to_bytes(2, "big") + bytes([58, hop_limit])
           + source.packed + destination.packed)
    return OURS + source_mac + b"\x86\xdd" + ip6 + bytes(message)


def arp_reply(sender_mac: bytes = HOLDER, sender_ip: str = "192.0.2.100",
              target_mac: bytes = OURS, target_ip: str = "0.0.0.0") -> bytes:
    """What Linux answers to our probe (arp.c: arp_send_dst(ARPOP_REPLY, …, sip=0, …)),
    padded by the sender's driver to the 60-byte Ethernet minimum."""
    frame = (target_mac + sender_mac + b"\x08\x06" + bytes.fromhex("0001080006040002")
             + sender_mac + ipaddress.IPv4Address(sender_ip).packed
             + target_mac + ipaddress.IPv4Address(target_ip).packed)
    return frame + bytes(60 - len(frame))


# -- the questions --------------------------------------------------------------------------


def test_arp_probe_is_rfc_5227_from_zero_with_target_mac_zero() -> None:
    """Request, broadcast, sender IP 0.0.0.0 (no cache learns from it), target MAC zero."""
    assert bytes.fromhex(
        "ffffffffffff"  # Ethernet destination: broadcast
        "020000000001"  # Ethernet source: our interface
        "0806"  # EtherType ARP
        "0001" "0800" "06" "04"  # Ethernet / IPv4, address lengths 6 and 4
        "0001"  # operation: request
        "020000000001"  # sender hardware address: ours
        "00000000"  # sender protocol address: 0.0.0.0 (RFC 5227 §2.1.1)
        "000000000000"  # target hardware address: zero ("ignored; SHOULD be zero")
        "c0000264"  # target protocol address: the VIP
    ) == arp_probe(OURS, VIP4)


def test_dad_solicitation_is_from_unspecified_to_the_solicited_node_group() -> None:
    """RFC 4862 §5.4.2: from ::, to ff02::1:ff00:100 via 33:33:ff:00:01:00, no option.

    Checksum by hand: the pseudo-header's ff02 + 0001 + ff00 + 0100 + 0018 (length) + 003a,
    the message's 8700 + 2001 + 0db8 + 0001 + 0100 sum to 0x2b50f; folded 0xb511; the
    complement is 0x4aee.
    """
    assert bytes.fromhex(
        "3333ff000100"  # Ethernet destination: 33:33 + low 32 bits of the group
        "020000000001"  # Ethernet source: ours
        "86dd"
        "60000000" "0018" "3a" "ff"  # version 6, payload 24, ICMPv6, hop limit 255
        "00000000000000000000000000000000"  # source: unspecified
        "ff0200000000000000000001ff000100"  # destination: solicited-node of the VIP
        "87" "00" "4aee"  # type 135 Neighbor Solicitation, code 0, checksum
        "00000000"  # reserved
        "20010db8000100000000000000000100"  # target: the VIP
    ) == dad_solicitation(OURS, VIP6)


def test_neighbor_solicitation_from_link_local_carries_our_mac() -> None:
    """From fe80::1 it must carry the Source Link-Layer Address option (RFC 4861 §7.2.2).

    Checksum by hand: 0x2b50f - 0018 + 0020 (length 32) + fe80 + 0001 (source) + 0101 + 0200
    + 0000 + 0001 (the option) = 0x3b69a; folded 0xb69d; the complement is 0x4962.
    """
    assert bytes.fromhex(
        "3333ff000100" "020000000001" "86dd"
        "60000000" "0020" "3a" "ff"  # payload 32: the option adds 8
        "fe800000000000000000000000000001"  # source: our link-local address
        "ff0200000000000000000001ff000100"
        "87" "00" "4962" "00000000"
        "20010db8000100000000000000000100"
        "01" "01" "020000000001"  # option 1 (source link-layer address), 1 × 8 bytes, ours
    ) == neighbor_solicitation(OURS, VIP6, LINK_LOCAL)


def test_solicited_node_matches_rfc_4291() -> None:
    """RFC 4291 §2.7.1's own example: 4037::01:800:200E:8C6C → FF02::1:FF0E:8C6C."""
    assert ipaddress.IPv6Address("ff02::1:ff0e:8c6c") == solicited_node(
        ipaddress.IPv6Address("4037::01:800:200e:8c6c"))


@given(macs, unicast6, st.one_of(st.just(ipaddress.IPv6Address(0)), unicast6))
def test_every_solicitation_checks_out(mac: bytes, target: ipaddress.IPv6Address,
                                       source: ipaddress.IPv6Address) -> None:
    """Any target, any source: the group, its MAC, the length and the checksum agree."""
    frame = neighbor_solicitation(mac, target, source)
    group = solicited_node(target)

    assert b"\x33\x33\xff" + target.packed[13:] == frame[:6]
    assert (group.packed, target.packed) == (frame[38:54], frame[62:78])
    assert icmpv6_sums_to_ffff(frame)
    assert len(frame) == (78 if source == ipaddress.IPv6Address(0) else 86)


# -- the answers ----------------------------------------------------------------------------


def test_an_arp_reply_to_our_probe_is_parsed() -> None:
    assert ArpReply(HOLDER, HOLDER, VIP4, OURS, ipaddress.IPv4Address(0)) == parse_arp_reply(
        arp_reply())


def test_only_ethernet_ipv4_arp_replies_are_parsed() -> None:
    """Requests (our own probe, a gratuitous ARP), other hardware or protocol: None."""
    reply = arp_reply()
    assert parse_arp_reply(arp_probe(OURS, VIP4)) is None
    assert parse_arp_reply(reply[:12] + b"\x08\x00" + reply[14:]) is None  # not EtherType ARP
    assert parse_arp_reply(reply[:14] + b"\x00\x06" + reply[16:]) is None  # IEEE 802 hardware
    assert parse_arp_reply(reply[:16] + b"\x86\xdd" + reply[18:]) is None  # not IPv4
    assert parse_arp_reply(reply[:18] + b"\x06\x10" + reply[20:]) is None  # lengths
    assert parse_arp_reply(reply[:20] + b"\x00\x03" + reply[22:]) is None  # RARP request


@pytest.mark.parametrize("length", range(42))
def test_a_truncated_arp_reply_is_none(length: int) -> None:
    assert parse_arp_reply(arp_reply()[:length]) is None


def test_a_holders_answer_to_our_solicitation_is_parsed() -> None:
    """Solicited + Override, to our link-local address, target option = the holder's MAC."""
    frame = advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, HOLDER)
    found = parse_advertisement(frame)

    assert found is not None
    assert (HOLDER, VIP6, LINK_LOCAL, VIP6) == (found.source, found.source_ip,
                                                 found.destination_ip, found.target)
    assert (False, True, True, HOLDER, HOLDER) == (found.router, found.solicited,
                                                   found.override, found.target_mac, found.mac)


def test_a_proxys_answer_has_override_clear() -> None:
    """proxy_ndp answers with O clear (ndisc.c: override only for an address of its own)."""
    found = parse_advertisement(
        advertisement(PROXY, LINK_LOCAL, LINK_LOCAL, VIP6, 0xC0000000, PROXY))

    assert found is not None
    assert (True, True, False) == (found.router, found.solicited, found.override)


def test_our_own_unsolicited_na_parses_as_an_announcement() -> None:
    """What keepalived and `lbnotify announce` send: O set, S clear, to all nodes."""
    found = parse_advertisement(unsolicited_na(OURS, VIP6))

    assert found is not None
    assert (False, True, ALL_NODES) == (found.solicited, found.override, found.destination_ip)


def test_without_the_option_the_mac_is_the_frames_source() -> None:
    found = parse_advertisement(advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, None))

    assert found is not None and (None, HOLDER) == (found.target_mac, found.mac)


def test_ethernet_padding_after_the_payload_is_ignored() -> None:
    frame = advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, HOLDER)
    assert parse_advertisement(frame) == parse_advertisement(frame + bytes(16))


@pytest.mark.parametrize(("what", "frame"), [
    ("hop limit 254: crossed a router", advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6,
                                                      0x60000000, HOLDER, hop_limit=254)),
    ("a multicast target", advertisement(HOLDER, VIP6, LINK_LOCAL, ALL_NODES, 0x60000000,
                                         HOLDER)),
    ("a solicitation", neighbor_solicitation(OURS, VIP6, LINK_LOCAL)),
    ("the DAD solicitation", dad_solicitation(OURS, VIP6)),
])
def test_what_rfc_4861_says_to_drop_is_none(what: str, frame: bytes) -> None:
    assert parse_advertisement(frame) is None, what


def test_a_bad_checksum_is_none() -> None:
    frame = bytearray(advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, HOLDER))
    frame[56] ^= 1  # the checksum's high byte
    assert parse_advertisement(bytes(frame)) is None


@pytest.mark.parametrize(("what", "options"), [
    ("length 0 (RFC 4861 §4.6: silently discard)", b"\x02\x00" + bytes(6)),
    ("longer than the message", b"\x02\x02" + HOLDER),
    ("a lone byte", b"\x02"),
])
def test_a_malformed_option_is_none(what: str, options: bytes) -> None:
    frame = advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, None, options=options)
    assert icmpv6_sums_to_ffff(frame)  # well summed: the option is the fault
    assert parse_advertisement(frame) is None, what


def test_an_unknown_option_is_skipped() -> None:
    """RFC 4861 §4.6: options a receiver does not know are ignored, not fatal."""
    options = b"\x0e\x01" + bytes(6) + b"\x02\x01" + HOLDER  # a nonce, then the MAC
    found = parse_advertisement(
        advertisement(PROXY, VIP6, LINK_LOCAL, VIP6, 0x60000000, None, options=options))
    assert found is not None and HOLDER == found.mac


@pytest.mark.parametrize("length", range(86))
def test_a_truncated_advertisement_is_none(length: int) -> None:
    frame = advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, HOLDER)
    assert 86 == len(frame)
    assert parse_advertisement(frame[:length]) is None


@given(st.binary(max_size=200))
def test_garbage_never_raises(frame: bytes) -> None:
    """The parsers read whatever a segment sends: garbage is None (or, by chance, parsed)."""
    parse_arp_reply(frame)
    parse_advertisement(frame)


@given(st.integers(min_value=22, max_value=85), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_addresses_or_message_is_caught(offset: int, flip: int) -> None:
    """One's complement catches every single-byte change the pseudo-header and message
    cover: a damaged NA is never read as an answer."""
    frame = bytearray(advertisement(HOLDER, VIP6, LINK_LOCAL, VIP6, 0x60000000, HOLDER))
    frame[offset] ^= flip

    assert parse_advertisement(bytes(frame)) is None
