"""Every gratuitous ARP and unsolicited NA for the VIPs, as the client sees them on the wire.

keepalived announces a new master's VIPs in bursts (garp_master_repeat frames at once, and
again garp_master_delay s later, 5 s by default), and lbnotify's announce step adds its own
(`[announce]` count × interval): a probe during that tail sees announcements, not answers.
This records when each one passed, from a packet socket in the client's namespace, so the
bench can say how long after a transition they go on.

Gratuitous ARP: sender IP = target IP = the VIP (request or reply, RFC 5227 §3). Unsolicited
NA: the VIP as target, Solicited clear, sent to all nodes (ff02::1) — which is also how a node
answers a DAD solicitation (from ::), so DAD answers count here too: the lab's own probes ask
from a link-local address and are answered Solicited, to the asker.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import threading
import time
from typing import NamedTuple, Self

from tests.lab.topology import entered, host

ETH_P_ALL = 0x0003
ALL_NODES = ipaddress.IPv6Address("ff02::1").packed


class Announcement(NamedTuple):
    at: float  # time.time()
    family: str  # ipv4 | ipv6
    mac: str  # the Ethernet source


def classify(frame: bytes, v4: bytes, v6: bytes) -> str | None:
    """ipv4 for a gratuitous ARP of v4, ipv6 for an unsolicited NA of v6, else None."""
    if frame[12:14] == b"\x08\x06" and len(frame) >= 42:
        sender, target = frame[28:32], frame[38:42]
        return "ipv4" if sender == target == v4 else None
    if (frame[12:14] == b"\x86\xdd" and len(frame) >= 78 and frame[20] == 58
            and frame[54] == 136 and frame[62:78] == v6 and frame[38:54] == ALL_NODES
            and not frame[58] & 0x40):
        return "ipv6"
    return None


class Capture:
    """Announcements for the VIPs seen from ``where`` between start() and stop()."""

    def __init__(self, v4: str, v6: str, where: str = "c") -> None:
        self.v4 = ipaddress.IPv4Address(v4).packed
        self.v6 = ipaddress.IPv6Address(v6).packed
        self.where = where
        self.seen: list[Announcement] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="announcements", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(timeout=10)
        if self.errors:
            raise OSError(f"cannot capture announcements: {self.errors}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            with entered(host(self.where).netns), socket.socket(
                    socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
                sock.bind(("eth0", 0))
                self._ready.set()
                while not self._stop.is_set():
                    if not select.select([sock], [], [], 0.1)[0]:
                        continue
                    frame, address = sock.recvfrom(2048)
                    family = classify(frame, self.v4, self.v6)
                    if family is not None and address[2] != socket.PACKET_OUTGOING:
                        self.seen.append(Announcement(time.time(), family, frame[6:12].hex(":")))
        except OSError as exc:
            self.errors.append(str(exc))
        finally:
            self._ready.set()
