"""Debian's real Alertmanager and node_exporter as test servers, on 127.0.0.1 and a free port.

Each runs as a child process of the test with its own temp directory, answers its readiness
URL before the test goes on, and is stopped by the fixture that started it (SIGTERM, then
SIGKILL after a bound) even when the test fails. Their output goes to a file in that
directory, shown in the failure message when a server does not come up.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

ALERTMANAGER = "prometheus-alertmanager"
NODE_EXPORTER = "prometheus-node-exporter"
START_TIMEOUT = 20.0  # two shared cores: a Go binary's start-up is ~0.2 s when idle
STOP_TIMEOUT = 10.0
# Everything an Alertmanager needs to accept alerts: one route, to a receiver that sends
# nothing anywhere (the tests read the alerts back over the API).
ALERTMANAGER_CONFIG = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'

T = TypeVar("T")


def missing(binary: str) -> str | None:
    """Why a test cannot run ``binary``, or None when it can."""
    if shutil.which(binary) is None:
        return f"{binary} is not installed (bin/setup installs Debian's package)"
    return None


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             every: float = 0.05) -> T:
    """``probe()``'s first truthy answer; AssertionError naming ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= end:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


class Server:
    """One server process; ``argv`` is fixed at construction so a restart is the same one."""

    ready_path = "/"

    def __init__(self, workdir: Path, argv: list[str], port: int) -> None:
        self.workdir = workdir
        self.argv = argv
        self.port = port
        self.output = workdir / "output.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        wait_for(f"{self.argv[0]} ready at {self.url}{self.ready_path} "
                 f"(its output: {self.output})", self._ready, START_TIMEOUT)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.argv[0]} exited {self.proc.returncode}: "
                                 f"{self.output.read_text(errors='replace')[-2000:]}")
        try:
            return requests.get(self.url + self.ready_path, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within the bound; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(self.url + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json() if "json" in response.headers.get("Content-Type", "") else (
            response.text)


class Alertmanager(Server):
    """Alertmanager with a null receiver, no clustering (no gossip port), its own storage."""

    ready_path = "/-/ready"

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "alertmanager.yml"
        config.write_text(ALERTMANAGER_CONFIG)
        port = free_port()
        super().__init__(workdir, [
            ALERTMANAGER, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        ], port)

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds as not resolved (GET /api/v2/alerts)."""
        found: list[dict[str, Any]] = self.get("/api/v2/alerts")
        return found

    def firing(self, **labels: str) -> dict[str, Any] | None:
        """The active alert with these labels, if there is one."""
        for alert in self.alerts():
            matches = all(alert["labels"].get(k) == v for k, v in labels.items())
            if matches and alert["status"]["state"] == "active":
                return alert
        return None


class NodeExporter(Server):
    """node_exporter with only the textfile collector, reading ``textfile_dir``."""

    ready_path = "/metrics"

    def __init__(self, workdir: Path, textfile_dir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        super().__init__(workdir, [
            NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults", "--collector.textfile",
            f"--collector.textfile.directory={textfile_dir}",
        ], port)

    def metrics(self) -> str:
        text: str = self.get("/metrics")
        return text
