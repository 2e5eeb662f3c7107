"""Log transitions, not heartbeats.

A check runs every second; a log line per run buries the one that matters. We keep the last
verdict in a tiny file and log (with structlog, imported only here) when it changes — so the
every-second healthy path costs one small read and no import.
"""

from __future__ import annotations

import os
import zlib
from typing import NamedTuple

from lbcheck.config import LogSection
from lbcheck.deadline import Deadline, DeadlineExceeded
from lbcheck.files import read_regular, write_atomic
from lbcheck.outcome import Outcome, State

STATE_LIMIT = 64  # bytes: a state name and a newline; anything bigger is not ours


class Change(NamedTuple):
    """What remembering a verdict did: whether it changed (log it), from what, or why not."""

    changed: bool
    previous: str | None
    problem: str | None = None


def state_key(command: str, params: object) -> str:
    """Distinct checks (other socket, other backend limits) keep distinct state files."""
    return f"{command}-{zlib.crc32(repr(params).encode()):08x}"


def record(outcome: Outcome, key: str, state_dir: str, log: LogSection) -> str | None:
    """Remember the verdict; log when it changed. Returns why recording failed, if it did."""
    change = remember(outcome.state.name, key, state_dir)
    if change.changed:
        log_transition(outcome, key, change.previous, log)
    return change.problem


def remember(state: str, key: str, state_dir: str, deadline: Deadline | None = None) -> Change:
    """Keep ``state`` as the last verdict of ``key``; within ``deadline`` when one is given.

    The state directory may be shared with the script user (``/run/lbcheck`` chowned to it),
    so whatever sits at the path is judged, never trusted: a symlink or a FIFO there is a
    reason returned (nothing followed, nothing blocks), and the file is replaced whole under
    a fresh temp name (:func:`lbcheck.files.write_atomic`). Under ``deadline`` (SIGALRM, main
    thread) a slow disk costs the transition log line, not keepalived's timeout.
    """
    if deadline is None:
        return _remember(state, key, state_dir)
    try:
        with deadline.guard():
            return _remember(state, key, state_dir)
    except DeadlineExceeded:
        return Change(False, None, f"cannot record state in {state_dir}: deadline passed")


def _remember(state: str, key: str, state_dir: str) -> Change:
    path = os.path.join(state_dir, key)
    try:
        old: str | None = read_regular(path, STATE_LIMIT).decode("ascii", "replace").strip()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        return Change(False, None, f"cannot read state {path}: {exc.strerror}")
    if old == state:
        return Change(False, old)
    try:
        os.makedirs(state_dir, exist_ok=True)
        write_atomic(path, f"{state}\n".encode(), mode=0o644, shared_ok=True)
    except OSError as exc:
        return Change(False, old, f"cannot record state in {state_dir}: {exc.strerror}")
    return Change(True, old)


def log_transition(outcome: Outcome, key: str, old: str | None, section: LogSection) -> None:
    """One structured line for a verdict change (structlog is imported here, not before)."""
    from lbcheck.log import get_logger

    level = "info" if outcome.state <= State.WARN else "error"
    logger = get_logger(section, "lbcheck")
    getattr(logger, level)(
        "check_transition",
        check=key,
        previous=old,
        state=outcome.state.name,
        exit_code=outcome.state.exit_code,
        reason=outcome.reason,
        elapsed_ms=round(outcome.elapsed_ms, 2),
        probes={s.probe: {"state": "SKIPPED" if s.skipped else s.state.name, "reason": s.reason,
                          "ms": round(s.elapsed_ms, 2)} for s in outcome.samples},
    )
