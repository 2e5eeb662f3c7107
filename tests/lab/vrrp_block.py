"""Cut VRRP between the lab's nodes: nftables drops IP protocol 112 in one node's namespace.

Dropped both ways (input and output) in one node, the pair no longer hears each other's
adverts: the backup's master-down timer runs out and both nodes are MASTER with the VIPs on
both — the split brain of a firewall change, a blocked multicast or a unicast peer typo. Per
family, because a pair with one IPv4 and one IPv6 instance (VRRPv3 over IPv6) splits one
family only when just the IPv6 adverts are lost.

The table lives in the node's network namespace: deleting the namespace (`Lab.down`) takes it
with it, and nothing is ever added to the host's own ruleset.
"""

from __future__ import annotations

import subprocess

TABLE = "lbl_vrrp"
VRRP = 112  # IANA protocol number; VRRPv3 over IPv6 uses it as the next header too
FAMILIES = ("ipv4", "ipv6", "both")


def ruleset(family: str = "both") -> str:
    """The nft script that drops VRRP of ``family`` (ipv4 | ipv6 | both), both directions.

    `meta l4proto` rather than `ip protocol`: it looks past IPv6 extension headers, and one
    `inet` table covers both families.
    """
    if family not in FAMILIES:
        raise ValueError(f"family {family!r}: expected one of {', '.join(FAMILIES)}")
    match = "" if family == "both" else f"meta nfproto {family} "
    rule = f"{match}meta l4proto {VRRP} counter drop"
    chains = "\n".join(
        f"  chain {hook} {{\n    type filter hook {hook} priority 0; policy accept;\n"
        f"    {rule}\n  }}" for hook in ("input", "output"))
    return f"table inet {TABLE} {{\n{chains}\n}}\n"


def block(netns: str, family: str = "both") -> None:
    """Drop ``family``'s VRRP in and out of ``netns`` (replacing any earlier block)."""
    unblock(netns)
    _nft(netns, "-f", "-", script=ruleset(family))


def unblock(netns: str) -> None:
    """Let VRRP through again; a namespace with no block is left as it is."""
    if blocked(netns):
        _nft(netns, "delete", "table", "inet", TABLE)


def blocked(netns: str) -> bool:
    listed = _nft(netns, "list", "tables", check=False).stdout
    return f"table inet {TABLE}" in listed


def dropped(netns: str) -> int:
    """VRRP packets the block has dropped so far (both chains): proof it bit."""
    out = _nft(netns, "list", "table", "inet", TABLE, check=False).stdout
    words = out.split()
    return sum(int(words[i + 1]) for i, word in enumerate(words)
               if word == "packets" and i + 1 < len(words))


def _nft(netns: str, *argv: str, script: str | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, "nft", *argv], input=script,
                          capture_output=True, text=True, timeout=10, check=check)
