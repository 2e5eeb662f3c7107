"""The watcher's cost: CPU per check cycle at 5 Hz and its memory, read from /proc.

Compared, in the same run, with what one spawned `lbcheck haproxy` costs in CPU: the spawned
check pays that every interval; the watcher pays its per-cycle cost five times a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.bench.spawn import measure
from tests.support.haproxy import Haproxy
from tests.support.web import WebServers

BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cycles(metrics: Path) -> float:
    for family in text_string_to_metric_families(metrics.read_text()):
        if family.name == "lbcheck_check_cycles":
            return next(s.value for s in family.samples if s.name.endswith("_total"))
    return float("nan")


# What examples/lbcheck-watch.service and examples/fast/lbcheck-watch.service run.
PROFILES = {"conservative": (["watch"], 0.2, ["--fall", "2", "--rise", "3"]),
            "fast": (["--deadline", "0.5", "watch"], 0.1, ["--fall", "1", "--rise", "3"])}


def run(seconds: float = 60.0, warmup: float = 5.0, profile: str = "conservative") -> str:
    prefix, interval, hysteresis = PROFILES[profile]
    web = WebServers(2)
    workdir = Path(tempfile.mkdtemp(prefix="lbcheck-bench-watch-"))
    proxy = Haproxy(workdir, web.ports[:1], web.ports[1:])
    env = {**os.environ, "LBCHECK_STATE_DIR": str(workdir / "state")}
    env.pop("LBCHECK_CONFIG", None)
    metrics = workdir / "lbcheck.prom"
    watcher = None
    try:
        proxy.start()
        check = ["haproxy", "--socket", proxy.socket, "--pidfile", proxy.pidfile, "--backend",
                 "app"]
        watcher = subprocess.Popen([str(BIN / "lbcheck"), *prefix, "--track-file",
                                    str(workdir / "track"), "--interval", str(interval),
                                    *hysteresis, "--metrics-file", str(metrics), *check],
                                   env=env)
        time.sleep(warmup)
        cpu0, cycles0, rss0 = cpu_seconds(watcher.pid), cycles(metrics), rss_mib(watcher.pid)
        time.sleep(seconds)
        cpu1, cycles1, rss1 = cpu_seconds(watcher.pid), cycles(metrics), rss_mib(watcher.pid)
        spawned = measure([str(BIN / "lbcheck"), *check], 20, env)
    finally:
        if watcher is not None:
            watcher.terminate()
            watcher.wait(timeout=10)
        proxy.stop()
        web.stop()
    per_cycle = (cpu1 - cpu0) / (cycles1 - cycles0) * 1000
    hz = 1 / interval
    return "\n".join([
        (f"watcher ({profile} profile) at {hz:g} Hz for {seconds:g} s "
         f"({cycles1 - cycles0:.0f} cycles, after {warmup:g} s warm-up), from /proc"),
        f"  CPU per check cycle      {per_cycle:6.2f} ms   (target ≤ 1 ms)",
        (f"  CPU per second           {(cpu1 - cpu0) / seconds * 1000:6.1f} ms   "
         f"({(cycles1 - cycles0) / seconds:.1f} cycles a second)"),
        f"  RSS start → end          {rss0:6.1f} → {rss1:.1f} MiB   (target ≤ 30 MiB, no growth)",
        (f"  spawned lbcheck haproxy  {spawned['cpu']:6.1f} ms CPU per run (median of 20), "
        f"every interval"),
    ])
