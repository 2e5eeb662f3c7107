"""Two keepalived nodes of our own, for the tools that need real daemons outside the lab:
`bin/capture-fixtures keepalived` and `bin/bench status`.

Each node is a network namespace (PREFIX-n1, PREFIX-n2) whose eth0 is one end of a veth, and
its keepalived runs in a private mount namespace whose /run and /tmp are directories of the
caller's workdir: the two never share a dump or a pidfile, and the caller reads them from
outside. Everything made is deleted in ``finally``, whatever happened.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=check)


@contextlib.contextmanager
def network(prefix: str, nodes: Mapping[str, tuple[str, str]],
            extra: Sequence[tuple[str, ...]] = ()) -> Iterator[None]:
    """``prefix``-NODE for each of ``nodes`` (name → IPv4, IPv6 on eth0, /24 and /64), the
    eth0s joined by a veth, DAD off; ``extra`` commands run in each namespace after."""
    try:
        for node in nodes:
            run("ip", "netns", "add", f"{prefix}-{node}")
            run("ip", "netns", "exec", f"{prefix}-{node}", "sysctl", "-qw",
                "net.ipv6.conf.all.accept_dad=0")
        first, second = (f"{prefix}-{node}" for node in nodes)
        run("ip", "link", "add", first, "type", "veth", "peer", "name", second)
        for node, (v4, v6) in nodes.items():
            ns = f"{prefix}-{node}"
            run("ip", "link", "set", ns, "netns", ns)
            for argv in (("ip", "link", "set", ns, "name", "eth0"),
                         ("ip", "addr", "add", f"{v4}/24", "dev", "eth0"),
                         ("ip", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad"),
                         ("ip", "link", "set", "eth0", "up"),
                         ("ip", "link", "set", "lo", "up"), *extra):
                run("ip", "netns", "exec", ns, *argv)
        yield None
    finally:
        for node in nodes:
            run("ip", "netns", "del", f"{prefix}-{node}", check=False)


def keepalived(root: Path | None) -> list[str]:
    """The host's keepalived, or another Debian suite's under chroot."""
    return ["keepalived"] if root is None else ["chroot", str(root), "/usr/sbin/keepalived"]


def start(netns: str, node_dir: Path, root: Path | None = None,
          config: str = "/run/keepalived.conf") -> subprocess.Popen[bytes]:
    """keepalived --vrrp under `ip netns exec NETNS unshare --mount`, its /run and /tmp
    node_dir/run and node_dir/tmp (its pidfile lands in node_dir/run: the pid to ask)."""
    target = "" if root is None else str(root)
    mounts = ["mount --make-rprivate /", f"mount --bind {node_dir}/run {target}/run",
              f"mount --bind {node_dir}/tmp {target}/tmp"]
    if root is not None:
        mounts.append(f"mount -t proc proc {target}/proc")
    argv = [*keepalived(root), "--dont-fork", "--log-console", "--log-detail", "--vrrp",
            "-f", config]
    script = " && ".join(mounts) + " && exec " + " ".join(argv)
    log = open(node_dir / "keepalived.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(["ip", "netns", "exec", netns, "unshare", "--mount", "sh", "-c",
                             script], stdout=log, stderr=subprocess.STDOUT)
