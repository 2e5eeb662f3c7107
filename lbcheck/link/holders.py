"""Who holds a VIP: ask the segment once, count the answers.

No node-local check sees a split brain (both nodes MASTER, the VIP on both) or a VIP on no
node; the segment does. For each VIP we send one question on its interface — an ARP probe for
IPv4, a neighbour solicitation for IPv6 (:mod:`lbcheck.link.frames`) — and count, for
``wait`` seconds, the answers that can only come from a host holding the address:

- IPv4: ARP replies whose sender IP is the VIP, addressed to our MAC with target IP 0.0.0.0
  (the answer to a probe: a gratuitous ARP, or the answer to the peer's own probe, is neither).
  Linux answers a probe only for an address of its own, so proxy ARP never counts.
- IPv6: Neighbor Advertisements for the VIP. Asked from our link-local address, only
  Solicited answers sent to it count: keepalived's unsolicited NAs (S clear, to all nodes)
  and the answers to the peer's question (sent to the peer) never reach the count. With
  Override clear the answer is a proxy's (proxy_ndp; RFC 4861 §7.2.4): listed as
  ``proxied``, never a holder. Without a usable link-local address we fall back to the DAD
  form (from ``::``), whose answers go to all nodes like any unsolicited NA.

Replies are counted, not MACs, where a MAC can stand for two hosts: with keepalived's
``use_vmac`` two masters answer from the same virtual MAC 00:00:5e:00:01:VRID (IPv6:
00:00:5e:00:02:VRID), so each reply from a VRRP virtual MAC counts. Any other MAC counts once
per VIP: a host's own MAC is one host, however many answers it sent. This host counts when
the address is on the interface or on a macvlan/ipvlan on it (where ``use_vmac``/``use_ipvlan``
put it; rtnetlink says so): we never hear our own answer.

One asker at a time per host and network namespace: the answers to a question go to the
asking host's MAC (IPv6: its link-local address), so two askers on one host — the FIFO
reader's round and an `lbcheck vips` — would each hear the other's answers, and a virtual MAC's
answers cannot be told apart. ``ask`` takes ``LOCK_DIR/ask-NETNS.lock`` (flock, waited for
within the deadline; "cannot tell" when another asker held it throughout). Where the lock
cannot be had at all (not root, an unsafe directory), it asks without: a host MAC still
counts once.

Bounded: one socket per family and interface, the sockets opened with a BPF filter before
they are bound (so no other traffic of a busy load balancer is ever queued to us), reads
non-blocking under poll until the window or the deadline ends, and at most MAX_FRAMES frames
read per call — a flooding segment costs a bounded amount and makes the answer "cannot tell".
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import math
import os
import select
import socket
import struct
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from lbcheck.link import frames, netlink

if TYPE_CHECKING:
    from lbcheck.deadline import Deadline

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_FRAMES = 1024  # frames read per call, all sockets together (a healthy segment: a few)
MAX_WAIT = 10.0
MIN_LISTEN = 0.02  # s: a LAN answers within a millisecond; less than this is not listening
RECV_SIZE = 2048  # an ARP reply or an NA is well under 200 bytes; the rest is truncated
NETLINK_TIMEOUT = 0.5
NEEDS_CAP = "needs CAP_NET_RAW (run as root or grant the capability)"
LOCK_DIR = "/run/lbcheck"  # root's, 0755 (lbcheck's state dir): a lock there is not plantable
LOCK_WAIT = 1.0  # s at most for another asker to finish (one holds it for ~``wait``)
# keepalived's virtual MACs (RFC 5798 §7.3): 00:00:5e:00:01:VRID (IPv4), :02: (IPv6). Two
# masters with use_vmac answer from the same one, so their replies are counted one by one.
VRRP_MAC_PREFIXES = ("00:00:5e:00:01:", "00:00:5e:00:02:")
STACKED = ("macvlan", "ipvlan")  # where keepalived's use_vmac / use_ipvlan put the VIPs

# <linux/if_packet.h>, <asm-generic/socket.h>
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST = 0, 1, 2
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER = 26
SOL_PACKET = 263


class Holders(NamedTuple):
    """Who answered for one VIP on one interface."""

    address: str  # the VIP (no prefix length)
    interface: str
    local: bool  # on this node's interface now (rtnetlink dump)
    remote: tuple[str, ...]  # one MAC per reply from another host (duplicates kept)
    error: str | None = None  # could not ask: no CAP_NET_RAW, interface gone …
    proxied: tuple[str, ...] = ()  # IPv6 answers with Override clear: proxies, not holders
    local_mac: str = ""  # when local: the MAC this node answers with (a macvlan's, if there)

    @property
    def count(self) -> int:  # type: ignore[override]  # tuple.count(x): never used on it
        """How many hosts hold the address: this one, if it does, and each remote reply."""
        return int(self.local) + len(self.remote)


class _Question:
    """One VIP asked on one interface, and what came back.

    A plain class, not a dataclass: defining a dataclass execs generated code (~1 ms), paid
    by every `lbcheck vips` run (docs/architecture.md, house style).
    """

    __slots__ = ("address", "error", "frame", "link", "local", "local_mac", "proxied",
                 "remote", "source")

    def __init__(self, address: IPAddress, link: netlink.Link, local: bool,
                 local_mac: str = "", error: str | None = None) -> None:
        self.address = address
        self.link = link
        self.local = local
        self.local_mac = local_mac
        self.error = error
        self.frame = b""
        self.source = frames.UNSPECIFIED6  # our NS's source; :: for the DAD form
        self.remote: list[str] = []
        self.proxied: list[str] = []


def ask(vips: Sequence[tuple[str, str]], wait: float = 0.25,
        deadline: Deadline | None = None) -> list[Holders]:
    """One question per distinct (address, interface), all at once; one Holders per pair.

    Answers are collected for ``wait`` seconds, or until ``deadline`` (whichever is first).
    Never raises for the network's sake: what could not be asked is each Holders' ``error``.
    """
    if not 0 <= wait <= MAX_WAIT:  # also rejects NaN
        raise ValueError(f"wait must be 0 to {MAX_WAIT:g} seconds, not {wait!r}")
    answers: dict[tuple[str, str], Holders] = {}
    questions: dict[tuple[IPAddress, str], _Question] = {}
    keys: dict[tuple[str, str], tuple[IPAddress, str]] = {}
    try:
        links = netlink.links(_netlink_timeout(deadline))
        held = netlink.addresses(_netlink_timeout(deadline))
    except netlink.NetlinkError as exc:
        return [Holders(a, i, False, (), error=str(exc)) for a, i in vips]
    by_name = {link.name: link for link in links.values()}
    for text, interface in vips:
        pair = (text, interface)
        if pair in answers or pair in keys:
            continue
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            answers[pair] = Holders(text, interface, False, (),
                                    error=f"not an IPv4 or IPv6 address: {text!r}")
            continue
        key = (address, interface)
        keys[pair] = key
        if key not in questions:
            questions[key] = _question(address, interface, by_name, links, held)
    _ask(list(questions.values()), wait, deadline, held)
    results = []
    for text, interface in vips:
        pair = (text, interface)
        if pair in answers:
            results.append(answers[pair])
            continue
        q = questions[keys[pair]]
        results.append(Holders(text, interface, q.local, tuple(q.remote), q.error,
                               tuple(q.proxied), q.local_mac))
    return results


def _netlink_timeout(deadline: Deadline | None) -> float:
    if deadline is None:
        return NETLINK_TIMEOUT
    return max(0.01, min(NETLINK_TIMEOUT, deadline.remaining()))


def _question(address: IPAddress, interface: str, by_name: dict[str, netlink.Link],
              links: dict[int, netlink.Link], held: list[netlink.Address]) -> _Question:
    """What to send for ``address`` on ``interface``, or why nothing can be."""
    link = by_name.get(interface)
    if link is None:
        placeholder = netlink.Link(0, interface, 0, 0, b"")
        reason = (f"no interface named {interface}" if interface else
                  "no interface: the instance names none and the VIP has no dev")
        return _Question(address, placeholder, False, error=reason)
    stacked = {i for i, other in links.items()
               if other.lower == link.ifindex and other.kind in STACKED}
    on = next((a.ifindex for a in held if a.address == address and not a.dad_failed
               and (a.ifindex == link.ifindex or a.ifindex in stacked)), None)
    holding = links.get(on) if on is not None else None
    question = _Question(address, link, on is not None,
                         frames.mac_text(holding.mac) if holding and holding.mac else "")
    if link.type != frames.ARPHRD_ETHER or len(link.mac) != 6:
        question.error = f"{interface} is not an Ethernet interface (link type {link.type})"
    elif not link.up:
        question.error = f"interface {interface} is down"
    elif not link.carrier:
        question.error = f"interface {interface} has no carrier (lower layer down)"
    elif isinstance(address, ipaddress.IPv4Address):
        question.frame = frames.arp_probe(link.mac, address)
    else:
        question.source = _link_local(link.ifindex, held)
        question.frame = frames.neighbor_solicitation(link.mac, address, question.source)
    return question


def _link_local(ifindex: int, held: list[netlink.Address]) -> ipaddress.IPv6Address:
    """Our usable link-local address on the interface; :: (the DAD form) when there is none."""
    for a in held:
        if (a.ifindex == ifindex and isinstance(a.address, ipaddress.IPv6Address)
                and a.address.is_link_local and not a.tentative and not a.dad_failed):
            return a.address
    return frames.UNSPECIFIED6


# -- the sockets -------------------------------------------------------------------------


class _Listener:
    """One packet socket: one family on one interface, and the questions sent on it."""

    __slots__ = ("link", "questions", "sock", "version")

    def __init__(self, sock: socket.socket, link: netlink.Link, version: int) -> None:
        self.sock = sock
        self.link = link
        self.version = version
        self.questions: dict[IPAddress, _Question] = {}


def _ask(questions: list[_Question], wait: float, deadline: Deadline | None,
         held: list[netlink.Address]) -> None:
    if not any(q.error is None for q in questions):
        return
    lock = _take_lock(wait, deadline)
    try:
        if lock == _BUSY:
            for q in questions:
                if q.error is None:
                    q.error = ("another asker on this host held the segment throughout: "
                               "cannot tell")
            return
        _ask_unlocked(questions, wait, deadline)
    finally:
        if lock >= 0:
            os.close(lock)


_BUSY = -2  # _take_lock: another asker held it until our time ran out
_NO_LOCK = -1  # _take_lock: no lock to be had here (ask without)


def _take_lock(wait: float, deadline: Deadline | None) -> int:
    """The host's ask lock (a descriptor to close), _NO_LOCK, or _BUSY (see the docstring).

    Waited for until LOCK_WAIT passes or only ``wait`` of the deadline is left to listen in.
    """
    from lbcheck.files import flock_within, open_lock

    try:
        os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
        path = os.path.join(LOCK_DIR, f"ask-{os.stat('/proc/self/ns/net').st_ino}.lock")
        fd = open_lock(path)
    except OSError:
        return _NO_LOCK
    budget = LOCK_WAIT if deadline is None else min(LOCK_WAIT, deadline.remaining() - wait)
    try:
        if flock_within(fd, max(0.0, budget)):
            return fd
    except OSError:
        os.close(fd)
        return _NO_LOCK
    os.close(fd)
    return _BUSY


def _ask_unlocked(questions: list[_Question], wait: float, deadline: Deadline | None) -> None:
    end = time.monotonic() + wait
    if deadline is not None:
        end = min(end, deadline.expires)
    if end - time.monotonic() < min(wait, MIN_LISTEN):
        # Silence heard for no time is not an answer: "held by no node" would be a guess.
        for q in questions:
            if q.error is None:
                q.error = "the deadline left no time to listen for answers"
        return
    listeners: dict[tuple[int, int], _Listener] = {}
    try:
        for q in questions:
            if q.error is not None:
                continue
            where = (q.address.version, q.link.ifindex)
            if where not in listeners:
                sock = _open(q)
                if sock is None:
                    continue
                listeners[where] = _Listener(sock, q.link, q.address.version)
            listeners[where].questions[q.address] = q
        for listener in listeners.values():
            for q in listener.questions.values():
                _send(listener.sock, q)
        _listen(list(listeners.values()), end)
    finally:
        for listener in listeners.values():
            listener.sock.close()


def _open(q: _Question) -> socket.socket | None:
    """A packet socket for ``q``'s family on its interface, filtered before it is bound."""
    ethertype = frames.ETHERTYPE_ARP if q.address.version == 4 else frames.ETHERTYPE_IPV6
    try:
        # Protocol 0: nothing is queued to the socket until bind names a protocol, so the
        # filter is in place before the first frame can arrive.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        q.error = f"asking the link {NEEDS_CAP}"
        return None
    except OSError as exc:
        q.error = f"cannot open a packet socket: {exc.strerror}"
        return None
    try:
        _attach_filter(sock, q.address.version)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass  # before Linux 4.20: the packet type check below drops them instead
        sock.setblocking(False)
        sock.bind((q.link.name, ethertype))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENODEV, errno.ENXIO):
            q.error = f"interface {q.link.name} disappeared"
        elif exc.errno == errno.ENETDOWN:
            q.error = f"interface {q.link.name} is down"
        else:
            q.error = f"cannot listen on {q.link.name}: {exc.strerror or exc}"
        return None
    return sock


def _send(sock: socket.socket, q: _Question) -> None:
    try:
        sent = sock.send(q.frame)
    except BlockingIOError:
        q.error = f"{q.link.name} did not take the question (device queue full)"
        return
    except OSError as exc:
        if exc.errno == errno.ENETDOWN:
            q.error = f"interface {q.link.name} is down"
        elif exc.errno in (errno.ENODEV, errno.ENXIO):
            q.error = f"interface {q.link.name} disappeared"
        else:
            q.error = f"sending on {q.link.name} failed: {exc.strerror or exc}"
        return
    if sent != len(q.frame):
        q.error = f"{q.link.name} took {sent} of {len(q.frame)} bytes"


def _listen(listeners: list[_Listener], end: float) -> None:
    """Read answers until ``end``, at most MAX_FRAMES frames in all."""
    if not listeners:
        return
    poller = select.poll()
    by_fd = {}
    for listener in listeners:
        poller.register(listener.sock, select.POLLIN)
        by_fd[listener.sock.fileno()] = listener
    budget = MAX_FRAMES
    while (left := end - time.monotonic()) > 0:
        for fd, _events in poller.poll(math.ceil(left * 1000)):
            listener = by_fd[fd]
            while budget > 0:
                try:
                    frame, where = listener.sock.recvfrom(RECV_SIZE)
                except BlockingIOError:
                    break
                except OSError:
                    # The interface went away while we listened: judged by what came.
                    poller.unregister(fd)
                    break
                budget -= 1
                if where[2] in (PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST):
                    _judge(listener, frame)
            if budget <= 0:
                _flooded(listeners)
                return


def _flooded(listeners: list[_Listener]) -> None:
    """Too many frames to read them all: a count of 0 or 1 may be short, 2 is still 2."""
    for listener in listeners:
        for q in listener.questions.values():
            if q.error is None and int(q.local) + len(q.remote) < 2:
                q.error = (f"more than {MAX_FRAMES} answers on {listener.link.name} while "
                           "listening: the segment is flooded, cannot tell")


def _judge(listener: _Listener, frame: bytes) -> None:
    """Count ``frame`` if it answers one of our questions (see the module docstring)."""
    if listener.version == 4:
        reply = frames.parse_arp_reply(frame)
        if (reply is None or reply.target_mac != listener.link.mac
                or reply.target_ip != frames.UNSPECIFIED4):
            return
        q = listener.questions.get(reply.sender_ip)
        if q is not None and q.error is None:
            _count(q.remote, frames.mac_text(reply.sender_mac))
        return
    advert = frames.parse_advertisement(frame)
    if advert is None:
        return
    q = listener.questions.get(advert.target)
    if q is None or q.error is not None:
        return
    if q.source != frames.UNSPECIFIED6 and not (
            advert.solicited and advert.destination_ip == q.source):
        return  # not an answer to our question: an announcement, or the peer's answer
    _count(q.remote if advert.override else q.proxied, frames.mac_text(advert.mac))


def _count(seen: list[str], mac: str) -> None:
    """A host's MAC once per VIP; each reply from a VRRP virtual MAC (see the docstring)."""
    if mac not in seen or mac.startswith(VRRP_MAC_PREFIXES):
        seen.append(mac)


# -- classic BPF --------------------------------------------------------------------------

# <linux/filter.h>: BPF_LD|BPF_H|BPF_ABS, BPF_LD|BPF_B|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K,
# BPF_RET|BPF_K
_LDH, _LDB, _JEQ, _RET = 0x28, 0x30, 0x15, 0x06
_ACCEPT = 0x40000
_FILTERS = {
    # ARP replies: EtherType 0x0806, operation 2.
    4: [(_LDH, 0, 0, 12), (_JEQ, 0, 3, frames.ETHERTYPE_ARP), (_LDH, 0, 0, 20),
        (_JEQ, 0, 1, frames.ARPOP_REPLY), (_RET, 0, 0, _ACCEPT), (_RET, 0, 0, 0)],
    # Neighbor Advertisements: EtherType 0x86dd, next header 58, ICMPv6 type 136.
    6: [(_LDH, 0, 0, 12), (_JEQ, 0, 5, frames.ETHERTYPE_IPV6), (_LDB, 0, 0, 20),
        (_JEQ, 0, 3, frames.IPPROTO_ICMPV6), (_LDB, 0, 0, 54),
        (_JEQ, 0, 1, frames.ND_NEIGHBOR_ADVERT), (_RET, 0, 0, _ACCEPT), (_RET, 0, 0, 0)],
}
_INSTRUCTION = struct.Struct("=HBBI")


def _attach_filter(sock: socket.socket, version: int) -> None:
    """Let the kernel drop everything but the answers we read (SO_ATTACH_FILTER)."""
    program = _FILTERS[version]
    code = ctypes.create_string_buffer(b"".join(_INSTRUCTION.pack(*i) for i in program))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(code))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
