"""How an Outcome is shown: nothing (keepalived), a table (a human), JSON, or nagios.

The verbose table is for a tired on-call at 3 am: verdict first, then each probe with its
verdict, time and reason, then the thresholds that produced the verdict.
"""

from __future__ import annotations

import re

from lbcheck.outcome import Outcome, State

_LABEL = {State.OK: "OK", State.WARN: "WARN", State.UNKNOWN: "UNKNOWN",
          State.CRITICAL: "CRITICAL"}


def verbose(outcome: Outcome, command: str, deadline: float, level: int = 1) -> str:
    state = outcome.state
    # As wide as the longest probe name (`vip 2001:db8:1::10`), at least the usual 10.
    width = max([10, *(len(sample.probe) for sample in outcome.samples)])
    lines = [f"lbcheck {command}: {_LABEL[state]} (exit {state.exit_code}) — {outcome.reason}",
             "", f"  {'PROBE':<{width}} {'VERDICT':<9} {'TIME':>9}  REASON"]
    for sample in outcome.samples:
        verdict = "SKIPPED" if sample.skipped else _LABEL[sample.state]
        took = "-" if sample.skipped else f"{sample.elapsed_ms:.1f} ms"
        lines.append(f"  {sample.probe:<{width}} {verdict:<9} {took:>9}  {sample.reason}")
        if level > 1 or sample.state is not State.OK:
            lines.extend(f"  {'':<{width}} {'':<9} {'':>9}    {d}" for d in sample.details)
    lines += ["", f"  total {outcome.elapsed_ms:.1f} ms of a {deadline:g} s deadline"]
    lines += [f"  {t}" for t in outcome.thresholds]
    return "\n".join(lines)


def as_dict(outcome: Outcome, command: str, deadline: float) -> dict[str, object]:
    return {
        "command": command,
        "state": _LABEL[outcome.state],
        "exit_code": outcome.state.exit_code,
        "reason": outcome.reason,
        "elapsed_ms": round(outcome.elapsed_ms, 3),
        "deadline_s": deadline,
        "thresholds": list(outcome.thresholds),
        "probes": [
            {
                "name": s.probe,
                "state": "SKIPPED" if s.skipped else _LABEL[s.state],
                "reason": s.reason,
                "elapsed_ms": round(s.elapsed_ms, 3),
                "metrics": dict(s.metrics),
                "details": list(s.details),
            }
            for s in outcome.samples
        ],
    }


def as_json(outcome: Outcome, command: str, deadline: float) -> str:
    import json

    return json.dumps(as_dict(outcome, command, deadline))


def nagios(outcome: Outcome, command: str) -> str:
    """``SERVICE STATE - reason | perfdata``, the monitoring-plugin convention."""
    label = {State.WARN: "WARNING"}.get(outcome.state, _LABEL[outcome.state])
    perf = [f"{_perf_label(s.probe, 'time')}={s.elapsed_ms / 1000:.6f}s"
            for s in outcome.samples if not s.skipped]
    perf += [f"{_perf_label(s.probe, k)}={v:g}" for s in outcome.samples for k, v in s.metrics]
    reason = outcome.reason.replace("|", "/")  # a '|' would start the perfdata early
    line = f"{command.upper()} {label} - {reason}"
    return f"{line} | {' '.join(perf)}" if perf else line


def _perf_label(probe: str, key: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{probe}_{key}")
    return label
