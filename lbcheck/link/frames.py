"""The link-layer frames lbcheck sends and reads, as pure bytes.

Bytes only — no sockets, no clock — so every field is a unit test. Two jobs share them:
telling the link our VIPs moved (``notify/announce``) and asking the link who holds a VIP
(:mod:`lbcheck.link.holders`).

Announcing: the frames match what keepalived sends (``vrrp_arp.c``, ``vrrp_ndisc.c``):

- IPv4: an ARP *request* to the Ethernet broadcast, sender = target IP = the VIP, sender MAC =
  the interface MAC, target MAC = broadcast (RFC 5227 §3 calls this an ARP Announcement).
  Linux treats sender IP == target IP as gratuitous and lets it override a recent entry.
- IPv6: a Neighbor Advertisement (RFC 4861 §4.4, §7.2.6) from the VIP to ff02::1
  (33:33:00:00:00:01), hop limit 255, Override set, Solicited clear, Router set only when the
  interface forwards IPv6 (as keepalived does: a router that claimed R=0 would be dropped from
  its neighbours' default router lists), with the Target Link-Layer Address option.

:mod:`lbcheck.notify.announce.bursts` decides when and where to send them.

Asking: an ARP probe (RFC 5227 §2.1.1: sender IP 0.0.0.0, so no neighbour cache learns from
it and proxy ARP stays silent) and a neighbour solicitation for the VIP to its solicited-node
group — from our link-local address (answered by unicast to us, so the answers to another
host's question are never counted) or, the RFC 4862 DAD form, from ``::``. The parsers
return None for anything that is not a well-formed answer, never raise: they read whatever a
segment sends.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ETH_BROADCAST = b"\xff" * 6
ETH_ALL_NODES = bytes.fromhex("333300000001")  # RFC 2464 §7: 33:33 + low 32 bits of ff02::1
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6 = 0x0800, 0x0806, 0x86DD
ARPHRD_ETHER, ARPOP_REQUEST, ARPOP_REPLY = 1, 1, 2
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 135, 136
ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR = 1, 2
NA_FLAG_ROUTER, NA_FLAG_SOLICITED, NA_FLAG_OVERRIDE = 0x80000000, 0x40000000, 0x20000000
ND_HOP_LIMIT = 255  # RFC 4861 §7.1.2: receivers drop NAs that crossed a router

UNSPECIFIED4 = ipaddress.IPv4Address(0)
UNSPECIFIED6 = ipaddress.IPv6Address(0)
ZERO_MAC = b"\0" * 6

_ETHERNET = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_NA = struct.Struct("!BBHI16s")  # the NS has the same layout: its 32 bits are reserved
_OPTION_HEADER = struct.Struct("!BB")


def ethernet_header(destination: bytes, source: bytes, ethertype: int) -> bytes:
    _check_mac(destination)
    _check_mac(source)
    return destination + source + struct.pack("!H", ethertype)


def gratuitous_arp(mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """The 42-byte Ethernet frame announcing that ``address`` is at ``mac``.

    Not padded to the 60-byte Ethernet minimum: the driver pads, and keepalived does the same.
    """
    arp = _ARP.pack(
        ARPHRD_ETHER, ETHERTYPE_IPV4, 6, 4, ARPOP_REQUEST,
        mac, address.packed, ETH_BROADCAST, address.packed,
    )
    return ethernet_header(ETH_BROADCAST, mac, ETHERTYPE_ARP) + arp


def ipv6_header(
    source: ipaddress.IPv6Address,
    destination: ipaddress.IPv6Address,
    payload_length: int,
    next_header: int = IPPROTO_ICMPV6,
    hop_limit: int = ND_HOP_LIMIT,
) -> bytes:
    """RFC 8200 §3, traffic class and flow label zero."""
    return _IPV6.pack(
        6 << 28, payload_length, next_header, hop_limit, source.packed, destination.packed
    )


def internet_checksum(data: bytes) -> int:
    """RFC 1071: one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmpv6_checksum(
    source: ipaddress.IPv6Address, destination: ipaddress.IPv6Address, message: bytes
) -> int:
    """RFC 4443 §2.3 over the RFC 8200 §8.1 pseudo-header; ``message`` has checksum zero."""
    pseudo = (source.packed + destination.packed
              + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6))
    return internet_checksum(pseudo + message)


def neighbor_advertisement(
    mac: bytes,
    target: ipaddress.IPv6Address,
    source: ipaddress.IPv6Address,
    destination: ipaddress.IPv6Address = ALL_NODES,
    router: bool = False,
) -> bytes:
    """The ICMPv6 NA message (32 bytes): Override set, Solicited clear, option 2 = ``mac``."""
    _check_mac(mac)
    flags = NA_FLAG_OVERRIDE | (NA_FLAG_ROUTER if router else 0)
    option = _OPTION_HEADER.pack(ND_OPT_TARGET_LINKADDR, 1) + mac  # length in 8-octet units
    unsummed = _NA.pack(ND_NEIGHBOR_ADVERT, 0, 0, flags, target.packed) + option
    checksum = icmpv6_checksum(source, destination, unsummed)
    return unsummed[:2] + struct.pack("!H", checksum) + unsummed[4:]


def unsolicited_na(mac: bytes, address: ipaddress.IPv6Address, router: bool = False) -> bytes:
    """The 86-byte Ethernet frame: from ``address`` (as keepalived) to all nodes."""
    message = neighbor_advertisement(mac, address, source=address, router=router)
    return (
        ethernet_header(ETH_ALL_NODES, mac, ETHERTYPE_IPV6)
        + ipv6_header(address, ALL_NODES, len(message))
        + message
    )


def announcement(mac: bytes, address: IPAddress, router: bool = False) -> bytes:
    """The frame that moves ``address`` to ``mac``, whichever the family."""
    if isinstance(address, ipaddress.IPv4Address):
        return gratuitous_arp(mac, address)
    return unsolicited_na(mac, address, router=router)


# -- asking who holds an address ---------------------------------------------------------


class ArpReply(NamedTuple):
    """An ARP reply: ``sender_ip`` is at ``sender_mac``, said to ``target_mac``."""

    source: bytes  # the Ethernet source
    sender_mac: bytes
    sender_ip: ipaddress.IPv4Address
    target_mac: bytes
    target_ip: ipaddress.IPv4Address


class Advertisement(NamedTuple):
    """A Neighbor Advertisement that passed RFC 4861 §7.1.2 validation."""

    source: bytes  # the Ethernet source
    source_ip: ipaddress.IPv6Address
    destination_ip: ipaddress.IPv6Address
    target: ipaddress.IPv6Address
    router: bool
    solicited: bool
    override: bool  # set by a holder; clear from a proxy (RFC 4861 §7.2.4; Linux proxy_ndp)
    target_mac: bytes | None  # the Target Link-Layer Address option, if sent

    @property
    def mac(self) -> bytes:
        """Where the sender says ``target`` is: its option, else the frame's source."""
        return self.target_mac or self.source


def arp_probe(src_mac: bytes, target: ipaddress.IPv4Address) -> bytes:
    """The 42-byte RFC 5227 §2.1.1 probe: who has ``target``? — asked from 0.0.0.0.

    Sender IP zero means no receiver adds or updates a neighbour entry for us, and Linux
    answers it only for an address of its own (arp.c: proxy ARP is skipped). The target
    hardware address is zero, as the RFC asks. Not padded, as :func:`gratuitous_arp`.
    """
    arp = _ARP.pack(
        ARPHRD_ETHER, ETHERTYPE_IPV4, 6, 4, ARPOP_REQUEST,
        src_mac, UNSPECIFIED4.packed, ZERO_MAC, target.packed,
    )
    return ethernet_header(ETH_BROADCAST, src_mac, ETHERTYPE_ARP) + arp


def solicited_node(target: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """RFC 4291 §2.7.1: ff02::1:ff00:0/104 plus the low 24 bits of ``target``."""
    return ipaddress.IPv6Address(
        int(ipaddress.IPv6Address("ff02::1:ff00:0")) | int(target) & 0xFFFFFF)


def multicast_mac(group: ipaddress.IPv6Address) -> bytes:
    """RFC 2464 §7: 33:33 followed by the low 32 bits of the group."""
    return b"\x33\x33" + group.packed[12:]


def neighbor_solicitation(
    src_mac: bytes,
    target: ipaddress.IPv6Address,
    source: ipaddress.IPv6Address = UNSPECIFIED6,
) -> bytes:
    """An NS for ``target`` to its solicited-node group, hop limit 255 (RFC 4861 §4.3).

    From ``source`` (our link-local address) it carries the Source Link-Layer Address option
    (§7.2.2: required in a multicast solicitation), and holders answer by unicast with
    Solicited set. From ``::`` it is the DAD form (RFC 4862 §5.4.2): no option allowed, and
    the answer goes to all nodes (§7.2.4), where it cannot be told from an unsolicited NA.
    """
    _check_mac(src_mac)
    group = solicited_node(target)
    message = _NA.pack(ND_NEIGHBOR_SOLICIT, 0, 0, 0, target.packed)
    if source != UNSPECIFIED6:
        message += _OPTION_HEADER.pack(ND_OPT_SOURCE_LINKADDR, 1) + src_mac
    checksum = icmpv6_checksum(source, group, message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    return (
        ethernet_header(multicast_mac(group), src_mac, ETHERTYPE_IPV6)
        + ipv6_header(source, group, len(message))
        + message
    )


def dad_solicitation(src_mac: bytes, target: ipaddress.IPv6Address) -> bytes:
    """The 78-byte duplicate address detection NS: from ``::``, no options."""
    return neighbor_solicitation(src_mac, target, UNSPECIFIED6)


def parse_arp_reply(frame: bytes) -> ArpReply | None:
    """An Ethernet/IPv4 ARP reply, or None for anything else (trailing padding is fine)."""
    if len(frame) < _ETHERNET.size + _ARP.size:
        return None
    _destination, source, ethertype = _ETHERNET.unpack_from(frame)
    if ethertype != ETHERTYPE_ARP:
        return None
    hw_type, proto, hw_len, proto_len, op, sha, spa, tha, tpa = _ARP.unpack_from(
        frame, _ETHERNET.size)
    if (hw_type, proto, hw_len, proto_len, op) != (
            ARPHRD_ETHER, ETHERTYPE_IPV4, 6, 4, ARPOP_REPLY):
        return None
    return ArpReply(source, sha, ipaddress.IPv4Address(spa), tha, ipaddress.IPv4Address(tpa))


def parse_advertisement(frame: bytes) -> Advertisement | None:
    """A Neighbor Advertisement as RFC 4861 §7.1.2 validates it, or None.

    Checked: IPv6 without extension headers, hop limit 255, ICMPv6 type 136 code 0 of at
    least 24 bytes, the checksum, a target that is not multicast, options of non-zero length
    that fit. Ethernet padding after the payload is ignored.
    """
    start = _ETHERNET.size + _IPV6.size
    if len(frame) < start + _NA.size:
        return None
    _destination, source, ethertype = _ETHERNET.unpack_from(frame)
    if ethertype != ETHERTYPE_IPV6:
        return None
    version, length, next_header, hop_limit, src, dst = _IPV6.unpack_from(frame, _ETHERNET.size)
    if (version >> 28 != 6 or next_header != IPPROTO_ICMPV6 or hop_limit != ND_HOP_LIMIT
            or length < _NA.size or start + length > len(frame)):
        return None
    message = frame[start:start + length]
    kind, code, _checksum, flags, target_raw = _NA.unpack_from(message)
    source_ip, destination_ip = ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst)
    if kind != ND_NEIGHBOR_ADVERT or code != 0:
        return None
    if icmpv6_checksum(source_ip, destination_ip, message) != 0:
        return None
    target = ipaddress.IPv6Address(target_raw)
    if target.is_multicast:
        return None
    target_mac = None
    offset = _NA.size
    while offset < len(message):
        if offset + _OPTION_HEADER.size > len(message):
            return None
        option, units = _OPTION_HEADER.unpack_from(message, offset)
        if units == 0 or offset + units * 8 > len(message):
            return None
        if option == ND_OPT_TARGET_LINKADDR and units == 1 and target_mac is None:
            target_mac = message[offset + 2:offset + 8]
        offset += units * 8
    return Advertisement(
        source, source_ip, destination_ip, target,
        router=bool(flags & NA_FLAG_ROUTER), solicited=bool(flags & NA_FLAG_SOLICITED),
        override=bool(flags & NA_FLAG_OVERRIDE), target_mac=target_mac,
    )


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _check_mac(mac: bytes) -> None:
    if len(mac) != 6:
        raise ValueError(f"an Ethernet address has 6 bytes, not {len(mac)}")
