"""Which addresses and links the kernel holds right now, read over rtnetlink.

Why not ``ip -j addr`` or ``/sys``: announcing is on keepalived's failover path, where a fork
costs more than the whole dump, and rtnetlink answers for the network namespace we run in
(``/sys`` only does when it was mounted there). Only the standard library is used: one
``AF_NETLINK`` socket per dump, each ``recv`` bounded by a timeout and the number of reads
bounded too, so a misbehaving kernel cannot hold keepalived's notify hook.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_addr.h>, <linux/if_link.h>, <net/if.h>
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP = 0x1, 0x2, 0x300
NLM_F_DUMP_INTR = 0x10
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS = 1, 2, 3, 8
IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINK, IFLA_LINKINFO = 1, 3, 5, 18
IFLA_INFO_KIND = 1
IFF_UP, IFF_RUNNING, IFF_LOWER_UP = 0x1, 0x40, 0x10000
IFA_F_OPTIMISTIC, IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x04, 0x08, 0x40
ARPHRD_ETHER = 1
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED / NLA_F_NET_BYTEORDER

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid (host byte order)
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTATTR = struct.Struct("=HH")  # len, type
_ERRNO = struct.Struct("=i")
_U32 = struct.Struct("=I")

RECV_SIZE = 1 << 16
MAX_READS = 4096  # a dump of a few thousand addresses fits in far fewer 64 KiB reads
DUMP_ATTEMPTS = 3  # a dump racing an address change is flagged NLM_F_DUMP_INTR: read again
DEFAULT_TIMEOUT = 1.0
_sequence = itertools.count(1)


class NetlinkError(Exception):
    """The kernel refused or garbled a dump; the message is one line for an operator."""


class _Interrupted(Exception):
    """The table changed while the kernel dumped it, so the dump may be inconsistent."""


class Address(NamedTuple):
    """One address as RTM_NEWADDR reports it."""

    ifindex: int
    address: IPAddress
    prefixlen: int
    flags: int  # IFA_F_*, the 32-bit IFA_FLAGS attribute when the kernel sends it
    label: str | None  # IPv4 only: the interface name or an alias such as eth0:1

    @property
    def tentative(self) -> bool:
        """Still in duplicate address detection: RFC 4862 forbids using it yet."""
        return bool(self.flags & IFA_F_TENTATIVE) and not self.flags & IFA_F_OPTIMISTIC

    @property
    def dad_failed(self) -> bool:
        return bool(self.flags & IFA_F_DADFAILED)


class Link(NamedTuple):
    """One interface as RTM_NEWLINK reports it."""

    ifindex: int
    name: str
    type: int  # ARPHRD_*
    flags: int  # IFF_*
    mac: bytes  # IFLA_ADDRESS; empty for links without one
    lower: int = 0  # IFLA_LINK: a macvlan's parent (a veth's peer); 0 when none
    kind: str = ""  # IFLA_INFO_KIND: "macvlan", "veth", "bridge"…; "" for a physical NIC

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def carrier(self) -> bool:
        return bool(self.flags & IFF_LOWER_UP)


def addresses(timeout: float = DEFAULT_TIMEOUT) -> list[Address]:
    """Every IPv4 and IPv6 address in this network namespace (RTM_GETADDR dump)."""
    request = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    found = []
    for msg_type, body in _dump(RTM_GETADDR, request, timeout):
        if msg_type == RTM_NEWADDR:
            parsed = parse_address(body)
            if parsed is not None:
                found.append(parsed)
    return found


def links(timeout: float = DEFAULT_TIMEOUT) -> dict[int, Link]:
    """Every interface in this network namespace by index (RTM_GETLINK dump)."""
    request = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    found = {}
    for msg_type, body in _dump(RTM_GETLINK, request, timeout):
        if msg_type == RTM_NEWLINK:
            link = parse_link(body)
            found[link.ifindex] = link
    return found


def parse_address(body: bytes) -> Address | None:
    """An RTM_NEWADDR body; None for families other than IPv4/IPv6."""
    if len(body) < _IFADDRMSG.size:
        raise NetlinkError("rtnetlink sent a truncated address message")
    family, prefixlen, flags8, _scope, index = _IFADDRMSG.unpack_from(body)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = dict(attributes(body[_IFADDRMSG.size:]))
    # IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point IPv4 links
    # and the address itself everywhere else.
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None:
        return None
    address = ipaddress.ip_address(socket.inet_ntop(family, raw))
    flags = _U32.unpack(attrs[IFA_FLAGS][:4])[0] if IFA_FLAGS in attrs else flags8
    label = attrs[IFA_LABEL].rstrip(b"\0").decode(errors="replace") if IFA_LABEL in attrs else None
    return Address(ifindex=index, address=address, prefixlen=prefixlen, flags=flags, label=label)


def parse_link(body: bytes) -> Link:
    """An RTM_NEWLINK body."""
    if len(body) < _IFINFOMSG.size:
        raise NetlinkError("rtnetlink sent a truncated link message")
    _family, hw_type, index, flags, _change = _IFINFOMSG.unpack_from(body)
    attrs = dict(attributes(body[_IFINFOMSG.size:]))
    name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
    lower = _U32.unpack(attrs[IFLA_LINK][:4])[0] if len(attrs.get(IFLA_LINK, b"")) >= 4 else 0
    info = dict(attributes(attrs.get(IFLA_LINKINFO, b"")))
    kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode(errors="replace")
    return Link(ifindex=index, name=name, type=hw_type, flags=flags,
                mac=attrs.get(IFLA_ADDRESS, b""), lower=lower, kind=kind)


def attributes(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each rtattr, each padded to 4 bytes; stops at a malformed one."""
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > len(data):
            return
        yield kind & NLA_TYPE_MASK, data[offset + _RTATTR.size:offset + length]
        offset += _align(length)


def messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, body) of each netlink message in one datagram."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, msg_type, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise NetlinkError("rtnetlink sent a truncated message")
        yield msg_type, flags, seq, data[offset + _NLMSGHDR.size:offset + length]
        offset += _align(length)


def _dump(msg_type: int, request: bytes, timeout: float) -> list[tuple[int, bytes]]:
    """(type, body) of every message of one consistent dump."""
    for _ in range(DUMP_ATTEMPTS):
        try:
            return _dump_once(msg_type, request, timeout)
        except _Interrupted:
            continue
    raise NetlinkError(f"rtnetlink dump kept changing underneath us ({DUMP_ATTEMPTS} tries)")


def _dump_once(msg_type: int, request: bytes, timeout: float) -> list[tuple[int, bytes]]:
    """Send one dump request and collect (type, body) until NLMSG_DONE."""
    seq = next(_sequence)
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(request), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError as exc:
        raise NetlinkError(f"cannot open an rtnetlink socket: {exc.strerror}") from None
    replies: list[tuple[int, bytes]] = []
    with sock:
        try:
            sock.settimeout(timeout)
            sock.bind((0, 0))
            sock.send(header + request)
            for _ in range(MAX_READS):
                data = sock.recv(RECV_SIZE)
                for kind, flags, reply_seq, body in messages(data):
                    if reply_seq != seq:
                        continue  # not ours: cannot happen on a fresh socket, but be sure
                    if flags & NLM_F_DUMP_INTR:
                        raise _Interrupted
                    if kind == NLMSG_DONE:
                        return replies
                    if kind == NLMSG_ERROR:
                        error = -_ERRNO.unpack_from(body)[0]
                        if error == 0:
                            return replies
                        raise NetlinkError(f"rtnetlink refused the dump: {os.strerror(error)}")
                    replies.append((kind, body))
        except TimeoutError:
            raise NetlinkError(f"rtnetlink did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise NetlinkError(f"rtnetlink dump failed: {exc.strerror or exc}") from None
    raise NetlinkError(f"rtnetlink dump did not end within {MAX_READS} reads")


def _align(length: int) -> int:
    return (length + 3) & ~3
