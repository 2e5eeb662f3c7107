"""Transitions: the verdict is remembered, and logged only when it changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lbcheck.checks.transitions import record, state_key
from lbcheck.config import LogSection
from lbcheck.outcome import Outcome, Sample, State


def outcome(state: State, reason: str = "r") -> Outcome:
    return Outcome((Sample("socket", state, reason, 1.234),), elapsed_ms=2.345)


def lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_first_verdict_is_stored_and_logged(state_dir: Path, tmp_path: Path) -> None:
    """The first run has no previous state: it writes the state file and logs one line."""
    log = tmp_path / "first.jsonl"
    assert record(outcome(State.CRITICAL, "no socket"), "haproxy-1", str(state_dir),
                  LogSection(target=str(log))) is None
    assert "CRITICAL\n" == (state_dir / "haproxy-1").read_text()
    [entry] = lines(log)
    assert {"event": "check_transition", "level": "error", "check": "haproxy-1",
            "previous": None, "state": "CRITICAL", "exit_code": 1,
            "reason": "socket: no socket", "elapsed_ms": 2.35} == {
        k: entry[k] for k in ("event", "level", "check", "previous", "state", "exit_code",
                              "reason", "elapsed_ms")}
    assert {"socket": {"state": "CRITICAL", "reason": "no socket", "ms": 1.23}} == entry["probes"]


def test_same_verdict_is_not_logged_again(state_dir: Path, tmp_path: Path) -> None:
    """A check that stays OK every second logs once, not once a second."""
    log = LogSection(target=str(tmp_path / "same.jsonl"))
    for _ in range(5):
        assert record(outcome(State.OK), "k", str(state_dir), log) is None
    assert 1 == len(lines(tmp_path / "same.jsonl"))
    assert ["k"] == [p.name for p in state_dir.iterdir()]  # no temp file left behind


def test_each_change_is_logged_with_the_previous_state(state_dir: Path, tmp_path: Path) -> None:
    """OK → CRITICAL → CRITICAL → WARN → OK: four lines, each naming where it came from."""
    path = tmp_path / "changes.jsonl"
    log = LogSection(target=str(path))
    for state in (State.OK, State.CRITICAL, State.CRITICAL, State.WARN, State.OK):
        record(outcome(state), "k", str(state_dir), log)
    assert [(None, "OK", "info"), ("OK", "CRITICAL", "error"), ("CRITICAL", "WARN", "info"),
            ("WARN", "OK", "info")] == [
        (e["previous"], e["state"], e["level"]) for e in lines(path)]
    assert "OK\n" == (state_dir / "k").read_text()


def test_missing_state_dir_is_created(tmp_path: Path) -> None:
    """/run/lbcheck does not survive a reboot: record creates it."""
    state_dir = tmp_path / "run" / "lbcheck"
    assert record(outcome(State.OK), "k", str(state_dir),
                  LogSection(target=str(tmp_path / "created.jsonl"))) is None
    assert "OK\n" == (state_dir / "k").read_text()


def test_state_dir_under_a_regular_file_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    """An unusable state dir costs the log line, not the check: a reason comes back."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = tmp_path / "blocked.jsonl"
    why = record(outcome(State.CRITICAL), "k", str(blocker / "state"), LogSection(target=str(log)))
    assert f"cannot read state {blocker}/state/k: Not a directory" == why
    assert [] == lines(log)


def test_unwritable_state_dir_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    """A state dir that cannot be created (here, inside /proc) is reported, not raised."""
    log = tmp_path / "unwritable.jsonl"
    why = record(outcome(State.OK), "k", "/proc/self/lbcheck-state", LogSection(target=str(log)))
    assert why is not None and why.startswith("cannot record state in /proc/self/lbcheck-state: ")
    assert [] == lines(log)


def test_state_key_separates_checks_with_different_parameters() -> None:
    """Other socket or other limits → another state file; same parameters → the same one."""
    a = state_key("haproxy", ("/run/haproxy/admin.sock", ("app:2",)))
    assert a == state_key("haproxy", ("/run/haproxy/admin.sock", ("app:2",)))
    assert a != state_key("haproxy", ("/run/haproxy/admin.sock", ("app:3",)))
    assert a.startswith("haproxy-") and 8 == len(a.removeprefix("haproxy-"))


def test_a_fifo_at_the_state_path_is_a_reason_not_a_hang(state_dir: Path, tmp_path: Path) -> None:
    """The read used to block on it for ever (keepalived's timeout then killed the check)."""
    os.mkfifo(state_dir / "k")
    log = tmp_path / "fifo.jsonl"
    assert (f"cannot read state {state_dir}/k: is not a regular file"
            == record(outcome(State.OK), "k", str(state_dir), LogSection(target=str(log))))
    assert [] == lines(log)


def test_a_symlink_at_the_state_path_is_not_followed(state_dir: Path, tmp_path: Path) -> None:
    """Neither read through nor written through: the file it names is unchanged."""
    target = tmp_path / "target"
    target.write_text("precious\n")
    (state_dir / "k").symlink_to(target)
    why = record(outcome(State.OK), "k", str(state_dir),
                 LogSection(target=str(tmp_path / "link.jsonl")))
    assert f"cannot read state {state_dir}/k: is a symlink" == why
    assert "precious\n" == target.read_text()

