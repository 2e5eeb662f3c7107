"""Capture real keepalived state dumps (.data and .json) from every keepalived of the matrix.

The unit tests parse them with lbcheck.keepalived_state, so a dump format change in a new
keepalived shows up as a failing unit test next to the real bytes. `bin/capture-fixtures
keepalived [host|trixie|sid]…` (root) regenerates tests/unit/data/keepalived/.

A pair per version: network namespaces lbs-n1 (MASTER, priority 200) and lbs-n2 (BACKUP, 100)
joined by a veth, each keepalived in a private mount namespace whose /tmp and /run are
directories of our workdir (so the two never share a dump, and we read them from outside).
One configuration (below) with a sync group, weighted trackers of every kind, track_interface,
both VIP lists and a nopreempt instance. The dumps are asked for through
:func:`lbcheck.keepalived_state.ask.request`: the very code `lbcheck status` will use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from lbcheck.keepalived_state import ask
from tests.support import debian_root
from tests.support import keepalived_pair as pair
from tests.support.keepalived_pair import keepalived, run
from tests.support.waiting import eventually

OUT = Path(__file__).resolve().parents[1] / "unit" / "data" / "keepalived"
SUITES = ("host", "trixie", "sid")
NODES = {"n1": ("192.0.2.1", "2001:db8::1", "MASTER", 200),
         "n2": ("192.0.2.2", "2001:db8::2", "BACKUP", 100)}

# G1 (VI_1 + VI_2) syncs; VI_1 carries a passing script (weight +5), a failing one (-30), a
# track file holding 5 with weight -2 (-10), a process that never runs (-15) and an interface
# that is up (-20 if it went down); VI_2 tracks eth0 unweighted (FAULT if it goes down);
# VI_3 is outside the group, nopreempt. Effective on n1: 200 + 5 - 30 - 10 - 15 = 150 > 100.
CONFIG = """\
global_defs {{
    router_id lbs-{node}
    script_user root
    enable_script_security
}}
vrrp_script chk_pass {{
    script "/usr/bin/true"
    interval 1
    weight 5
}}
vrrp_script chk_fail {{
    script "/usr/bin/false"
    interval 1
    fall 1
    rise 1
    weight -30
}}
vrrp_track_file tf_haproxy {{
    file "/run/lbs-track"
    weight -2
}}
vrrp_track_process tp_absent {{
    process lbs-no-such-process
    weight -15
}}
vrrp_sync_group G1 {{
    group {{
        VI_1
        VI_2
    }}
    sync_group_tracking_weight
}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        192.0.2.100/24
    }}
    virtual_ipaddress_excluded {{
        2001:db8::100/64
    }}
    track_script {{
        chk_pass
        chk_fail
    }}
    track_file {{
        tf_haproxy
    }}
    track_process {{
        tp_absent
    }}
    track_interface {{
        trk0 weight -20
    }}
}}
vrrp_instance VI_2 {{
    state {state}
    interface eth0
    virtual_router_id 52
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        192.0.2.101/24
    }}
    virtual_ipaddress_excluded {{
        192.0.2.102/24
    }}
    track_interface {{
        eth0
    }}
}}
vrrp_instance VI_3 {{
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 53
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        2001:db8::103/64
    }}
}}
"""


def network() -> contextlib.AbstractContextManager[None]:
    """lbs-n1 and lbs-n2 (tests/support/keepalived_pair.py), and a veth pair trk0/trk1 in
    each to track (a container may lack the dummy module)."""
    return pair.network("lbs", {n: (v4, v6) for n, (v4, v6, _, _) in NODES.items()}, extra=(
        ("ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"),
        ("ip", "link", "set", "trk1", "up"), ("ip", "link", "set", "trk0", "up")))


def signum(root: Path | None, which: str) -> int | None:
    out = run(*keepalived(root), f"--signum={which}", check=False)
    return int(out.stdout) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def version(root: Path | None) -> str:
    out = run(*keepalived(root), "--version", check=False)
    match = re.search(r"Keepalived v(\S+)", out.stdout + out.stderr)
    if not match:
        raise RuntimeError(f"no keepalived version in {out.stdout + out.stderr!r}")
    return match[1]


def start(name: str, root: Path | None, node_dir: Path) -> subprocess.Popen[bytes]:
    """keepalived of node ``name`` (tests/support/keepalived_pair.py)."""
    return pair.start(f"lbs-{name}", node_dir, root)


def pid(node_dir: Path) -> int:
    """keepalived's parent, from the pidfile it writes (`ip netns exec` forks: the Popen's pid
    is not keepalived's)."""
    return int((node_dir / "run" / "keepalived.pid").read_text())


def settled(dumps: dict[str, str]) -> bool:
    """n1 MASTER of VI_1/VI_2 and n2 BACKUP of both, knowing n1 as the master."""
    n1, n2 = dumps.get("n1", ""), dumps.get("n2", "")
    return (n1.count("State = MASTER") >= 2 and n2.count("State = BACKUP") >= 2
            and "192.0.2.1" in n2)


def capture(root: Path | None, workdir: Path, out: Path = OUT) -> list[Path]:
    release = version(root)
    data_sig, json_sig = signum(root, "DATA"), signum(root, "JSON")
    if data_sig is None:
        raise RuntimeError(f"keepalived {release} has no DATA signal")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    written: list[Path] = []
    with network():
        try:
            for name, (_, _, state, priority) in NODES.items():
                node_dir = workdir / name
                for sub in ("tmp", "run"):
                    (node_dir / sub).mkdir(parents=True)
                (node_dir / "run" / "keepalived.conf").write_text(
                    CONFIG.format(node=name, state=state, priority=priority))
                (node_dir / "run" / "lbs-track").write_text("5\n")
                procs[name] = start(name, root, node_dir)

            def data() -> dict[str, str]:
                found = {}
                for name in procs:
                    with contextlib.suppress(ask.DumpUnavailable, OSError, ValueError):
                        path = str(workdir / name / "tmp" / "keepalived.data")
                        found[name] = ask.request(pid(workdir / name), data_sig, path
                                                  ).data.decode()
                return found

            dumps = eventually(data, settled, timeout=20.0, interval=0.5)
            if not settled(dumps):
                logs = {n: (workdir / n / "keepalived.log").read_text()[-2000:] for n in procs}
                raise RuntimeError(f"keepalived {release} did not settle: {logs} {dumps}")
            for name, proc in procs.items():
                role = NODES[name][2].lower()
                target = out / f"keepalived.{release}.{role}.data"
                target.write_text(dumps[name])
                written.append(target)
                if json_sig is None:
                    continue
                dump = ask.request(pid(workdir / name), json_sig,
                                   str(workdir / name / "tmp" / "keepalived.json"))
                json.loads(dump.data)  # whole, or the capture is wrong
                target = out / f"keepalived.{release}.{role}.json"
                target.write_bytes(dump.data)
                written.append(target)
            (out / "keepalived.conf").write_text(  # n1's; n2's differs in state, priority
                CONFIG.format(node="n1", state="MASTER", priority=200))
            written.append(out / "keepalived.conf")
        finally:
            for name in procs:
                with contextlib.suppress(OSError, ValueError):
                    os.kill(pid(workdir / name), signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    return written


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for suite in argv or list(SUITES):
        root = None if suite == "host" else debian_root.root(suite)
        with tempfile.TemporaryDirectory(prefix="lbs-capture-") as workdir:
            for path in capture(root, Path(workdir)):
                print(f"{suite}: {path.relative_to(OUT.parents[3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
