"""Who holds each VIP, every 10 ms, on both nodes at once: keepalived's real overlap and gaps.

A thread per node sits inside the node's network namespace (topology.entered) and dumps its
addresses over rtnetlink every EVERY seconds — about 0.2 ms of CPU a dump, where `ip addr`
would fork twice per node per tick. Only changes are kept, each stamped with the wall clock
all namespaces share. From the two timelines: how long both nodes held a VIP at once (the
split brain a planned takeover causes on its own) and how long none did.

Written from <linux/rtnetlink.h>, not with lbcheck's netlink module: the lab is the oracle
the product is measured against, so it shares no code with it.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Iterable
from itertools import pairwise
from typing import NamedTuple, Self

from tests.lab.topology import entered, host

EVERY = 0.01
RTM_NEWADDR, RTM_GETADDR, NLMSG_DONE, NLMSG_ERROR = 20, 22, 3, 2
NLM_F_REQUEST_DUMP = 0x1 | 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
_HEADER = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTA = struct.Struct("=HH")


class Change(NamedTuple):
    at: float  # time.time() of the first dump that saw it
    held: frozenset[str]  # the watched VIPs on the node from then on


def dump(sock: socket.socket, watched: dict[bytes, str], seq: int) -> frozenset[str]:
    """The watched addresses present in one RTM_GETADDR dump on ``sock``."""
    sock.send(_HEADER.pack(_HEADER.size + _IFADDRMSG.size, RTM_GETADDR, NLM_F_REQUEST_DUMP,
                           seq, 0) + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
    found = set()
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                return frozenset(found)
            if kind == RTM_NEWADDR:
                at = offset + _HEADER.size + _IFADDRMSG.size
                while at + _RTA.size <= offset + length:
                    size, rta_type = _RTA.unpack_from(data, at)
                    if size < _RTA.size:
                        break
                    value = data[at + _RTA.size:at + size]
                    if rta_type in (IFA_ADDRESS, IFA_LOCAL) and value in watched:
                        found.add(watched[value])
                    at += (size + 3) & ~3
            offset += (length + 3) & ~3 if length else len(data)


class Watch:
    """Both nodes' VIPs from start() to stop(); ``changes`` per node."""

    def __init__(self, vips: Iterable[str], nodes: Iterable[str] = ("n1", "n2"),
                 every: float = EVERY) -> None:
        self.vips = {ipaddress.ip_address(v).packed: v for v in vips}
        self.nodes = tuple(nodes)
        self.every = every
        self.changes: dict[str, list[Change]] = {n: [] for n in self.nodes}
        self.polls: dict[str, int] = dict.fromkeys(self.nodes, 0)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), name=f"watch-{n}",
                                          daemon=True) for n in self.nodes]
        self._ready = threading.Barrier(len(self.nodes) + 1)

    def start(self) -> Watch:
        for thread in self._threads:
            thread.start()
        try:
            self._ready.wait(timeout=10)
        except threading.BrokenBarrierError:
            self.stop()
            raise OSError(f"cannot watch the nodes' addresses: {self.errors}") from None
        return self

    def stop(self) -> Watch:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def now(self, node: str) -> frozenset[str]:
        changes = self.changes[node]
        return changes[-1].held if changes else frozenset()

    def _run(self, node: str) -> None:
        try:
            with entered(host(node).netns), socket.socket(
                    socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
                sock.settimeout(1.0)
                seq = 0
                tick = time.monotonic()
                self._poll(node, sock, seq)
                self._ready.wait(timeout=10)
                while not self._stop.is_set():
                    seq += 1
                    self._poll(node, sock, seq)
                    tick += self.every
                    self._stop.wait(max(0.0, tick - time.monotonic()))
        except (OSError, threading.BrokenBarrierError) as exc:
            self.errors.append(f"{node}: {exc}")
            self._ready.abort()

    def _poll(self, node: str, sock: socket.socket, seq: int) -> None:
        held = dump(sock, self.vips, seq)
        self.polls[node] += 1
        if not self.changes[node] or self.changes[node][-1].held != held:
            self.changes[node].append(Change(time.time(), held))


def spans(changes: dict[str, list[Change]], vip: str, holders: int, start: float,
          end: float) -> list[tuple[float, float]]:
    """The (from, to) intervals within [start, end] in which exactly ``holders`` nodes held
    ``vip`` — 2: both at once; 0: none."""
    points = sorted({start, end, *(c.at for cs in changes.values() for c in cs
                                   if start < c.at < end)})
    found: list[tuple[float, float]] = []
    for a, b in pairwise(points):
        count = sum(vip in held_at(cs, a) for cs in changes.values())
        if count == holders:
            if found and found[-1][1] == a:
                found[-1] = (found[-1][0], b)
            else:
                found.append((a, b))
    return found


def held_at(changes: list[Change], at: float) -> frozenset[str]:
    """The VIPs one node held at ``at``, from its recorded changes."""
    held: frozenset[str] = frozenset()
    for change in changes:
        if change.at > at:
            break
        held = change.held
    return held
