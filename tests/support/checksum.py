"""Internet checksums written out independently of lbcheck.link.frames, for the frame tests.

The tests check the code's checksums against these, so they are kept deliberately naive
(RFC 1071 as written, word by word) and in one place: two copies could drift apart, and a
test would then check one reading of the RFC against another.
"""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

macs = st.binary(min_size=6, max_size=6)
ipv6_addresses = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)


def ones_complement_sum(data: bytes) -> int:
    """RFC 1071 §1 as written: add 16-bit words, carrying out of the top back into the bottom."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def pseudo_header(source: ipaddress.IPv6Address | bytes,
                  destination: ipaddress.IPv6Address | bytes, length: int) -> bytes:
    """RFC 8200 §8.1: source, destination, 32-bit upper-layer length, 3 zero bytes, 58."""
    def packed(address: ipaddress.IPv6Address | bytes) -> bytes:
        return address if isinstance(address, bytes) else address.packed

    return packed(source) + packed(destination) + length.to_bytes(4, "big") + bytes([0, 0, 0, 58])
