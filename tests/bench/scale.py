"""What a big haproxy config costs a spawned check, against a one-backend haproxy in the same run.

`lbcheck haproxy --backend app` is spawned every second; if it reads the whole `show stat`, its
cost grows with every backend on the box, including the thousands it was never asked about.
Two real haproxies run side by side: *small* has only backend `app`; *big* has `app` plus
4,000 backends × 5 servers (servers without `check`, so 20,000 health checks do not load the
machine the measurement runs on). The spawned checks are interleaved with `python3 -c pass`
and `python3 -c 'import click'` so that machine load hits every case alike, and judged by the
ratio big/small, never by an absolute time. A second table times the stats socket itself,
in-process, and Python's parsing of the replies, to show where the time goes.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench.spawn import measure
from tests.support.haproxy import Haproxy
from tests.support.web import WebServers

BIN = Path(sys.executable).parent
EXTRA_BACKENDS = 4000
SERVERS_PER_BACKEND = 5
TARGET = 1.1  # `--backend app` on big ÷ on small, wall: the probe must not scale with the config
BLOCK = 5  # runs per measure() call; blocks of all cases alternate (as in tests/bench/spawn.py)
DIRECT = ("show info", "show stat app 6 -1", "show stat")


def run(runs: int = 40, direct_runs: int = 20) -> str:
    web = WebServers(1)
    workdirs: list[Path] = []
    proxies: list[Haproxy] = []
    try:
        for name, extra in (("small", 0), ("big", EXTRA_BACKENDS)):
            workdirs.append(Path(tempfile.mkdtemp(prefix=f"lbcheck-bench-scale-{name}-")))
            proxies.append(Haproxy(workdirs[-1], web.ports, extra_backends=extra,
                                   servers_per_backend=SERVERS_PER_BACKEND))
            proxies[-1].start(timeout=15.0)
            wait_until_app_up(proxies[-1])
        small, big = proxies
        cases = spawned_cases(small, big)
        envs = {"s": check_env(workdirs[0]), "b": check_env(workdirs[1])}
        envs["-"] = envs["s"]
        for label, (argv, which) in cases.items():  # first verdict is logged; warm the caches
            _warm(label, argv, envs[which])
        spawned = measure_interleaved(cases, envs, runs)
        direct = time_socket(small, big, direct_runs)
        parsing = time_parsing(big, direct_runs)
    finally:
        for proxy in proxies:
            proxy.stop()
        web.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(spawned, direct, parsing, runs, direct_runs)


def _warm(label: str, argv: list[str], env: dict[str, str]) -> None:
    """One unmeasured run: records the first verdict and fails loudly if the check is not OK."""
    try:
        measure(argv, 1, env)
    except SystemExit as exc:
        raise SystemExit(f"bench scale: {label}: {exc}") from None


def check_env(workdir: Path) -> dict[str, str]:
    """Each haproxy keeps its own state dir; a site config must not redirect the checks."""
    env = {**os.environ, "LBCHECK_STATE_DIR": str(workdir / "state")}
    env.pop("LBCHECK_CONFIG", None)
    return env


def wait_until_app_up(proxy: Haproxy, timeout: float = 5.0) -> None:
    """Bounded wait for app/web1 to be UP, so every measured check exits 0."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = proxy.query("show stat app 4 -1").splitlines()
        if any(r.startswith("app,web1,") and ",UP," in r for r in rows):
            return
        time.sleep(0.05)
    raise RuntimeError(f"app/web1 not UP within {timeout} s on {proxy.socket}")


def spawned_cases(small: Haproxy, big: Haproxy) -> dict[str, tuple[list[str], str]]:
    """label → (argv, which haproxy's state dir: s, b, or - for the baselines)."""
    python, lbcheck = sys.executable, str(BIN / "lbcheck")
    cases: dict[str, tuple[list[str], str]] = {
        "python3 -c pass": ([python, "-c", "pass"], "-"),
        "python3 -c 'import click'": ([python, "-c", "import click"], "-"),
    }
    for which, proxy in (("s", small), ("b", big)):
        check = [lbcheck, "haproxy", "--socket", proxy.socket, "--pidfile", proxy.pidfile]
        cases[f"lbcheck haproxy|{which}"] = (check, which)
        cases[f"lbcheck haproxy --backend app|{which}"] = ([*check, "--backend", "app"], which)
        cases[f"lbcheck backends (every backend)|{which}"] = (
            [lbcheck, "backends", "--socket", proxy.socket], which)
    return cases


def measure_interleaved(cases: dict[str, tuple[list[str], str]],
                        envs: dict[str, dict[str, str]], runs: int) -> dict[str, dict[str, float]]:
    """Median over blocks of BLOCK runs; the case order rotates each round, so no case is
    always the one that follows the heaviest."""
    names = list(cases)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for round_ in range(max(1, runs // BLOCK)):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            argv, which = cases[name]
            samples[name].append(measure(argv, BLOCK, envs[which]))
    return {name: {k: statistics.median(s[k] for s in got) for k in got[0]}
            for name, got in samples.items()}


def ask(path: str, command: str) -> int:
    """One command on a raw socket, read to EOF; returns the reply's size in bytes."""
    size = 0
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5.0)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        while chunk := sock.recv(65536):
            size += len(chunk)
    return size


def time_socket(small: Haproxy, big: Haproxy,
                runs: int) -> dict[tuple[str, str], tuple[float, int]]:
    """(command, s|b) → (median ms, reply bytes): haproxy generating and sending, no Python
    parsing. Interleaved like the spawned cases."""
    times: dict[tuple[str, str], list[float]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for _ in range(runs):
        for command in DIRECT:
            for which, proxy in (("s", small), ("b", big)):
                started = time.perf_counter()
                sizes[command, which] = ask(proxy.socket, command)
                times.setdefault((command, which), []).append(
                    (time.perf_counter() - started) * 1000)
    return {key: (statistics.median(got), sizes[key]) for key, got in times.items()}


def time_parsing(big: Haproxy, runs: int) -> dict[str, float]:
    """Median ms of the installed parser and judge on the big haproxy's replies, in-process."""
    from lbcheck.checks.backends import Limit, judge_backends, parse_stat

    full = big.query("show stat")
    one = big.query("show stat app 6 -1")
    parsed = parse_stat(full)
    steps: dict[str, Callable[[], object]] = {
        "parse_stat(show stat) [big]": lambda: parse_stat(full),
        "parse_stat(show stat app 6 -1) [big]": lambda: parse_stat(one),
        "judge_backends(every backend) [big]": lambda: judge_backends(parsed, []),
        "judge_backends(app) [big]": lambda: judge_backends(parsed, [Limit("app")]),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(got) for name, got in times.items()}


def report(spawned: dict[str, dict[str, float]],
           direct: dict[tuple[str, str], tuple[float, int]],
           parsing: dict[str, float], runs: int, direct_runs: int) -> str:
    servers = EXTRA_BACKENDS * SERVERS_PER_BACKEND
    click = spawned["python3 -c 'import click'"]["wall"]
    lines = [
        (f"scale: small = backend app (1 server); big = app + {EXTRA_BACKENDS:,} backends × "
         f"{SERVERS_PER_BACKEND} servers ({servers:,} servers, no checks)"),
        (f"spawned: {runs} runs each, interleaved in blocks of {BLOCK}; median of the block "
         "medians; one machine, one run"),
        (f"{'command':<34} {'haproxy':<7} {'wall ms':>8} {'cpu ms':>8} {'rss MiB':>8} "
         f"{'÷ click':>8}"),
    ]
    for name, got in spawned.items():
        label, _, which = name.partition("|")
        where = {"s": "small", "b": "big", "": "-"}[which]
        lines.append(f"{label:<34} {where:<7} {got['wall']:8.1f} {got['cpu']:8.1f} "
                     f"{got['rss']:8.1f} {got['wall'] / click:8.2f}")
    lines.append("")
    lines.append(f"{'big ÷ small':<42} {'wall':>8} {'cpu':>8}")
    ratios: dict[str, float] = {}
    for label in ("lbcheck haproxy", "lbcheck haproxy --backend app",
                  "lbcheck backends (every backend)"):
        s, b = spawned[f"{label}|s"], spawned[f"{label}|b"]
        ratios[label] = b["wall"] / s["wall"]
        lines.append(f"{label:<42} {ratios[label]:7.2f}× {b['cpu'] / s['cpu']:7.2f}×")
    ratio = ratios["lbcheck haproxy --backend app"]
    lines.append(f"target: lbcheck haproxy --backend app big/small ≤ {TARGET}× (wall): "
                 f"{ratio:.2f}× — {'met' if ratio <= TARGET else 'NOT met'}")
    lines.append("")
    lines.append(f"stats socket, in-process raw socket, connect → EOF, median of {direct_runs}")
    lines.append(f"{'command':<34} {'small ms':>9} {'bytes':>10} {'big ms':>9} {'bytes':>10}")
    for command in DIRECT:
        (s_ms, s_size), (b_ms, b_size) = direct[command, "s"], direct[command, "b"]
        lines.append(f"{command:<34} {s_ms:9.2f} {s_size:10,} {b_ms:9.2f} {b_size:10,}")
    lines.append("")
    lines.append(f"installed parser, in-process, median of {direct_runs}")
    for name, ms in parsing.items():
        lines.append(f"{name:<42} {ms:8.2f} ms")
    return "\n".join(lines)
