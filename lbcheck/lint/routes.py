"""Route lines as keepalived 2.2.7's alloc_route() (vrrp_iproute.c) reads them.

A `static_routes` / `virtual_routes` line is no keyword block: alloc_route() walks its words
itself, each known word taking its values, and takes any other word for the destination
(`to`, a route type, then an address or prefix, `default`/`any`/`all`). A word that is none
of these ends the route: 'unknown route keyword X', and keepalived drops the whole route
(`goto err`) — the words `keepalived -t` complains about (KA006 reports them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from lbcheck.keepalived_conf import Node

# word → how many values follow it (`lock` before a metric's value is read as well)
_TAKES = {"inet": 0, "inet6": 0, "src": 1, "from": 1, "tos": 1, "dsfield": 1, "table": 1,
          "protocol": 1, "scope": 1, "metric": 1, "priority": 1, "preference": 1, "dev": 1,
          "oif": 1, "onlink": 0, "expires": 1, "hoplimit": 1, "window": 1, "realms": 1,
          "initcwnd": 1, "initrwnd": 1, "features": 1, "quickack": 1, "pref": 1,
          "ttl-propagate": 1, "fastopen_no_cookie": 1, "add": 0, "prepend": 0, "append": 0,
          "no_track": 0, "track_group": 1, "vrf": 1}
_LOCKABLE = frozenset({"mtu", "advmss", "rtt", "rttvar", "reordering", "cwnd", "ssthresh",
                       "rto_min", "congctl"})
# what follows is read by other parsers (nexthops, encapsulation): not judged here
_STOP = frozenset({"nexthop", "or", "encap"})
_TYPES = frozenset({"local", "nat", "broadcast", "brd", "anycast", "multicast", "prohibit",
                    "unreachable", "blackhole", "xresolve", "unicast", "throw"})
_SPECIAL = frozenset({"default", "any", "all", "default6"})


def _destination(word: str) -> bool:
    """parse_route(): the specials, or an address with an optional prefix length."""
    if word in _SPECIAL:
        return True
    try:
        ipaddress.ip_interface(word)
    except ValueError:
        return False
    return True


def unknown_word(words: list[str]) -> str | None:
    """The first word alloc_route() cannot read, None when it reads them all."""
    index = 0
    while index < len(words):
        word = words[index]
        if word in _STOP:
            return None
        if word in _TAKES:
            index += 1 + _TAKES[word]
            continue
        if word in _LOCKABLE:
            index += 1
            if index < len(words) and words[index] == "lock":
                index += 1
            index += 1
            continue
        if word == "via" or word == "gw":
            index += 1
            if index < len(words) and words[index] in ("inet", "inet6"):
                index += 1
            index += 1
            continue
        if word == "as":
            index += 1
            if index < len(words) and words[index] == "to":
                index += 1
            index += 1
            continue
        if word == "to":
            index += 1
        if index < len(words) and words[index] in _TYPES:
            index += 1
        if index < len(words) and not _destination(words[index]):
            return words[index]
        index += 1
    return None


def route_lines(nodes: tuple[Node, ...]) -> Iterator[tuple[Node, str]]:
    """(route line, its unknown word) for every route keepalived drops."""
    for node in nodes:
        blocks = ([node] if node.keyword == "static_routes" else
                  node.find("virtual_routes") if node.keyword == "vrrp_instance" else [])
        for block in blocks:
            for line in block.children:
                word = unknown_word([line.keyword, *line.args])
                if word is not None:
                    yield line, word
