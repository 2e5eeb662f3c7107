"""What an `lbnotify` hook costs keepalived, pager up and down, and FIFO throughput.

Baseline from the same run: `python3 -c pass` (the interpreter floor) and a notify script of
the kind operators write (`/bin/sh -c 'logger …'`-style: here `sh -c 'echo … >> file'`).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.receiver import running
from tests.support.notify import ROUTING_KEY

BIN = Path(sys.executable).parent


def _config(workdir: Path, url: str) -> Path:
    path = workdir / "lbcheck.toml"
    path.write_text(
        f'[log]\ntarget = "{workdir / "log.jsonl"}"\n'
        f'[notify]\nstate_dir = "{workdir / "state"}"\n'
        f'[keepalived]\nconfig = "{workdir / "keepalived.conf"}"\n'
        f'[page]\noutbox = "{workdir / "outbox"}"\nbudget = 0.5\nflap_window = 0.0\n'
        # The pager-down hooks start a detached sender: let it go soon after the bench.
        'sender_give_up = 30\n'
        f'[[page.target]]\ntype = "pagerduty"\nurl = "{url}/v2/enqueue"\n'
        f'routing_key = "{ROUTING_KEY}"\n')
    path.chmod(0o600)
    return path


def _wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=False, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _hooks(config: Path, runs: int) -> float:
    """Median wall ms of FAULT/BACKUP hooks alternating (each one pages)."""
    times = []
    for i in range(runs):
        state = "FAULT" if i % 2 == 0 else "BACKUP"
        started = time.perf_counter()
        subprocess.run([str(BIN / "lbnotify"), "--config", str(config), "INSTANCE", "VI_1",
                        state, "100"], check=False, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _fifo_throughput(config: Path, workdir: Path, count: int = 1000) -> float:
    fifo = workdir / "notify.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen([str(BIN / "lbnotify"), "--config", str(config), "fifo",
                               str(fifo)], stderr=subprocess.DEVNULL)
    log = workdir / "log.jsonl"
    try:
        started = time.perf_counter()
        with open(fifo, "w") as writer:
            writer.writelines(f'INSTANCE "VI_{i % 5}" {"FAULT" if i % 2 else "BACKUP"} 100\n'
                              for i in range(count))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if log.exists() and log.read_text().count('"vrrp_event"') >= count:
                break
            time.sleep(0.02)
        took = time.perf_counter() - started
    finally:
        reader.send_signal(signal.SIGTERM)
        reader.wait(timeout=30)
    handled = sum(1 for line in log.read_text().splitlines()
                  if json.loads(line)["event"] == "vrrp_event")
    return handled / took


def run(runs: int = 15) -> str:
    rows = []
    with running() as receiver:
        up = Path(tempfile.mkdtemp(prefix="lbnotify-bench-up-"))
        rows.append(("lbnotify event (pager up)", _hooks(_config(up, receiver.url), runs)))
        down = Path(tempfile.mkdtemp(prefix="lbnotify-bench-down-"))
        config_down = _config(down, receiver.url)
        receiver.down()
        rows.append(("lbnotify event (pager down)", _hooks(config_down, runs)))
        receiver.up()
        fifo_dir = Path(tempfile.mkdtemp(prefix="lbnotify-bench-fifo-"))
        throughput = _fifo_throughput(_config(fifo_dir, receiver.url), fifo_dir)
    sink = Path(tempfile.mkdtemp()) / "sink"
    rows.append(("sh -c 'echo … >> file' (typical)", _wall(
        ["sh", "-c", f"echo INSTANCE VI_1 MASTER 100 >> {sink}"], runs)))
    rows.append(("python3 -c pass", _wall([sys.executable, "-c", "pass"], runs)))
    lines = [f"notify hooks: median wall ms over {runs} runs (each FAULT/BACKUP hook pages)"]
    lines += [f"{name:<36} {ms:8.1f} ms" for name, ms in rows]
    lines.append(f"FIFO reader: {throughput:.0f} events/s handled (1000-event burst, each paged)")
    return "\n".join(lines)
