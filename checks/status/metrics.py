"""`lbcheck status --textfile PATH`: keepalived's live state as a Prometheus textfile.

What the keepalived exporters lack: the effective priority next to the base one, each
tracker's status and what it adds to the priority, and whether the instance is where its
config means it to be. Run from a timer (debian/lbcheck-status.timer, every 15 s): asking
keepalived for a dump costs it a file write, so not every second.

Same convention as the other two textfiles (docs/watch.md): states are statesets, moments
``_timestamp_seconds``; the file is replaced whole by :func:`lbcheck.files.write_atomic`.
When keepalived cannot be asked, only ``lbcheck_keepalived_up 0`` and the timestamp are
written: stale numbers from the last good ask would read as now.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from lbcheck.checks.status.view import Status
from lbcheck.files import write_atomic

STATES = ("MASTER", "BACKUP", "FAULT", "INIT", "STOP", "UNKNOWN")
TRACKER_STATES = ("OK", "FAILING", "UNKNOWN")


def _registry() -> tuple[CollectorRegistry, Gauge, Gauge]:
    registry = CollectorRegistry()
    up = Gauge("lbcheck_keepalived_up", "1 when keepalived answered with a dump we believe",
               registry=registry)
    asked = Gauge("lbcheck_keepalived_asked_timestamp_seconds", "When lbcheck status asked",
                  registry=registry)
    return registry, up, asked


def render(status: Status, now: float | None = None) -> bytes:
    registry, up, asked = _registry()
    up.set(1)
    asked.set(time.time() if now is None else now)
    labels = ["instance"]
    state = Gauge("lbcheck_keepalived_vrrp_state", "1 for the instance's state (state label), "
                  "0 for the others", [*labels, "state"], registry=registry)
    base = Gauge("lbcheck_keepalived_base_priority", "The configured priority",
                 labels, registry=registry)
    effective = Gauge("lbcheck_keepalived_effective_priority", "The priority keepalived "
                      "advertises now (base plus what the trackers add)", labels,
                      registry=registry)
    master = Gauge("lbcheck_keepalived_master_priority", "The priority the master this "
                   "BACKUP hears advertises", labels, registry=registry)
    intended = Gauge("lbcheck_keepalived_as_configured", "1 when the instance is in the "
                     "state its config intends", labels, registry=registry)
    healthy = Gauge("lbcheck_keepalived_healthy", "1 when every tracker is OK and no VIP is "
                    "misplaced", labels, registry=registry)
    since = Gauge("lbcheck_keepalived_last_transition_timestamp_seconds",
                  "When the instance last changed state", labels, registry=registry)
    tracker_labels = [*labels, "kind", "tracker"]
    tracker_state = Gauge("lbcheck_keepalived_tracker_status", "1 for the tracker's status "
                          "(state label: OK, FAILING, UNKNOWN), 0 for the others",
                          [*tracker_labels, "state"], registry=registry)
    weight = Gauge("lbcheck_keepalived_tracker_weight", "The tracker's weight for the "
                   "instance (0: failing puts it in FAULT)", tracker_labels, registry=registry)
    added = Gauge("lbcheck_keepalived_tracker_priority_change", "What the tracker adds to "
                  "the priority now", tracker_labels, registry=registry)
    for instance in status.instances:
        name = instance.name
        current = instance.state if instance.state in STATES else "UNKNOWN"
        for word in STATES:
            state.labels(name, word).set(float(word == current))
        for gauge, value in ((base, instance.base_priority),
                             (effective, instance.effective_priority),
                             (master, instance.master_priority), (since, instance.since)):
            if value is not None:
                gauge.labels(name).set(value)
        intended.labels(name).set(float(instance.as_intended))
        healthy.labels(name).set(float(instance.healthy))
        for tracker in instance.trackers:
            word = "UNKNOWN" if tracker.ok is None else "OK" if tracker.ok else "FAILING"
            for choice in TRACKER_STATES:
                tracker_state.labels(name, tracker.kind, tracker.name, choice).set(
                    float(choice == word))
            if tracker.weight is not None:
                weight.labels(name, tracker.kind, tracker.name).set(tracker.weight)
            if tracker.contribution is not None:
                added.labels(name, tracker.kind, tracker.name).set(tracker.contribution)
    return generate_latest(registry)


def render_unavailable(now: float | None = None) -> bytes:
    registry, up, asked = _registry()
    up.set(0)
    asked.set(time.time() if now is None else now)
    return generate_latest(registry)


def write(path: str, status: Status) -> None:
    write_atomic(path, render(status), mode=0o644, shared_ok=True)


def write_unavailable(path: str, why: str) -> None:
    """``why`` is printed by the caller; the textfile only says "down"."""
    write_atomic(path, render_unavailable(), mode=0o644, shared_ok=True)
