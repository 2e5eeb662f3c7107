"""Prometheus textfile metrics (node_exporter's textfile collector), via prometheus-client.

prometheus-client owns the exposition format and writes the file atomically (temp + rename),
so a scrape never sees half a file. Imported only by the watcher and by lbnotify's metrics
option — never on the spawned check's path.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile

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
        write_to_textfile(self.path, self.registry)


def write_outbox_metrics(stats: Any, path: str) -> None:
    """lbnotify's outbox: depth, dead letters, deliveries and failures (from Outbox.stats())."""
    registry = CollectorRegistry()
    for name, help_text, value in (
        ("lbnotify_outbox_depth", "Pages waiting to be delivered", stats.depth),
        ("lbnotify_outbox_dead", "Pages rejected permanently (outbox/dead)", stats.dead),
        ("lbnotify_outbox_oldest_age_seconds", "Age of the oldest waiting page",
         stats.oldest_age or 0.0),
        ("lbnotify_pages_sent_total", "Pages delivered", stats.sent_total),
        ("lbnotify_delivery_failures_total", "Failed delivery attempts", stats.failures_total),
    ):
        Gauge(name, help_text, registry=registry).set(value)
    write_to_textfile(path, registry)
