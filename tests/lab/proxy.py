"""Make a lab node a proxy for the VIPs (proxy_arp, proxy_ndp): it answers for them, holds none.

A backup that routes the VIPs elsewhere (a firewall or router also doing proxy ARP) answers
ARP requests and neighbour solicitations for them with its own MAC: a probe counting every
answer would call that a second holder. The kernel proxies only for an address it routes out
of *another* interface, so the node gets a veth pair (px0/px1, both ends inside it) with
host routes for the VIPs on px0; proxy_ndp needs forwarding and an explicit proxy entry.

What the kernel does then (measured in this lab; net/ipv4/arp.c arp_process,
net/ipv6/ndisc.c ndisc_recv_ns): an ARP request from a real sender IP is proxied after
proxy_delay (random, ≤ 0.8 s); an RFC 5227 probe (sender IP 0.0.0.0) is answered only for a
local address, never by the proxy. A DAD solicitation (source ::) *is* proxied: an NA to
ff02::1 with the Override flag clear, after the same random delay (seen 0.1–0.5 s).
"""

from __future__ import annotations

from tests.lab.topology import netns

OUT, PEER = "px0", "px1"
SYSCTLS = ("net.ipv4.conf.eth0.proxy_arp", "net.ipv4.conf.all.forwarding",
           "net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.proxy_ndp")


def start(ns: str, v4: str, v6: str) -> None:
    """``ns`` proxies ARP for ``v4`` and NDP for ``v6`` on eth0 until :func:`stop`."""
    stop(ns)
    netns(ns, "ip", "link", "add", OUT, "type", "veth", "peer", "name", PEER)
    for link in (OUT, PEER):
        netns(ns, "ip", "link", "set", link, "up")
    netns(ns, "ip", "route", "add", f"{v4}/32", "dev", OUT)
    netns(ns, "ip", "-6", "route", "add", f"{v6}/128", "dev", OUT)
    netns(ns, "sysctl", "-qw", *(f"{key}=1" for key in SYSCTLS))
    netns(ns, "ip", "-6", "neigh", "add", "proxy", v6, "dev", "eth0")


def stop(ns: str) -> None:
    """Undo :func:`start` (the routes go with the veth); harmless when it was not started."""
    netns(ns, "ip", "-6", "neigh", "flush", "proxy", "dev", "eth0", check=False)
    netns(ns, "sysctl", "-qw", *(f"{key}=0" for key in SYSCTLS), check=False)
    netns(ns, "ip", "link", "del", OUT, check=False)
