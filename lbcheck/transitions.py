"""Log transitions, not heartbeats.

A check runs every second; a log line per run buries the one that matters. We keep the last
verdict in a tiny file and log (with structlog, imported only here) when it changes — so the
every-second healthy path costs one small read and no import.
"""

from __future__ import annotations

import os
import zlib

from lbcheck.config import LogSection
from lbcheck.outcome import Outcome, State


def state_key(command: str, params: object) -> str:
    """Distinct checks (other socket, other backend limits) keep distinct state files."""
    return f"{command}-{zlib.crc32(repr(params).encode()):08x}"


def record(outcome: Outcome, key: str, state_dir: str, log: LogSection) -> str | None:
    """Remember the verdict; log when it changed. Returns why recording failed, if it did."""
    path = os.path.join(state_dir, key)
    new = outcome.state.name
    try:
        with open(path, encoding="ascii") as fh:
            old = fh.read().strip()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        return f"cannot read state {path}: {exc.strerror}"
    if old == new:
        return None
    try:
        os.makedirs(state_dir, exist_ok=True)
        temp = f"{path}.{os.getpid()}"
        with open(temp, "w", encoding="ascii") as fh:
            fh.write(new + "\n")
        os.replace(temp, path)
    except OSError as exc:
        return f"cannot record state in {state_dir}: {exc.strerror}"
    log_transition(outcome, key, old, log)
    return None


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
