"""A status as text (one line per instance; -v: every number behind it) and as the --json
document of docs/status.md (``SCHEMA`` counts its breaking changes)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from lbcheck.checks.status.explain import describe
from lbcheck.checks.status.view import InstanceView, Status

SCHEMA = 1


def as_text(status: Status, verbose: int = 0, now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [(f"keepalived pid {status.pid}, {status.config}; dump written "
             f"{max(0.0, now - status.written_at):.2f} s ago")]
    for instance in status.instances:
        lines.append(instance.explanation)
        lines.extend(f"  warning: {w}" for w in instance.warnings)
        if verbose:
            lines.extend(_details(instance, verbose))
    for name, state, members in status.sync_groups:
        lines.append(f"sync group {name} {state or '?'}: {', '.join(members)}")
    if status.haproxy:
        lines.append(f"haproxy: {status.haproxy}")
    lines.extend(f"note: {n}" for n in status.notes)
    lines.append(verdict(status))
    return "\n".join(lines)


def verdict(status: Status) -> str:
    off = [i.name for i in status.instances if not i.as_intended]
    sick = [i.name for i in status.instances if not i.healthy]
    if not off and not sick:
        return "OK: every instance in its configured state, every tracker OK"
    parts = []
    if off:
        parts.append(f"not in its configured state: {', '.join(off)}")
    if sick:
        parts.append(f"a tracker failing or a VIP misplaced: {', '.join(sick)}")
    return "NOT OK: " + "; ".join(parts)


def _details(instance: InstanceView, verbose: int) -> list[str]:
    out = [(f"  intended {instance.intended}; interface {instance.interface or '?'}; "
           f"priority base {_n(instance.base_priority)}, effective "
           f"{_n(instance.effective_priority)}; preempt "
           f"{'?' if instance.preempt is None else 'yes' if instance.preempt else 'no'}")]
    if instance.master_router:
        out.append(f"  master {instance.master_router} advertising "
                   f"{_n(instance.master_priority)}")
    for tracker in instance.trackers:
        effect = ("FAULT if failing" if tracker.weight == 0 and not tracker.faults
                  else "FAULT" if tracker.faults else f"{tracker.contribution:+d}"
                  if tracker.contribution is not None else "?")
        out.append(f"  {tracker.kind:<9} {describe(tracker):<40} weight "
                   f"{_n(tracker.weight):>4}  {effect}")
    for vip in instance.vips:
        where = ("here" if vip.here else "not here" if vip.here is False
                 else "here? (not in keepalived's netns)")
        held = "" if vip.holders is None else f"; pair watch: {vip.holders} holder(s)"
        excluded = " (excluded)" if vip.excluded else ""
        out.append(f"  vip {vip.address}{excluded} on {vip.interface or '?'}: {where}{held}")
    if instance.recorded is not None:
        out.append(f"  lbnotify recorded {instance.recorded.state or '?'}, "
                   f"{instance.recorded.transitions} transition(s)")
    if verbose > 1:
        out.extend(f"  missing {key}: {why}" for key, why in instance.missing.items())
    return out


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def as_json(status: Status) -> str:
    return json.dumps(document(status), sort_keys=True)


def document(status: Status) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "ok": status.ok,
        "keepalived": {"pid": status.pid, "config": status.config,
                       "data_dump": status.data_dump, "json_dump": status.json_dump,
                       "written_at": status.written_at},
        "haproxy": status.haproxy,
        "instances": [_instance(i) for i in status.instances],
        "sync_groups": [{"name": n, "state": s, "members": list(m)}
                        for n, s, m in status.sync_groups],
        "notes": list(status.notes),
        "verdict": verdict(status),
    }


def _instance(i: InstanceView) -> dict[str, Any]:
    return {
        "name": i.name, "state": i.state, "since": i.since, "intended": i.intended,
        "as_intended": i.as_intended, "healthy": i.healthy, "explanation": i.explanation,
        "warnings": list(i.warnings), "sync_group": i.sync_group, "interface": i.interface,
        "priority": {"base": i.base_priority, "effective": i.effective_priority},
        "master": {"router": i.master_router, "priority": i.master_priority},
        "preempt": i.preempt,
        "trackers": [asdict(t) for t in i.trackers],
        "vips": [asdict(v) for v in i.vips],
        "recorded": asdict(i.recorded) if i.recorded else None,
        "missing": dict(i.missing),
    }


def error_document(message: str) -> str:
    """--json when keepalived could not be asked: the same object, with ``error``."""
    return json.dumps({"schema": SCHEMA, "ok": False, "error": message}, sort_keys=True)
