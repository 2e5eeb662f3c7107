"""`lbnotify` as keepalived runs it, for tests and the benchmark: a config paging a local
receiver, the log it writes, and every process it leaves behind (hooks, FIFO readers and the
detached sender), found by the config path on their command lines so they can be stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from tests.conftest import BIN
from tests.support.waiting import eventually

# PagerDuty's integration keys have 32 characters; lbnotify refuses a config with another.
ROUTING_KEY = "lbcheck0test0routing0key00032chr"


class Notify:
    """Runs the installed `lbnotify` with a config whose pages go to ``url``.

    ``targets``: the [[page.target]] tables instead of the PagerDuty one at ``url``.
    ``page``: more [page] keys, each overriding the default of the same name: the table is
    one dict, so no key can be written twice (a duplicate key makes every run exit 2).
    """

    def __init__(self, tmp: Path, url: str, budget: float = 0.5, metrics: bool = False,
                 targets: str | None = None, flap_window: float = 0.0, **page: Any) -> None:
        self.tmp = tmp
        self.log = tmp / "lbnotify.jsonl"
        self.state = tmp / "state"
        self.config = tmp / "lbcheck.toml"
        self.metrics = tmp / "textfile" / "lbnotify.prom"
        # Tests flap instances on purpose: no flap window unless one is asked for.
        table: dict[str, Any] = {"outbox": str(tmp / "outbox"), "budget": budget,
                                 "flap_window": flap_window}
        table |= page
        self.outbox = Path(table["outbox"])
        metrics_file = ""
        if metrics:
            self.metrics.parent.mkdir(exist_ok=True)
            metrics_file = f'metrics_file = "{self.metrics}"\n'
        self.config.write_text(
            f'[log]\ntarget = "{self.log}"\n'
            f'[notify]\nstate_dir = "{self.state}"\n{metrics_file}'
            f'[keepalived]\nconfig = "{tmp / "keepalived.conf"}"\n'
            '[page]\n' + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())
            + (targets if targets is not None else
               f'[[page.target]]\ntype = "pagerduty"\nurl = "{url}/v2/enqueue"\n'
               f'routing_key = "{ROUTING_KEY}"\n'))
        self.config.chmod(0o600)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_processes()  # a detached sender outliving a test that left pages waiting

    def argv(self, *args: str) -> list[str]:
        return [str(BIN / "lbnotify"), "--config", str(self.config), *args]

    def __call__(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def timed(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = self(*args)
        return result, time.monotonic() - started

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        complete = self.log.read_text().split("\n")[:-1]  # a writer may be mid-line
        found = [json.loads(line) for line in complete if line]
        return [e for e in found if event is None or e["event"] == event]

    def wait_for_lines(self, event: str, timeout: float) -> list[dict[str, Any]]:
        """The log lines for ``event`` once there is one, or none after ``timeout`` s.

        A detached sender logs from its own fresh interpreter, which may start after the hook
        that spawned it has returned: reading the log at once would race it.
        """
        return eventually(lambda: self.lines(event), bool, timeout)

    def events(self) -> list[dict[str, Any]]:
        return self.lines("vrrp_event")

    def waiting(self) -> int:
        if not self.outbox.exists():
            return 0
        return len([p for p in self.outbox.glob("*.json") if not p.name.startswith(".")])

    def wait_until_empty(self, timeout: float) -> float | None:
        """Seconds until nothing waits in the outbox, or None if it never emptied."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.waiting() == 0:
                return time.monotonic() - started
            time.sleep(0.05)
        return None

    def processes(self) -> list[int]:
        """Live processes running for this config: hooks, FIFO readers, senders."""
        return processes_mentioning(str(self.config))

    def wait_for_no_process(self, timeout: float) -> list[int]:
        """The processes still alive after ``timeout`` s (none, if they all went)."""
        end = time.monotonic() + timeout
        while True:
            left = self.processes()
            if not left or time.monotonic() >= end:
                return left
            time.sleep(0.05)

    def stop_processes(self) -> None:
        """SIGKILL whatever still runs for this config (a test's finally), bounded."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait_for_no_process(5.0)


def processes_mentioning(text: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains ``text``."""
    needle = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The state follows the parenthesised name, which may itself hold spaces.
        if needle in cmdline and stat.rpartition(")")[2].split()[0] != "Z":
            found.append(int(entry))
    return found


class FifoReader:
    """`lbnotify fifo PATH` on a real FIFO, as keepalived's vrrp_notify_fifo_script runs it."""

    def __init__(self, notify: Notify, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.proc = subprocess.Popen([str(BIN / "lbnotify"), "--config", str(notify.config),
                                      "fifo", str(path)], stderr=subprocess.PIPE, text=True)

    def write(self, lines: list[str]) -> None:
        with open(self.path, "w") as fifo:
            fifo.write("".join(line + "\n" for line in lines))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@contextmanager
def fifo_reader(notify: Notify, path: Path) -> Iterator[FifoReader]:
    """A FIFO reader for the test's duration, killed (bounded) if the test did not stop it."""
    reader = FifoReader(notify, path)
    try:
        yield reader
    finally:
        if reader.proc.poll() is None:
            reader.proc.kill()
            reader.proc.wait(timeout=5)
