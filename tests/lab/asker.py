"""Ask the segment who answers for an address, independently of lbcheck's own probe.

Runs inside a lab namespace (`ip netns exec lbl-c python3 asker.py …`), as root, stdlib only:
sends one ARP request for the IPv4 address (sender IP 0.0.0.0 by default — an RFC 5227 probe
— or a real sender IP, as an ordinary resolution does) and one neighbour solicitation for the
IPv6 address (from our link-local address, with our MAC as source link-layer option, to the
solicited-node group), then prints one JSON line per answer to *us* seen within WAIT
seconds — an ARP reply to our MAC, a Solicited NA to our address, so that the gratuitous
ARPs and unsolicited NAs of a takeover are not counted::

    python3 asker.py eth0 192.0.2.10 2001:db8:1::10 1.0 [SENDER_IP]
    {"family": "ipv4", "mac": "02:00:00:00:01:11", "after": 0.0003}
    {"family": "ipv6", "mac": "02:00:00:00:01:11", "after": 0.0004, "override": true}

The IPv6 question is a neighbour solicitation rather than DAD's (from ::): a DAD answer goes
to all nodes, like every unsolicited NA of a takeover, and could not be told from one.

The tests use it as the oracle beside `lbcheck vips`: a second implementation of the frames,
written from the RFCs, that shows what the kernel answers (a proxy, arp_ignore, use_vmac).
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_ARP, ETH_IPV6 = b"\x08\x06", b"\x86\xdd"
ICMPV6, NS, NA = 58, 135, 136


def arp_request(mac: bytes, sender: ipaddress.IPv4Address,
                target: ipaddress.IPv4Address) -> bytes:
    header = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    return b"\xff" * 6 + mac + ETH_ARP + header + mac + sender.packed + b"\0" * 6 + target.packed


def solicitation(mac: bytes, source: ipaddress.IPv6Address,
                 target: ipaddress.IPv6Address) -> bytes:
    group = ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + target.packed[13:]
    option = bytes([1, 1]) + mac  # source link-layer address: the answer needs no lookup
    icmp = struct.pack("!BBHI", NS, 0, 0, 0) + target.packed + option
    raw = source.packed
    pseudo = raw + group + struct.pack("!I", len(icmp)) + b"\0\0\0" + bytes([ICMPV6])
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(icmp), ICMPV6, 255) + raw + group
    return b"\x33\x33" + group[12:] + mac + ETH_IPV6 + ip6 + icmp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def answer(frame: bytes, mac: bytes, v4: bytes, v6: bytes, source: bytes) -> dict | None:
    """An ARP reply for v4 to our MAC, or a Solicited NA for v6 to ``source``, as a row."""
    if frame[:6] != mac:
        return None
    sender = frame[6:12].hex(":")
    if frame[12:14] == ETH_ARP and frame[20:22] == b"\0\x02" and frame[28:32] == v4:
        return {"family": "ipv4", "mac": sender}
    if (frame[12:14] == ETH_IPV6 and len(frame) >= 78 and frame[20] == ICMPV6
            and frame[54] == NA and frame[62:78] == v6 and frame[38:54] == source
            and frame[58] & 0x40):
        return {"family": "ipv6", "mac": sender, "override": bool(frame[58] & 0x20)}
    return None


def link_local(interface: str) -> ipaddress.IPv6Address:
    """Our link-local address on ``interface`` (/proc/net/if_inet6: scope 0x20)."""
    with open("/proc/net/if_inet6") as fh:
        for line in fh:
            address, _index, _length, scope, _flags, name = line.split()
            if name == interface and scope == "20":
                return ipaddress.IPv6Address(bytes.fromhex(address))
    raise OSError(f"{interface} has no link-local address")


def ask(interface: str, v4: str, v6: str, wait: float, sender: str = "0.0.0.0") -> list[dict]:
    target4, target6 = ipaddress.IPv4Address(v4), ipaddress.IPv6Address(v6)
    source = link_local(interface)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((interface, 0))
        mac = sock.getsockname()[4]
        started = time.monotonic()
        sock.send(arp_request(mac, ipaddress.IPv4Address(sender), target4))
        sock.send(solicitation(mac, source, target6))
        rows = []
        end = started + wait
        while (left := end - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            frame, address = sock.recvfrom(65536)
            if address[2] == socket.PACKET_OUTGOING:
                continue
            row = answer(frame, mac, target4.packed, target6.packed, source.packed)
            if row is not None:
                rows.append({**row, "after": round(time.monotonic() - started, 4)})
        return rows


def main() -> int:
    interface, v4, v6, wait = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    sender = sys.argv[5] if len(sys.argv) > 5 else "0.0.0.0"
    for row in ask(interface, v4, v6, wait, sender):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
