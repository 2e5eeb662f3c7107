"""What one `lbcheck status --json` costs on a pair with 10 VRRP instances (issue 20).

`bin/bench status` (root): network namespaces lbb-n1 and lbb-n2 joined by a veth, each with
the host's keepalived in a private mount namespace whose /run and /tmp are directories of our
workdir (so the two never share a dump). One config of our own: 10 instances, each with an
advertised IPv4 VIP and an excluded IPv6 one, a vrrp_script (weight 0) and a track file
(weight -20); both nodes BACKUP, priorities 150 / 100, so n1 holds every instance.

Each node's `lbcheck status --json` is spawned ``runs`` times, interleaved with the baseline
(`python -c "import click"`, the same interpreter), from a thread inside that node's network
namespace: the wall time is lbcheck's own (start, both dumps asked for and read, config
parsed, addresses listed), with no `ip netns exec` in it. The issue's bar: median ≤ 1 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lab.render import BIN
from tests.lab.topology import entered
from tests.support import keepalived_pair as pair
from tests.support.waiting import eventually

PREFIX = "lbb"
INSTANCES = 10
NODES = {"n1": ("192.0.2.1", "2001:db8::1", 150), "n2": ("192.0.2.2", "2001:db8::2", 100)}
BAR = 1.0  # s: the median
SETTLE = 30.0  # s: 10 instances to reach MASTER on n1 (master-down timer ~3 s each, parallel)

GLOBAL = """\
global_defs {{
    router_id {prefix}-{node}
    script_user root
    enable_script_security
}}
vrrp_script chk_haproxy {{
    script "/usr/bin/true"
    interval 1
    fall 1
    rise 1
}}
track_file haproxy_watch {{
    file /run/{prefix}-track
    weight -20
}}
"""
INSTANCE = """\
vrrp_instance VI_{k} {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        192.0.2.{host}/24
    }}
    virtual_ipaddress_excluded {{
        2001:db8::{host}/64
    }}
    track_script {{
        chk_haproxy
    }}
    track_file {{
        haproxy_watch
    }}
}}
"""


def config(node: str, priority: int) -> str:
    return GLOBAL.format(prefix=PREFIX, node=node) + "".join(
        INSTANCE.format(k=k, vrid=100 + k, priority=priority, host=100 + k)
        for k in range(1, INSTANCES + 1))


def network() -> contextlib.AbstractContextManager[None]:
    """lbb-n1 and lbb-n2 (tests/support/keepalived_pair.py)."""
    return pair.network(PREFIX, {n: (v4, v6) for n, (v4, v6, _) in NODES.items()})


def start(node: str, node_dir: Path) -> subprocess.Popen[bytes]:
    return pair.start(f"{PREFIX}-{node}", node_dir)


def timed(node: str, argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and exit code of ``argv`` spawned inside ``node``'s network namespace."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    try:
        with entered(f"{PREFIX}-{node}"):  # this thread only; the child inherits it
            started = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
            _, status = os.waitpid(pid, 0)
            wall = time.perf_counter() - started
    finally:
        os.close(devnull)
    return wall, os.waitstatus_to_exitcode(status)


def run(runs: int = 20) -> str:
    if os.geteuid() != 0:
        return "bench status: needs root (network and mount namespaces)"
    if shutil.which("keepalived") is None:
        return "bench status: keepalived is not installed"
    workdir = Path(tempfile.mkdtemp(prefix="lbcheck-bench-status-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with network():
            commands: dict[str, list[str]] = {}
            envs: dict[str, dict[str, str]] = {}
            for node, (_, _, priority) in NODES.items():
                node_dir = workdir / node
                for sub in ("tmp", "run", "state"):
                    (node_dir / sub).mkdir(parents=True)
                (node_dir / "run" / "keepalived.conf").write_text(config(node, priority))
                (node_dir / "run" / f"{PREFIX}-track").write_text("0\n")
                toml = node_dir / "lbcheck.toml"
                toml.write_text(f'[notify]\nstate_dir = "{node_dir}/state"\n')
                envs[node] = {**os.environ, "LBCHECK_CONFIG": str(toml),
                              "LBCHECK_STATE_DIR": str(node_dir / "state")}
                commands[node] = [str(BIN / "lbcheck"), "status", "--json", "--pidfile",
                                  str(node_dir / "run" / "keepalived.pid")]
                procs[node] = start(node, node_dir)
            # Both exit 0: n1 MASTER of all 10, n2 BACKUP of all 10 hearing n1, trackers OK.
            codes = eventually(lambda: {n: timed(n, commands[n], envs[n])[1] for n in NODES},
                               lambda seen: set(seen.values()) == {0}, SETTLE, interval=0.5)
            if set(codes.values()) != {0}:
                logs = {n: (workdir / n / "keepalived.log").read_text()[-1500:] for n in NODES}
                return f"bench status: the pair did not settle: exit codes {codes}; {logs}"
            click = [sys.executable, "-c", "import click"]
            walls: dict[str, list[float]] = {"n1": [], "n2": [], "click": []}
            exits: dict[str, list[int]] = {"n1": [], "n2": []}
            for _ in range(runs):  # interleaved: drift in machine load hits all alike
                for node in NODES:
                    wall, code = timed(node, commands[node], envs[node])
                    walls[node].append(wall)
                    exits[node].append(code)
                walls["click"].append(timed("n1", click, envs["n1"])[0])
    finally:
        for node, proc in procs.items():
            with contextlib.suppress(OSError, ValueError):
                pid = int((workdir / node / "run" / "keepalived.pid").read_text())
                os.kill(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return table(walls, exits, runs)


def table(walls: dict[str, list[float]], exits: dict[str, list[int]], runs: int) -> str:
    floor = statistics.median(walls["click"])
    lines = [(f"lbcheck status --json on a pair with {INSTANCES} VRRP instances (host "
              f"keepalived): {runs} runs per node, interleaved with the baseline, one run"),
             f"{'command':<34} {'median ms':>10} {'max ms':>8} {'÷ click':>8}  exit codes"]
    for name in ("n1", "n2", "click"):
        label = ("python -c 'import click'" if name == "click"
                 else f"lbcheck status --json ({name})")
        median = statistics.median(walls[name])
        codes = "" if name == "click" else " ".join(
            f"{code}×{exits[name].count(code)}" for code in sorted(set(exits[name])))
        lines.append(f"{label:<34} {median * 1000:10.1f} {max(walls[name]) * 1000:8.1f} "
                     f"{median / floor:8.2f}  {codes}")
    worst = max(statistics.median(walls[n]) for n in NODES)
    lines.append(f"target: median ≤ {BAR:g} s wall per node — "
                 f"{'met' if worst <= BAR else 'NOT met'} ({worst:.3f} s)")
    return "\n".join(lines)
