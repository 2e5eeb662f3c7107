"""The frames that tell the link our VIPs moved: gratuitous ARP and unsolicited NA (pure).

Bytes only — no sockets, no clock — so every field is a unit test. The frames match what
keepalived sends (``vrrp_arp.c``, ``vrrp_ndisc.c``):

- IPv4: an ARP *request* to the Ethernet broadcast, sender = target IP = the VIP, sender MAC =
  the interface MAC, target MAC = broadcast (RFC 5227 §3 calls this an ARP Announcement).
  Linux treats sender IP == target IP as gratuitous and lets it override a recent entry.
- IPv6: a Neighbor Advertisement (RFC 4861 §4.4, §7.2.6) from the VIP to ff02::1
  (33:33:00:00:00:01), hop limit 255, Override set, Solicited clear, Router set only when the
  interface forwards IPv6 (as keepalived does: a router that claimed R=0 would be dropped from
  its neighbours' default router lists), with the Target Link-Layer Address option.

:mod:`.bursts` decides when and where to send them.
"""

from __future__ import annotations

import ipaddress
import struct

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ETH_BROADCAST = b"\xff" * 6
ETH_ALL_NODES = bytes.fromhex("333300000001")  # RFC 2464 §7: 33:33 + low 32 bits of ff02::1
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6 = 0x0800, 0x0806, 0x86DD
ARPHRD_ETHER, ARPOP_REQUEST = 1, 1
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LINKADDR = 2
NA_FLAG_ROUTER, NA_FLAG_SOLICITED, NA_FLAG_OVERRIDE = 0x80000000, 0x40000000, 0x20000000
ND_HOP_LIMIT = 255  # RFC 4861 §7.1.2: receivers drop NAs that crossed a router

_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_NA = struct.Struct("!BBHI16s")
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


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _check_mac(mac: bytes) -> None:
    if len(mac) != 6:
        raise ValueError(f"an Ethernet address has 6 bytes, not {len(mac)}")
