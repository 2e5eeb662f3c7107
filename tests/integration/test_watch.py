"""`lbcheck watch` against a real haproxy: track file, hysteresis, metrics, shutdown, fds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lbcheck.checks.backends import parse_limit
from lbcheck.checks.options import haproxy_target
from lbcheck.checks.watch.metrics import DEPRECATED_STATE_GAUGE
from lbcheck.checks.watch.track_file import TrackFile
from lbcheck.checks.watch.watcher import Watcher
from lbcheck.config import load
from tests.conftest import BIN
from tests.integration.conftest import Checker
from tests.support.haproxy import Haproxy
from tests.support.textfile import convention_problems
from tests.support.waiting import eventually


class Watch:
    def __init__(self, tmp_path: Path, haproxy: Haproxy, check: Checker, *extra: str) -> None:
        self.track = tmp_path / "track"
        self.metrics = tmp_path / "lbcheck.prom"
        self.proc = subprocess.Popen(
            [str(BIN / "lbcheck"), "watch", "--track-file", str(self.track), "--interval",
             "0.1", "--rise", "3", "--fall", "2", "--metrics-file", str(self.metrics), *extra,
             "haproxy", "--socket", haproxy.socket, "--pidfile", haproxy.pidfile, "--backend",
             "app"], env=check.env)

    def value(self) -> str:
        return self.track.read_text().strip() if self.track.exists() else ""

    def wait_for(self, value: str, timeout: float = 5.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.value() == value:
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"track file stayed {self.value()!r}, wanted {value!r}")

    def fds(self) -> int:
        """Open descriptors between cycles: the least of several looks (a cycle in flight
        holds a socket for a moment)."""
        counts = []
        for _ in range(10):
            counts.append(len(os.listdir(f"/proc/{self.proc.pid}/fd")))
            time.sleep(0.013)
        return min(counts)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=5)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached within the bound"
        time.sleep(0.02)


@pytest.fixture
def watch(tmp_path: Path, haproxy: Haproxy, check: Checker) -> Iterator[Watch]:
    watcher = Watch(tmp_path, haproxy, check)
    try:
        yield watcher
    finally:
        if watcher.proc.poll() is None:
            watcher.proc.kill()
            watcher.proc.wait(timeout=5)


def test_healthy_then_hung_then_back(watch: Watch, haproxy: Haproxy) -> None:
    """0 once healthy (rise), 1 after `fall` failed cycles, 0 again after `rise` good ones."""
    watch.wait_for("0")
    haproxy.signal(signal.SIGSTOP)
    took = watch.wait_for("1", timeout=3)
    # two cycles of 0.1 s plus scheduling; the spawned check waits for keepalived
    assert took < 1.0
    haproxy.signal(signal.SIGCONT)
    watch.wait_for("0", timeout=3)
    assert 0 == watch.stop()


@pytest.mark.parametrize("reaped", [True, False], ids=["killed", "zombie"])
def test_a_death_is_seen_at_once_not_at_the_next_interval(
        tmp_path: Path, haproxy: Haproxy, check: Checker, reaped: bool) -> None:
    """With a 3 s interval, a SIGKILLed haproxy (reaped, or left a zombie) is a failure within
    half a second: the kernel wakes the watcher (pidfd), the interval does not matter."""
    watcher = Watch(tmp_path, haproxy, check, "--interval", "3", "--fall", "1", "--rise", "1")
    try:
        watcher.wait_for("0")
        time.sleep(0.2)  # the first cycle is over: the watcher sleeps for ~3 s now
        haproxy.signal(signal.SIGKILL)
        if reaped:
            assert haproxy.process is not None
            haproxy.process.wait(timeout=5)
        took = watcher.wait_for("1", timeout=5)
        assert took < 0.5, took
    finally:
        watcher.proc.kill()
        watcher.proc.wait(timeout=5)


def test_the_file_is_replaced_only_on_change(watch: Watch) -> None:
    """Steady state writes nothing: keepalived re-reads the file only when something happened."""
    watch.wait_for("0")
    before = os.stat(watch.track)
    time.sleep(1.0)  # ten cycles
    after = os.stat(watch.track)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_metrics_file_parses(watch: Watch) -> None:
    """The textfile is valid exposition format with the per-probe series."""
    watch.wait_for("0")
    text = eventually(lambda: watch.metrics.read_text() if watch.metrics.exists() else "",
                      lambda t: "lbcheck_probe_verdict{" in t, timeout=10)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"lbcheck_probe_verdict", "lbcheck_probe_duration_seconds", "lbcheck_healthy",
            "lbcheck_transitions", "lbcheck_check_cycles"} <= set(families)
    verdicts = {(s.labels["probe"], s.labels["state"]) for s in
                families["lbcheck_probe_verdict"].samples if s.value == 1}
    assert {("process", "OK"), ("socket", "OK"), ("backends", "OK")} == verdicts
    assert 1.0 == families["lbcheck_healthy"].samples[0].value
    # The 0-3 gauge stays for one release beside the stateset, with the same probes.
    assert {("process", 0.0), ("socket", 0.0), ("backends", 0.0)} == {
        (s.labels["probe"], s.value) for s in families[DEPRECATED_STATE_GAUGE].samples}
    assert [] == convention_problems(text, "lbcheck_",
                                     frozenset({DEPRECATED_STATE_GAUGE}))


def test_survives_haproxy_restarts_without_leaking_fds(tmp_path: Path, web, check: Checker,
                                                       watch: Watch, haproxy: Haproxy) -> None:
    """Killing and restarting haproxy repeatedly: verdicts follow, the fd count does not grow."""
    watch.wait_for("0")
    wait_until(lambda: check.log_file.exists() and check.log_file.stat().st_size > 0)
    # with the log file open: the first verdict is logged after it is written
    baseline = watch.fds()
    for _ in range(3):
        haproxy.stop()
        watch.wait_for("1", timeout=3)
        haproxy.start()
        watch.wait_for("0", timeout=5)
    assert baseline == watch.fds()


def test_graded_mode_writes_the_backend_shortfall(tmp_path: Path, haproxy: Haproxy,
                                                  check: Checker) -> None:
    """--graded: backends short by N write N; haproxy itself down writes 254."""
    watcher = Watch(tmp_path, haproxy, check, "--graded")
    try:
        watcher.wait_for("0")
        for server in ("web1", "web2", "spare1"):
            haproxy.query(f"disable server app/{server}")
        watcher.wait_for("1", timeout=3)  # need 1, have 0
        haproxy.signal(signal.SIGSTOP)
        watcher.wait_for("254", timeout=3)
        haproxy.signal(signal.SIGCONT)
    finally:
        watcher.proc.kill()
        watcher.proc.wait(timeout=5)


def test_once_tells_the_truth_from_the_first_cycle(tmp_path: Path, haproxy: Haproxy,
                                                   check: Checker) -> None:
    """--once with the default rise 3: one check decides, healthy is 0 (file and metrics)."""
    track, metrics = tmp_path / "once", tmp_path / "once.prom"
    result = check("watch", "--track-file", str(track), "--metrics-file", str(metrics),
                   "--once", "haproxy", "--socket", haproxy.socket, "--pidfile", haproxy.pidfile)
    assert (0, "0") == (result.returncode, track.read_text().strip())
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert 1.0 == families["lbcheck_healthy"].samples[0].value


def test_once_fails_from_the_first_cycle(tmp_path: Path, haproxy: Haproxy,
                                         check: Checker) -> None:
    """The first verdict decides the other way too: a hung haproxy is 1 at once (fall 2)."""
    track = tmp_path / "once"
    haproxy.signal(signal.SIGSTOP)
    try:
        result = check("watch", "--track-file", str(track), "--once", "haproxy",
                       "--socket", haproxy.socket, "--pidfile", haproxy.pidfile)
    finally:
        haproxy.signal(signal.SIGCONT)
    assert (1, "1") == (result.returncode, track.read_text().strip())


def test_a_restarted_watcher_never_writes_a_failure_for_a_healthy_node(
        tmp_path: Path, haproxy: Haproxy, check: Checker) -> None:
    """Restarted ten times (upgrade, Restart=always, a unit edit): every value keepalived could
    read is 0, and the file is not even rewritten (same inode) — keepalived sees no event."""
    first = Watch(tmp_path, haproxy, check)
    try:
        first.wait_for("0")
    finally:
        assert 0 == first.stop()
    inode = os.stat(first.track).st_ino
    seen: set[str] = set()
    for _ in range(10):
        watcher = Watch(tmp_path, haproxy, check)
        try:
            end = time.monotonic() + 0.6  # start-up and several 0.1 s cycles
            while time.monotonic() < end:
                seen.add(watcher.value())
                time.sleep(0.002)
        finally:
            assert 0 == watcher.stop()
    assert {"0"} == seen
    assert inode == os.stat(first.track).st_ino


def test_a_watcher_started_without_a_track_file_writes_its_first_verdict(
        tmp_path: Path, haproxy: Haproxy, check: Checker) -> None:
    """No file yet (first boot): nothing is written before a verdict, then 0 at once."""
    watcher = Watch(tmp_path, haproxy, check)
    try:
        took = watcher.wait_for("0", timeout=5)
    finally:
        watcher.stop()
    assert took < 2.0  # one cycle after start-up, not `rise` cycles


def test_unwritable_track_file_is_a_usage_error(check: Checker, haproxy: Haproxy) -> None:
    """A track file in a missing directory: one line naming it, exit 2 (checked at start)."""
    result = check("watch", "--track-file", "/nonexistent/dir/track", "haproxy")
    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines())
    assert "/nonexistent/dir does not exist" in result.stderr


def test_master_worker_reload_then_hung_worker(tmp_path: Path, haproxy_mw: Haproxy,
                                               check: Checker) -> None:
    """The watcher's remembered workers go stale on reload: it must find the new worker, and
    still notice when that one hangs."""
    watcher = Watch(tmp_path, haproxy_mw, check)
    try:
        watcher.wait_for("0")
        old = set(haproxy_mw.workers())
        for _ in range(5):  # reload: a new worker replaces the old one (resend if it was lost)
            haproxy_mw.signal(signal.SIGUSR2)
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline and not set(haproxy_mw.workers()) - old:
                time.sleep(0.05)
            if set(haproxy_mw.workers()) - old:
                break
        new = set(haproxy_mw.workers()) - old
        assert new, "haproxy did not start a new worker"
        time.sleep(0.5)
        assert "0" == watcher.value()
        for pid in haproxy_mw.workers():
            haproxy_mw.signal(signal.SIGSTOP, pid)
        watcher.wait_for("1", timeout=3)
    finally:
        watcher.proc.kill()
        watcher.proc.wait(timeout=5)


def test_the_watcher_judges_as_the_spawned_check(tmp_path: Path, haproxy_mw: Haproxy,
                                                 check: Checker) -> None:
    """One target, one pipeline: a watcher cycle and `lbcheck --json haproxy` run the same
    probes to the same states and carry the same thresholds (master CLI and backends too)."""
    paths = (haproxy_mw.socket, haproxy_mw.master_socket, haproxy_mw.pidfile)
    result = check("--json", "haproxy", "--socket", paths[0], "--master-socket", paths[1],
                   "--pidfile", paths[2], "--backend", "app")
    spawned = json.loads(result.stdout)
    config = load(check.env["LBCHECK_CONFIG"])
    watcher = Watcher(haproxy_target(config, *paths, (parse_limit("app"),)),
                      TrackFile(str(tmp_path / "track")), 0.2, 1, 1, 0.8, config.log)
    try:
        watched = watcher.cycle()
    finally:
        watcher.deaths.close()
    assert (0, "OK") == (result.returncode, spawned["state"]), result.stdout
    assert ("OK", spawned["thresholds"]) == (watched.state.name, list(watched.thresholds))
    assert [(p["name"], p["state"]) for p in spawned["probes"]] == [
        (s.probe, s.state.name) for s in watched.samples]
    assert ["process", "socket", "master", "backends"] == [s.probe for s in watched.samples]
