"""The operator's inputs → a typed :class:`PairSpec`, or InitError with one line saying why.

Everything refused here is something keepalived would accept and the pair would still not
work: a VIP no packet can reach, a VIP that is a node's own address, a family advertised
from a node without an address of it, a VRID outside what VRRP carries. Refusing costs the
operator one retry; writing it costs an outage.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from lbcheck.init import InitError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PROFILES = ("conservative", "fast")
CHECKS = ("spawned", "watch")
DESIGNS = ("excluded", "sync-group")
# A Linux interface name (IFNAMSIZ - 1 characters) keepalived reads as one word.
_INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")
# A node name: keepalived's router_id and a directory of the output.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class Host(NamedTuple):
    """A node's address on the interface; ``network`` when given with a prefix."""

    address: Address
    network: Network | None


class Vip(NamedTuple):
    address: Address
    prefixlen: int | None  # as the operator wrote it; None: not given

    @property
    def family(self) -> int:
        return self.address.version


class PairSpec(NamedTuple):
    interface: str
    name: str
    peer_name: str
    node: dict[int, Host]  # by family (4, 6)
    peer: dict[int, Host]
    vips: tuple[Vip, ...]  # in the operator's order
    profile: str
    unicast: bool
    vrid: int
    check: str | None  # None: the profile's
    design: str
    release: str

    @property
    def families(self) -> tuple[int, ...]:
        """The VIPs' families, IPv4 first: what the pair moves."""
        return tuple(sorted({v.family for v in self.vips}))


def build(interface: str, nodes: tuple[str, ...], peers: tuple[str, ...],
          vips: tuple[str, ...], profile: str = "conservative", unicast: bool = False,
          vrid: int = 51, check: str | None = None, design: str = "excluded",
          release: str = "2.2.7", name: str = "lb1", peer_name: str = "lb2") -> PairSpec:
    """Check every input and each against the others; the first problem is the one line."""
    if not _INTERFACE.fullmatch(interface):
        raise InitError(f"--interface {interface!r} is no interface name (up to 15 letters, "
                        "digits, '.', '_' or '-')")
    for option, value in (("--name", name), ("--peer-name", peer_name)):
        if not _NAME.fullmatch(value):
            raise InitError(f"{option} {value!r}: letters, digits, '.', '_' or '-' (it becomes "
                            "router_id and a directory)")
    if name == peer_name:
        raise InitError(f"--name and --peer-name are both {name!r}: the nodes need two names")
    _one_of("--profile", profile, PROFILES)
    _one_of("--design", design, DESIGNS)
    if check is not None:
        _one_of("--check", check, CHECKS)
    node = _hosts("--node", nodes)
    peer = _hosts("--peer", peers)
    for family in sorted(node.keys() | peer.keys()):
        if family not in node or family not in peer:
            have, lack = ("--node", "--peer") if family in node else ("--peer", "--node")
            raise InitError(f"{have} has an IPv{family} address and {lack} none: node and peer "
                            "need addresses of the same families")
        if node[family].address == peer[family].address:
            raise InitError(f"--node and --peer are both {node[family].address}: the peer is "
                            "the other node")
    spec = PairSpec(interface, name, peer_name, node, peer, _vips(vips, node, peer), profile,
                    unicast, vrid, check, design, release)
    _vrids(spec)
    return spec


def _one_of(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InitError(f"{option} {value!r}: one of {', '.join(allowed)}")


def _address(option: str, text: str) -> tuple[Address, int | None]:
    """ADDR[/LEN] → (address, length or None)."""
    address, slash, length = text.partition("/")
    try:
        ip = ipaddress.ip_address(address)
        if slash:
            if not length.isdigit():
                raise ValueError(length)
            ipaddress.ip_interface(text)  # the length fits the family
    except ValueError:
        raise InitError(f"{option} {text!r} is no IPv4 or IPv6 address[/length]") from None
    return ip, int(length) if slash else None


def _unusable(ip: Address) -> str | None:
    """Why no packet on the segment reaches ``ip``, if none does."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        return (f"is IPv4-mapped (::ffff:{mapped}): an IPv4 address in IPv6 notation no IPv6 "
                f"packet carries; write {mapped} as an IPv4 VIP")
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_multicast:
        return "is a multicast address"
    if ip.is_unspecified:
        return "is the unspecified address"
    return None


def _hosts(option: str, texts: tuple[str, ...]) -> dict[int, Host]:
    found: dict[int, Host] = {}
    for text in texts:
        ip, length = _address(option, text)
        problem = _unusable(ip)
        if problem:
            raise InitError(f"{option} {text} {problem}")
        if ip.version in found:
            first = found[ip.version].address
            raise InitError(f"{option} given two IPv{ip.version} addresses ({first} and {ip}): "
                            "one per family")
        network = ipaddress.ip_interface(text).network if length is not None else None
        found[ip.version] = Host(ip, network)
    if not found:
        raise InitError(f"{option} is missing: the node's address on the interface (one per "
                        "family)")
    return found


def _vips(texts: tuple[str, ...], node: dict[int, Host], peer: dict[int, Host]
          ) -> tuple[Vip, ...]:
    if not texts:
        raise InitError("--vip is missing: the addresses the pair moves (repeat for each)")
    found: list[Vip] = []
    for text in texts:
        ip, length = _address("--vip", text)
        problem = _unusable(ip)
        if problem is None and ip.version == 6 and ip.is_link_local:
            problem = ("is link-local (fe80::/10): every link has its own, no client off this "
                       "link reaches it")
        if problem:
            raise InitError(f"--vip {text} {problem}")
        if any(v.address == ip for v in found):
            raise InitError(f"--vip {ip} is given twice: each VIP once")
        mine, theirs = node.get(ip.version), peer.get(ip.version)
        if mine is None or theirs is None:
            raise InitError(f"--vip {text} is IPv{ip.version} but --node and --peer have no "
                            f"IPv{ip.version} address: keepalived needs one on both nodes to "
                            "move it")
        for option, host in (("--node", mine), ("--peer", theirs)):
            if host.address == ip:
                raise InitError(f"--vip {ip} is the {option} address: a VIP moves, a node's "
                                "own address must not")
            if host.network is not None and ip not in host.network:
                raise InitError(f"--vip {text} is outside {option}'s subnet {host.network}: "
                                "no client on that segment reaches it")
        found.append(Vip(ip, length))
    return tuple(found)


def _vrids(spec: PairSpec) -> None:
    if not 1 <= spec.vrid <= 255:
        raise InitError(f"--vrid {spec.vrid} is outside 1..255 (VRRP's virtual router ID)")
    if spec.design == "sync-group" and len(spec.families) > 1 and spec.vrid == 255:
        raise InitError("--vrid 255: --design sync-group also needs the next one (VRID + 1) "
                        "for its IPv6 instance: at most 254")
