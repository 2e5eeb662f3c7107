"""Prometheus textfile metrics (node_exporter's textfile collector), via prometheus-client.

prometheus-client owns the exposition format; the file is replaced atomically by
:func:`lbcheck.files.write_atomic` (not prometheus-client's writer, whose temp name
``PATH.PID.THREAD`` is opened through any symlink planted there), so a scrape never sees half
a file and root never writes through a link. Imported only by the watcher — never on the
spawned check's path (lbnotify's textfile is notify/metrics.py).

One convention for both halves' textfiles (docs/watch.md, docs/notify.md): a state is a
stateset — one series per possible state under a ``state`` label, 1 for the current one, 0
for the others (``lbnotify_vrrp_state``, ``lbcheck_probe_verdict``) — so a dashboard or an
alert matches a state by name and never decodes a number; counters end in ``_total``;
durations are ``_seconds``, moments ``_timestamp_seconds``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from lbcheck.files import write_atomic
from lbcheck.outcome import Outcome, State

# Deprecated: the 0-3 gauge from before the stateset (2 meant UNKNOWN there, unlike
# --nagios's 2 CRITICAL). Still written in this release for the dashboards built on it;
# removed in the next one (docs/watch.md says so).
DEPRECATED_STATE_GAUGE = "lbcheck_probe_state"


class CheckMetrics:
    """Per-probe verdict and duration, transitions, last change: what a dashboard needs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.registry = CollectorRegistry()
        labels = ["probe"]
        self.verdict = Gauge("lbcheck_probe_verdict", "1 for the probe's verdict (state label: "
                             "OK, WARN, UNKNOWN, CRITICAL), 0 for the others",
                             [*labels, "state"], registry=self.registry)
        self.state = Gauge(DEPRECATED_STATE_GAUGE, "Deprecated, removed in the next release: "
                           "use lbcheck_probe_verdict. Probe verdict: 0 OK, 1 WARN, "
                           "2 UNKNOWN, 3 CRITICAL", labels, registry=self.registry)
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
            for state in State:
                self.verdict.labels(sample.probe, state.name).set(float(sample.state is state))
            self.state.labels(sample.probe).set(int(sample.state))
            self.duration.labels(sample.probe).set(sample.elapsed_ms / 1000)
        self.healthy.set(1 if healthy else 0)
        self.cycles.inc()
        if changed:
            self.transitions.inc()
            self.last_change.set(now)

    def write(self) -> None:
        write_atomic(self.path, generate_latest(self.registry), mode=0o644, shared_ok=True)
