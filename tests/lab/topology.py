"""The lab's network: a switch namespace with a bridge, nodes n1/n2 and client c on it.

Addresses from the documentation ranges (192.0.2.0/24, 2001:db8:1::/64); DAD is off so IPv6
addresses are usable at once. Every name starts with the lab's prefix so `down` removes
exactly what `up` made and nothing of anyone else's.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

PREFIX = "lbl"
SWITCH = f"{PREFIX}-sw"
VIP4 = "192.0.2.10"
VIP6 = "2001:db8:1::10"


class Host(NamedTuple):
    name: str  # n1, n2, c
    v4: str
    v6: str
    mac: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"


HOSTS = (
    Host("n1", "192.0.2.11", "2001:db8:1::11", "02:00:00:00:01:11"),
    Host("n2", "192.0.2.12", "2001:db8:1::12", "02:00:00:00:01:12"),
    Host("c", "192.0.2.100", "2001:db8:1::100", "02:00:00:00:01:64"),
)


def host(name: str) -> Host:
    return next(h for h in HOSTS if h.name == name)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=check)


def netns(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", ns, *argv, check=check)


def ours() -> list[str]:
    listed = run("ip", "netns", "list").stdout.split()
    return [n for n in listed if n.startswith(f"{PREFIX}-")]


def create() -> None:
    run("ip", "netns", "add", SWITCH)
    netns(SWITCH, "ip", "link", "add", "br0", "type", "bridge")
    netns(SWITCH, "ip", "link", "set", "br0", "up")
    for h in HOSTS:
        run("ip", "netns", "add", h.netns)
        for key in ("all", "default"):
            netns(h.netns, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_dad=0")
        run("ip", "link", "add", f"{PREFIX}{h.name}a", "type", "veth", "peer", "name",
            f"{PREFIX}{h.name}b")
        run("ip", "link", "set", f"{PREFIX}{h.name}a", "netns", h.netns)
        run("ip", "link", "set", f"{PREFIX}{h.name}b", "netns", SWITCH)
        netns(h.netns, "ip", "link", "set", f"{PREFIX}{h.name}a", "name", "eth0")
        netns(h.netns, "ip", "link", "set", "eth0", "address", h.mac)
        netns(h.netns, "ip", "addr", "add", f"{h.v4}/24", "dev", "eth0")
        netns(h.netns, "ip", "addr", "add", f"{h.v6}/64", "dev", "eth0", "nodad")
        netns(h.netns, "ip", "link", "set", "eth0", "up")
        netns(h.netns, "ip", "link", "set", "lo", "up")
        netns(SWITCH, "ip", "link", "set", f"{PREFIX}{h.name}b", "master", "br0")
        netns(SWITCH, "ip", "link", "set", f"{PREFIX}{h.name}b", "up")
    wait_for_link_local()


def wait_for_link_local(timeout: float = 10.0) -> None:
    """IPv6 drops NAs until the link has a usable link-local address (bounded wait)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all("fe80" in netns(h.netns, "ip", "-6", "addr", "show", "dev", "eth0",
                               check=False).stdout for h in HOSTS):
            return
        time.sleep(0.1)


def destroy() -> None:
    for name in ours():
        run("ip", "netns", "del", name, check=False)


CLONE_NEWNET = 0x40000000


@contextmanager
def entered(ns: str) -> Iterator[None]:
    """This thread inside network namespace ``ns`` for the block, and back after it.

    setns(2) moves the calling thread only, so a thread per namespace can watch each node
    from one process (sockets opened inside stay in that namespace). Root only.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {ns}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
    finally:
        os.close(home)
