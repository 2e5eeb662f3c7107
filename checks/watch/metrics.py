"""Prometheus textfile metrics (node_exporter's textfile collector), via prometheus-client.

prometheus-client owns the exposition format; the file is replaced atomically by
:func:`lbcheck.files.write_atomic` (not prometheus-client's writer, whose temp name
``PATH.PID.THREAD`` is opened through any symlink planted there), so a scrape never sees half
a file and root never writes through a link. Imported only by the watcher — never on the
spawned check's path (lbnotify's textfile is notify/metrics.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from lbcheck.files import write_atomic
from lbcheck.outcome import Outcome


class CheckMetrics:
    """Per-probe verdict and duration, transitions, last change: what a dashboard needs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.registry = CollectorRegistry()
        labels = ["probe"]
        self.state = Gauge("lbcheck_probe_state", "Probe verdict: 0 OK, 1 WARN, 2 UNKNOWN, "
                           "3 CRITICAL", labels, registry=self.registry)
        self.duration = Gauge("lbcheck_probe_duration_seconds", "Time the probe took",
                              labels, registry=self.registry)
        self.healthy = Gauge("lbcheck_healthy", "1 when the (hysteresis-filtered) verdict "
                             "is healthy", registry=self.registry)
        self.transitions = Counter("lbcheck_transitions", "Verdict changes",
                                   registry=self.registry)
        self.last_change = Gauge("lbcheck_last_change_timestamp_seconds",
                                 "When the verdict last changed", registry=self.registry)
        self.cycles = Counter("lbcheck_check_cycles", "Check cycles run",
                              registry=self.registry)

    def observe(self, outcome: Outcome, healthy: bool, changed: bool, now: float) -> None:
        for sample in outcome.samples:
            self.state.labels(sample.probe).set(int(sample.state))
            self.duration.labels(sample.probe).set(sample.elapsed_ms / 1000)
        self.healthy.set(1 if healthy else 0)
        self.cycles.inc()
        if changed:
            self.transitions.inc()
            self.last_change.set(now)

    def write(self) -> None:
        write_atomic(self.path, generate_latest(self.registry), mode=0o644, shared_ok=True)
