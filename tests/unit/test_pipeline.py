"""The check pipeline: probes under one deadline become one Outcome, for the spawned check and
the watcher alike."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from lbcheck.checks.haproxy import check
from lbcheck.checks.options import haproxy_target
from lbcheck.checks.pipeline import Check, run_check
from lbcheck.checks.watch.track_file import TrackFile
from lbcheck.checks.watch.watcher import Watcher
from lbcheck.cli import main as lbcheck_main
from lbcheck.config import load
from lbcheck.deadline import Deadline, DeadlineExceeded
from lbcheck.outcome import Sample, State


def test_samples_thresholds_and_elapsed_make_the_outcome() -> None:
    """The probes' samples in order, the check's thresholds, and the time the probes took."""
    def probes(deadline: Deadline) -> list[Sample]:
        time.sleep(0.02)  # the work being timed, not a wait for another process
        return [Sample("a", State.OK, "fine"), Sample("b", State.WARN, "meh")]

    outcome = run_check(Check("pair", probes, ("a ≥ 1",)), Deadline(1))
    assert ([("a", State.OK), ("b", State.WARN)], ("a ≥ 1",), State.WARN) == (
        [(s.probe, s.state) for s in outcome.samples], outcome.thresholds, outcome.state)
    assert 20 <= outcome.elapsed_ms < 1000


def test_a_probe_out_of_time_is_one_unknown_sample_named_after_the_check() -> None:
    """Whatever the probes had found is lost with them: the check's name says who ran out."""
    def probes(deadline: Deadline) -> list[Sample]:
        raise DeadlineExceeded("deadline of 0.3 s passed")

    outcome = run_check(Check("haproxy", probes, ("x",)), Deadline(0.3))
    assert ((Sample("haproxy", State.UNKNOWN, "deadline of 0.3 s passed"),), ("x",)) == (
        outcome.samples, outcome.thresholds)
    assert "haproxy: deadline of 0.3 s passed" == outcome.reason


def test_a_probe_that_ignores_its_timeout_is_stopped_by_the_deadline() -> None:
    """SIGALRM is the backstop: a blocking call that never looks at the deadline still ends
    at the deadline (plus the guard's slack), as UNKNOWN, and leaves no alarm armed."""
    def probes(deadline: Deadline) -> list[Sample]:
        time.sleep(5)  # a stuck read that ignores deadline.timeout()
        return [Sample("never", State.OK, "")]

    outcome = run_check(Check("tcp", probes), Deadline(0.1))
    assert [("tcp", State.UNKNOWN)] == [(s.probe, s.state) for s in outcome.samples]
    assert 100 <= outcome.elapsed_ms < 1000
    assert (0.0, 0.0) == signal.getitimer(signal.ITIMER_REAL)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config that logs into ``tmp_path`` and keeps its state there."""
    config = tmp_path / "lbcheck.toml"
    config.write_text(f'[log]\ntarget = "{tmp_path / "log.jsonl"}"\n'
                      f'[check]\nstate_dir = "{tmp_path / "state"}"\n')
    monkeypatch.setenv("LBCHECK_CONFIG", str(config))
    monkeypatch.delenv("LBCHECK_STATE_DIR", raising=False)
    return config


def test_the_watcher_and_the_spawned_check_judge_a_target_alike(
        tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Same target, same Outcome shape: `lbcheck --json haproxy` and one watcher cycle name the
    same probes with the same states and carry the same thresholds (haproxy is not running
    here: the process probe fails, the others are skipped)."""
    socket, master, pidfile = (str(tmp_path / name)
                               for name in ("admin.sock", "master.sock", "haproxy.pid"))
    argv = ["--json", "haproxy", "--socket", socket, "--master-socket", master,
            "--pidfile", pidfile, "--backend", "app:50%"]
    saved = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exited:
            lbcheck_main(argv)
    finally:
        signal.signal(signal.SIGTERM, saved)  # main() installs its own
    spawned = json.loads(capsys.readouterr().out)

    from lbcheck.checks.backends import parse_limit

    config = load(str(config_file))
    target = haproxy_target(config, socket, master, pidfile, (parse_limit("app:50%"),))
    watcher = Watcher(target, TrackFile(str(tmp_path / "track")), 0.2, 1, 1, 0.8, config.log)
    try:
        watched = watcher.cycle()
    finally:
        watcher.deaths.close()

    assert (spawned["exit_code"], spawned["thresholds"]) == (
        exited.value.code, list(check(target).thresholds))
    assert list(watched.thresholds) == spawned["thresholds"]
    assert 4 == len(watched.thresholds)  # process, socket, master, backends
    assert [(p["name"], p["state"]) for p in spawned["probes"]] == [
        (s.probe, "SKIPPED" if s.skipped else s.state.name) for s in watched.samples]
    assert (spawned["state"], spawned["exit_code"]) == (
        watched.state.name, watched.state.exit_code)
