"""Tell the link that our VIPs moved: gratuitous ARP (IPv4) and unsolicited NA (IPv6).

After a failover, switches and neighbours keep the old master's MAC until something tells
them otherwise. keepalived sends these on becoming MASTER; we send them again from the notify
hook and on demand (``lbnotify announce``), because the first ones are easily lost while a
switch port is still converging.

This module is the sending I/O; the frames themselves are built, purely, in
:mod:`lbcheck.link.frames`. Two rules keep a stale notification from doing harm: an address is
only announced while the kernel says this host holds it (an rtnetlink dump before every burst,
see :mod:`lbcheck.link.netlink`), and everything is bounded in count and time.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lbcheck.link import netlink
from lbcheck.link.frames import (
    ARPHRD_ETHER,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV6,
    IPAddress,
    announcement,
)

MAX_COUNT = 100
MAX_INTERVAL = 60.0
SEND_TIMEOUT = 0.2  # a packet socket only blocks when the device queue is full
NEEDS_CAP = "needs CAP_NET_RAW (run as root or grant the capability)"


class AnnounceError(Exception):
    """Nothing can be announced: bad input, no CAP_NET_RAW, rtnetlink unreadable."""


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnounceResult:
    """What happened to one address on one interface.

    ``skipped`` means we deliberately sent nothing (more): the address is not, or no longer,
    held here. ``error`` means we meant to send and could not (or fewer than asked).
    """

    address: str  # without prefix, e.g. "192.0.2.100" or "2001:db8:1::100"
    interface: str | None  # None when no interface holds it
    family: str  # "ipv4" | "ipv6"
    sent: int = 0
    skipped: str | None = None
    error: str | None = None

    @property
    def kind(self) -> str:
        return "gratuitous ARP" if self.family == "ipv4" else "unsolicited NA"

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None

    def __str__(self) -> str:
        where = f"{self.address} on {self.interface}" if self.interface else self.address
        what = f"sent {self.sent} {self.kind}"
        partly = f" ({what})" if self.sent else ""
        if self.error:
            return f"{where}: error: {self.error}{partly}"
        if self.skipped:
            return f"{where}: skipped: {self.skipped}{partly}"
        return f"{where}: {what}"


# -- I/O ------------------------------------------------------------------------------------


Request = tuple[IPAddress, str | None]  # an address and the interface it must be on, if any


@dataclass
class _Target:
    """An address we hold on an Ethernet link that is up: what each burst sends."""

    order: int  # position of the request, so results come back in the order asked
    result: AnnounceResult
    address: IPAddress
    link: netlink.Link
    frame: bytes
    ethertype: int


def parse_addresses(
    addresses: Sequence[str | tuple[str, str | None]], dev: str | None = None
) -> list[Request]:
    """``ADDR`` or ``ADDR/PREFIX`` (the prefix is ignored), alone or as ``(ADDR, DEV)``.

    A pair's own device wins over ``dev``. Duplicates are dropped, order is kept.
    """
    found: list[Request] = []
    for item in addresses:
        text, where = item if isinstance(item, tuple) else (item, None)
        raw = text.strip()
        if "%" in raw:
            raise AnnounceError(f"{text!r}: give the interface with --dev, not as a %zone")
        try:
            request = (ipaddress.ip_interface(raw).ip, where or dev)
        except ValueError:
            raise AnnounceError(f"not an IPv4 or IPv6 address: {text!r}") from None
        if request not in found:
            found.append(request)
    return found


def announce(
    addresses: Sequence[str | tuple[str, str | None]],
    dev: str | None = None,
    count: int = 3,
    interval: float = 0.5,
    deadline: float | None = None,
) -> list[AnnounceResult]:
    """Send ``count`` bursts, ``interval`` s apart, of one frame per address we hold.

    Each address is looked up on its device (``(ADDR, DEV)`` pairs, else ``dev``), or on
    every interface when that is None (one result per interface that holds it). All
    addresses share one schedule, so the call takes about ``(count - 1) * interval`` however
    many there are. The first burst always goes out; a later one only if it starts within
    ``deadline`` seconds of the call. Before every burst the kernel is asked again, so an
    address that went away meanwhile (we became BACKUP) stops at once.

    Raises :class:`AnnounceError` for bad input, without CAP_NET_RAW, or when rtnetlink
    cannot be read; everything about one address is in its :class:`AnnounceResult`.
    """
    wanted = parse_addresses(addresses, dev)
    _check_schedule(count, interval, deadline)
    started = time.monotonic()
    finished, targets = _plan(wanted)
    if targets:
        with _packet_socket(targets) as sock:
            _send_bursts(sock, targets, count, interval, deadline, started)
        finished.extend((t.order, t.result) for t in targets)
    return [result for _, result in sorted(finished, key=lambda pair: pair[0])]


def _check_schedule(count: int, interval: float, deadline: float | None) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise AnnounceError(f"count must be a whole number from 1 to {MAX_COUNT}, not {count!r}")
    if not 0 <= interval <= MAX_INTERVAL:  # also rejects NaN
        raise AnnounceError(f"interval must be 0 to {MAX_INTERVAL:g} seconds, not {interval!r}")
    if deadline is not None and not deadline >= 0:
        raise AnnounceError(f"deadline must be 0 or more seconds, not {deadline!r}")


def _plan(wanted: list[Request]) -> tuple[list[tuple[int, AnnounceResult]], list[_Target]]:
    """Final results for what cannot be sent, and targets for what can."""
    try:
        links = netlink.links()
        held = netlink.addresses()
    except netlink.NetlinkError as exc:
        raise AnnounceError(str(exc)) from None
    by_name = {link.name: link for link in links.values()}
    finished: list[tuple[int, AnnounceResult]] = []
    targets: list[_Target] = []
    for order, (address, dev) in enumerate(wanted):
        family = f"ipv{address.version}"
        holders = [a for a in held if a.address == address]
        if dev is not None:
            if dev not in by_name:
                finished.append((order, AnnounceResult(str(address), dev, family,
                                                       error=f"no interface named {dev}")))
                continue
            elsewhere = sorted({_name(links, a.ifindex) for a in holders} - {dev})
            holders = [a for a in holders if a.ifindex == by_name[dev].ifindex]
            if not holders:
                reason = f"not configured on {dev}" + (
                    f" (it is on {', '.join(elsewhere)})" if elsewhere else ""
                )
                finished.append((order, AnnounceResult(str(address), dev, family,
                                                       skipped=reason)))
                continue
        if not holders:
            finished.append((order, AnnounceResult(str(address), None, family,
                                                   skipped="not configured on any interface")))
            continue
        for holder in holders:
            if any((t.address, t.link.ifindex) == (address, holder.ifindex) for t in targets):
                continue  # asked for with and without its device: announce it once
            outcome = _target(order, address, holder, links.get(holder.ifindex))
            if isinstance(outcome, AnnounceResult):
                finished.append((order, outcome))
            else:
                targets.append(outcome)
    return finished, targets


def _target(
    order: int, address: IPAddress, holder: netlink.Address, link: netlink.Link | None
) -> _Target | AnnounceResult:
    family = f"ipv{address.version}"
    name = link.name if link else f"interface #{holder.ifindex}"
    result = AnnounceResult(str(address), name, family)
    if link is None:
        return replace(result, error=f"interface #{holder.ifindex} vanished while we looked")
    if holder.dad_failed:
        return replace(result, error=f"duplicate address detection failed on {name}: "
                                     "another host holds it")
    if holder.tentative:
        return replace(result, skipped="still tentative (duplicate address detection running)")
    if link.type != ARPHRD_ETHER or len(link.mac) != 6:
        return replace(result, error=f"{name} is not an Ethernet interface "
                                     f"(link type {link.type}); nothing to announce")
    if not link.up:
        return replace(result, error=f"interface {name} is down")
    if not link.carrier:
        return replace(result, error=f"interface {name} has no carrier (lower layer down)")
    router = isinstance(address, ipaddress.IPv6Address) and _forwards_ipv6(name)
    ethertype = ETHERTYPE_ARP if address.version == 4 else ETHERTYPE_IPV6
    frame = announcement(link.mac, address, router)
    return _Target(order, result, address, link, frame, ethertype)


def _forwards_ipv6(interface: str) -> bool:
    """keepalived sets the NA Router flag exactly when the interface forwards IPv6."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{interface}/forwarding") as fh:
            return fh.read().strip() not in ("", "0")
    except OSError:
        return False


def _packet_socket(targets: list[_Target]) -> socket.socket:
    """A send-only packet socket (protocol 0: the kernel queues nothing for us to read)."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        kinds = []
        if any(t.address.version == 4 for t in targets):
            kinds.append("gratuitous ARP")
        if any(t.address.version == 6 for t in targets):
            kinds.append("unsolicited neighbour advertisements")
        raise AnnounceError(f"sending {' and '.join(kinds)} {NEEDS_CAP}") from None
    except OSError as exc:
        raise AnnounceError(f"cannot open a packet socket: {exc.strerror}") from None
    sock.settimeout(SEND_TIMEOUT)
    return sock


def _send_bursts(
    sock: socket.socket,
    targets: list[_Target],
    count: int,
    interval: float,
    deadline: float | None,
    started: float,
) -> None:
    for burst in range(count):
        if not _active(targets):
            return  # every address stopped: no point sleeping through the rest
        if burst:
            due = started + burst * interval
            if deadline is not None and due - started > deadline:
                for target in _active(targets):
                    _stop(target, error=f"deadline of {deadline:g} s reached "
                                        f"after {burst} of {count} bursts")
                return
            time.sleep(max(0.0, due - time.monotonic()))
            _recheck(targets, burst, count)
        for target in _active(targets):
            _send(sock, target)


def _recheck(targets: list[_Target], burst: int, count: int) -> None:
    """Stop announcing what the kernel no longer gives us: a BACKUP must stay silent."""
    try:
        held = {(a.address, a.ifindex) for a in netlink.addresses() if not a.tentative}
    except netlink.NetlinkError as exc:
        for target in _active(targets):
            _stop(target, error=f"cannot re-check the address: {exc}")
        return
    for target in _active(targets):
        if (target.address, target.link.ifindex) not in held:
            _stop(target, skipped=f"no longer configured on {target.link.name} "
                                  f"after {burst} of {count} bursts")


def _send(sock: socket.socket, target: _Target) -> None:
    name = target.link.name
    try:
        sent = sock.sendto(target.frame, (name, target.ethertype))
    except OSError as exc:
        if exc.errno == errno.ENETDOWN:
            reason = f"interface {name} is down"
        elif exc.errno in (errno.ENODEV, errno.ENXIO):
            reason = f"interface {name} disappeared"
        elif isinstance(exc, TimeoutError):
            reason = f"interface {name} did not take the frame within {SEND_TIMEOUT:g} s"
        else:
            reason = f"sending on {name} failed: {exc.strerror or exc}"
        _stop(target, error=reason)
        return
    if sent != len(target.frame):
        _stop(target, error=f"{name} took {sent} of {len(target.frame)} bytes")
        return
    target.result = replace(target.result, sent=target.result.sent + 1)


def _active(targets: list[_Target]) -> list[_Target]:
    return [t for t in targets if t.result.error is None and t.result.skipped is None]


def _stop(target: _Target, *, error: str | None = None, skipped: str | None = None) -> None:
    target.result = replace(target.result, error=error, skipped=skipped)


def _name(links: dict[int, netlink.Link], index: int) -> str:
    link = links.get(index)
    return link.name if link else f"#{index}"


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point for the lab and tests; operators use `lbnotify announce`.

    Exit 0 when nothing failed (skipped addresses are not failures), 1 otherwise; 2 for usage.
    """
    parser = argparse.ArgumentParser(
        prog="python -m lbcheck.notify.announce",
        description="Send gratuitous ARP / unsolicited NA for addresses this host holds.",
    )
    parser.add_argument("addresses", nargs="+", metavar="ADDR")
    parser.add_argument("--dev", metavar="IF")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--deadline", type=float)
    args = parser.parse_args(argv)
    try:
        results = announce(args.addresses, args.dev, args.count, args.interval, args.deadline)
    except AnnounceError as exc:
        print(f"announce: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(result)
    return 0 if all(r.error is None for r in results) else 1
