"""What a big haproxy config costs a spawned check, against a one-backend haproxy in the same run.

`lbcheck haproxy --backend app` is spawned every second; if it reads the whole `show stat`, its
cost grows with every backend on the box, including the thousands it was never asked about.
Two real haproxies run side by side: *small* has only backend `app`; *big* has `app` plus
4,000 backends × 5 servers (servers without `check`, so 20,000 health checks do not load the
machine the measurement runs on). The spawned checks are interleaved with `python3 -c pass`
and `python3 -c 'import click'` so that machine load hits every case alike, and judged by the
ratio big/small, never by an absolute time; `lbcheck haproxy` without --backend is the control
(no backends probe), so what its ratio shows is not the backends probe's doing. A second table
times, in-process, the stats socket itself, the /proc probe and Python's parsing of the
replies, to show where the time goes.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.bench.spawn import measure
from tests.support.haproxy import Haproxy
from tests.support.web import WebServers

BIN = Path(sys.executable).parent
EXTRA_BACKENDS = 4000
SERVERS_PER_BACKEND = 5
TARGET = 1.1  # `--backend app` on big ÷ on small, wall: the probe must not scale with the config
BLOCK = 5  # runs per measure() call, as in tests/bench/spawn.py
DIRECT = ("show info", "show stat app 6 -1", "show stat")
PAIRED = ("lbcheck haproxy", "lbcheck haproxy --backend app", "lbcheck backends (every backend)")


def run(runs: int = 60, direct_runs: int = 20) -> str:
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
        inproc = time_in_process(small, big, direct_runs)
    finally:
        for proxy in proxies:
            proxy.stop()
        web.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(spawned, inproc, direct_runs)


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
    """label|s or label|b → (argv, state dir key); each small case is followed by its big twin,
    so that a pair is measured back to back (see :func:`paired`)."""
    python, lbcheck = sys.executable, str(BIN / "lbcheck")
    cases: dict[str, tuple[list[str], str]] = {
        "python3 -c pass": ([python, "-c", "pass"], "-"),
        "python3 -c 'import click'": ([python, "-c", "import click"], "-"),
    }
    for label in PAIRED:
        for which, proxy in (("s", small), ("b", big)):
            check = [lbcheck, "haproxy", "--socket", proxy.socket, "--pidfile", proxy.pidfile]
            argv = {"lbcheck haproxy": check,
                    "lbcheck haproxy --backend app": [*check, "--backend", "app"],
                    "lbcheck backends (every backend)": [lbcheck, "backends", "--socket",
                                                         proxy.socket]}[label]
            cases[f"{label}|{which}"] = (argv, which)
    return cases


def measure_interleaved(cases: dict[str, tuple[list[str], str]],
                        envs: dict[str, dict[str, str]],
                        runs: int) -> dict[str, list[dict[str, float]]]:
    """One block of BLOCK runs per case per round; odd rounds go in reverse order, so neither
    twin of a pair is always the one measured first, or always the one after a heavy case."""
    names = list(cases)
    blocks: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for round_ in range(max(1, runs // BLOCK)):
        for name in names if round_ % 2 == 0 else names[::-1]:
            argv, which = cases[name]
            blocks[name].append(measure(argv, BLOCK, envs[which]))
    return blocks


def summary(blocks: list[dict[str, float]]) -> dict[str, float]:
    """Median of the block medians, per column (wall, cpu, rss)."""
    return {key: statistics.median(b[key] for b in blocks) for key in blocks[0]}


def paired(small: list[dict[str, float]], big: list[dict[str, float]], key: str) -> float:
    """Median of the per-round ratios big/small: each round's twins ran back to back, so
    load that drifts between rounds (other engineers' tests) cancels out of each ratio."""
    return statistics.median(b[key] / s[key] for s, b in zip(small, big, strict=True))


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


def time_in_process(small: Haproxy, big: Haproxy,
                    runs: int) -> dict[str, dict[str, tuple[float, int | None]]]:
    """step → {s|b: (median ms, reply bytes or None)}: where a check's time goes.

    The socket rows are haproxy generating and sending its reply (no Python parsing); the
    process row is the /proc probe every `lbcheck haproxy` runs first; the parser rows are
    the installed lbcheck's own code on replies fetched once. A step's result is freed and
    collected before the next one starts, so that each pays for its own garbage, not for its
    predecessor's.
    """
    from lbcheck.checks import process
    from lbcheck.checks.backends import Limit, judge_backends, parse_stat

    steps: dict[str, dict[str, Callable[[], object]]] = {}
    for which, proxy in (("s", small), ("b", big)):
        full = proxy.query("show stat")
        parsed = parse_stat(full)
        for command in DIRECT:
            steps.setdefault(f"socket: {command}", {})[which] = partial(ask, proxy.socket,
                                                                         command)
        for label, step in {
            "process.collect (pidfile)": partial(process.collect, "haproxy", proxy.pidfile),
            "parse_stat(show stat)": partial(parse_stat, full),
            "parse_stat(show stat app 6 -1)": partial(parse_stat,
                                                      proxy.query("show stat app 6 -1")),
            "judge_backends(every backend)": partial(judge_backends, parsed, []),
            "judge_backends(app)": partial(judge_backends, parsed, [Limit("app")]),
        }.items():
            steps.setdefault(label, {})[which] = step
    times: dict[tuple[str, str], list[float]] = {}
    sizes: dict[tuple[str, str], int | None] = {}
    for _ in range(runs):  # interleaved like the spawned cases
        for label, twins in steps.items():
            for which, timed_step in twins.items():
                gc.collect()  # not the garbage of the step before: it parsed 5 MB of CSV
                started = time.perf_counter()
                result = timed_step()
                times.setdefault((label, which), []).append(
                    (time.perf_counter() - started) * 1000)
                sizes[label, which] = result if isinstance(result, int) else None
                del result  # freeing 24,000 rows takes ms: outside the next step's timing
    return {label: {which: (statistics.median(times[label, which]), sizes[label, which])
                    for which in twins} for label, twins in steps.items()}


def report(spawned: dict[str, list[dict[str, float]]],
           inproc: dict[str, dict[str, tuple[float, int | None]]], direct_runs: int) -> str:
    servers = EXTRA_BACKENDS * SERVERS_PER_BACKEND
    medians = {name: summary(blocks) for name, blocks in spawned.items()}
    click = medians["python3 -c 'import click'"]["wall"]
    rounds = len(next(iter(spawned.values())))
    lines = [
        (f"scale: small = backend app (1 server); big = app + {EXTRA_BACKENDS:,} backends × "
         f"{SERVERS_PER_BACKEND} servers ({servers:,} servers, no checks)"),
        (f"spawned: {rounds * BLOCK} runs each in {rounds} interleaved rounds of blocks of "
         f"{BLOCK}; median of the block medians; one machine, one run"),
        (f"{'command':<34} {'haproxy':<7} {'wall ms':>8} {'cpu ms':>8} {'rss MiB':>8} "
         f"{'÷ click':>8}"),
    ]
    for name, got in medians.items():
        label, _, which = name.partition("|")
        where = {"s": "small", "b": "big", "": "-"}[which]
        lines.append(f"{label:<34} {where:<7} {got['wall']:8.1f} {got['cpu']:8.1f} "
                     f"{got['rss']:8.1f} {got['wall'] / click:8.2f}")
    lines.append("")
    lines.append(f"{'big ÷ small':<34} {'wall':>8} {'cpu':>8} {'wall, paired':>13} "
                 f"{'cpu, paired':>12}")
    for label in PAIRED:
        s, b = medians[f"{label}|s"], medians[f"{label}|b"]
        pair = spawned[f"{label}|s"], spawned[f"{label}|b"]
        lines.append(f"{label:<34} {b['wall'] / s['wall']:7.2f}× {b['cpu'] / s['cpu']:7.2f}× "
                     f"{paired(*pair, 'wall'):12.2f}× {paired(*pair, 'cpu'):11.2f}×")
    app = "lbcheck haproxy --backend app"
    ratio = medians[f"{app}|b"]["wall"] / medians[f"{app}|s"]["wall"]
    lines.append(f"target: {app} big/small ≤ {TARGET}× (wall, ratio of medians): "
                 f"{ratio:.2f}× — {'met' if ratio <= TARGET else 'NOT met'}")
    lines.append("")
    lines.append(f"in-process, median of {direct_runs} (socket: raw, connect → EOF)")
    lines.append(f"{'step':<42} {'small ms':>9} {'big ms':>9} {'big bytes':>11}")
    for label, twins in inproc.items():
        (s_ms, _), (b_ms, b_size) = twins["s"], twins["b"]
        size = f"{b_size:11,}" if b_size is not None else f"{'':11}"
        lines.append(f"{label:<42} {s_ms:9.2f} {b_ms:9.2f} {size}")
    return "\n".join(lines)
