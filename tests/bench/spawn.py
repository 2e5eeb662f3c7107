"""What a spawned `lbcheck haproxy` costs, against baselines measured in the same run.

keepalived forks the check every second on every load balancer, so the figure that matters
is the whole process: interpreter start, imports, probes, exit. We report medians of wall
time, CPU time (user + sys of the child, from wait4) and peak RSS, and ratios against
`python3 -c pass`, `python3 -c 'import click'` and `killall -0 haproxy`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.haproxy import Haproxy
from tests.support.web import WebServers

BIN = Path(sys.executable).parent
GNU_TIME = "/usr/bin/time"


def measure(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    """Median wall ms, CPU ms and peak RSS MiB over ``runs`` fresh processes.

    The RSS column comes from GNU time (:func:`peak_rss`): a child spawned from this Python
    process (fork or posix_spawn alike) starts its high-water mark at our own RSS.
    """
    walls, cpus = [], []
    executable = shutil.which(argv[0]) or argv[0]
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    try:
        for _ in range(runs):
            started = time.perf_counter()
            pid = os.posix_spawn(executable, argv, env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"bench: {' '.join(argv)} exited "
                                 f"{os.waitstatus_to_exitcode(status)}")
    finally:
        os.close(devnull)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "rss": peak_rss(argv, env)}


def peak_rss(argv: list[str], env: dict[str, str], runs: int = 3) -> float:
    """Median peak RSS in MiB, from GNU time, whose child is forked from its own small image."""
    if not Path(GNU_TIME).exists():
        return float("nan")
    found = []
    for _ in range(runs):
        result = subprocess.run([GNU_TIME, "-f", "%M", *argv], capture_output=True, text=True,
                                env=env, check=False)
        found.append(int(result.stderr.strip().splitlines()[-1]) / 1024)
    return statistics.median(found)


def run(runs: int = 40) -> str:
    web = WebServers(2)
    workdir = Path(tempfile.mkdtemp(prefix="lbcheck-bench-"))
    proxy = Haproxy(workdir, web.ports[:1], web.ports[1:])
    env = {**os.environ, "LBCHECK_STATE_DIR": str(workdir / "state")}
    env.pop("LBCHECK_CONFIG", None)
    try:
        proxy.start()
        python = sys.executable
        check = [str(BIN / "lbcheck"), "haproxy", "--socket", proxy.socket,
                 "--pidfile", proxy.pidfile]
        subprocess.run(check, env=env, check=True)  # first verdict: the transition is logged
        cases = {
            "python3 -c pass": [python, "-c", "pass"],
            "python3 -c 'import click'": [python, "-c", "import click"],
            "killall -0 haproxy": ["killall", "-0", "haproxy"],
            "lbcheck haproxy": check,
            "lbcheck haproxy --backend app": [*check, "--backend", "app"],
        }
        # Interleave the cases so that drift in machine load hits them all alike.
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        for _ in range(runs // 5 or 1):
            for name, argv in cases.items():
                samples[name].append(measure(argv, 5, env))
        results = {name: {k: statistics.median(s[k] for s in got) for k in got[0]}
                   for name, got in samples.items()}
    finally:
        proxy.stop()
        web.stop()
    return table(results, runs)


def table(results: dict[str, dict[str, float]], runs: int) -> str:
    floor = results["python3 -c 'import click'"]
    bare = results["python3 -c pass"]
    lines = [f"spawned checks: medians of {runs} runs each, interleaved, one machine, one run",
             (f"{'command':<32} {'wall ms':>8} {'cpu ms':>8} {'rss MiB':>8} "
             f"{'÷ click':>8} {'÷ pass':>8}")]
    for name, got in results.items():
        lines.append(f"{name:<32} {got['wall']:8.1f} {got['cpu']:8.1f} {got['rss']:8.1f} "
                     f"{got['wall'] / floor['wall']:8.2f} {got['wall'] / bare['wall']:8.2f}")
    lines.append("target: lbcheck haproxy within 1.3x of python3 -c 'import click' (wall)")
    return "\n".join(lines)
