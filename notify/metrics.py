"""lbnotify's Prometheus textfile, for node_exporter's textfile collector (prometheus-client).

Per VRRP instance (and sync group): the current state — one series per state, 1 for the
current one, as keepalived-exporter users expect — the transitions seen and when the state
last changed; for the outbox: depth, the oldest page's age, dead letters, and the sent /
failed / dead totals; per VIP the pair watch watches, its holders and condition (a
stateset) as its last round saw them. Fleets scrape it with node_exporter: no signals to
keepalived, no dumps.

Every writer (each hook run, the FIFO reader on every event, the sender after each flush,
``lbnotify flush``) renders it from what is on disk — the per-instance memory and the
outbox — never from its own counters: a hook lives a fraction of a second, and the totals
must outlive it. A lock makes the writer that reads last the one that writes last; the file is
replaced atomically (:func:`lbcheck.files.write_atomic`), so a scrape never sees half.

The label is ``name``, not ``instance``: Prometheus sets ``instance`` on every scraped series.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from lbcheck.config import Config
from lbcheck.files import write_atomic
from lbcheck.notify.events import STATES
from lbcheck.notify.lock import held, lock_dir
from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.outbox import Outbox, OutboxStats
from lbcheck.notify.paging.policy import Memory
from lbcheck.notify.pairwatch import store as pair_store
from lbcheck.notify.pairwatch.tracker import CONDITIONS, VipState

METRICS_LOCK = "metrics.lock"  # in STATE_DIR/locks (the table: lbcheck.notify.lock)
LOCK_WAIT = 0.5  # past this, write anyway: a stale-by-one file beats none


class MetricsError(Exception):
    """The textfile cannot be written (its directory is missing, the disk is full)."""


class _Snapshot:
    """A collector over one reading of the disk (prometheus-client calls ``collect``)."""

    def __init__(self, memories: list[Memory], stats: OutboxStats,
                 vips: Sequence[VipState] = ()) -> None:
        self.memories = memories
        self.stats = stats
        self.vips = vips

    def collect(self) -> Iterator[Metric]:
        labels = ["kind", "name"]
        state = GaugeMetricFamily(
            "lbnotify_vrrp_state",
            "1 for the VRRP state the instance (or sync group) is in, 0 for the others",
            labels=[*labels, "state"])
        transitions = CounterMetricFamily(
            "lbnotify_vrrp_transitions", "VRRP state changes lbnotify was told of", labels=labels)
        changed = GaugeMetricFamily(
            "lbnotify_vrrp_last_change_timestamp_seconds",
            "When the state last changed (or was first reported)", labels=labels)
        for memory in self.memories:
            for name in STATES:
                state.add_metric([memory.kind, memory.name, name], float(memory.state == name))
            transitions.add_metric([memory.kind, memory.name], memory.transitions)
            if memory.changed_at is not None:
                changed.add_metric([memory.kind, memory.name], memory.changed_at)
        yield from (state, transitions, changed)
        stats = self.stats
        for name, doc, value in (
            ("lbnotify_outbox_depth", "Pages waiting to be delivered", stats.depth),
            ("lbnotify_outbox_oldest_age_seconds",
             "How long the oldest waiting page has waited (0 when none waits)",
             stats.oldest_age or 0.0),
            ("lbnotify_outbox_rejected",
             "Waiting pages the pager refused for our key or URL (kept, retried slowly)",
             stats.rejected),
            ("lbnotify_outbox_dead", "Pages the pager rejected for good, kept in outbox/dead",
             stats.dead),
            ("lbnotify_outbox_corrupt", "Unreadable files moved to outbox/corrupt",
             stats.quarantined),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        for name, doc, value in (
            ("lbnotify_pages_sent", "Pages a pager accepted", stats.sent_total),
            ("lbnotify_pages_failed", "Delivery attempts that failed and will be retried",
             stats.failures_total),
            ("lbnotify_pages_dead", "Pages moved to dead letters", stats.dead_total),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        if self.vips:
            yield from _vip_families(self.vips)


def _vip_families(vips: Sequence[VipState]) -> Iterator[Metric]:
    """The pair watch's last round: holders per VIP and its condition, a stateset."""
    labels = ["address", "interface"]
    holders = GaugeMetricFamily(
        "lbnotify_vip_holders",
        "Hosts that held the VIP at the pair watch's last round that could ask", labels=labels)
    condition = GaugeMetricFamily(
        "lbnotify_vip_condition",
        "1 for the VIP's condition at the last round (ok: one holder, split: two or more, "
        "none: no holder, unknown: could not ask), 0 for the others",
        labels=[*labels, "state"])
    for vip in vips:
        if vip.holders is not None:
            holders.add_metric([vip.address, vip.interface], vip.holders)
        for name in CONDITIONS:
            condition.add_metric([vip.address, vip.interface, name], float(vip.seen == name))
    yield from (holders, condition)


def render(memories: list[Memory], stats: OutboxStats,
           vips: Sequence[VipState] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(memories, stats, vips))
    return registry


def _watched(config: Config) -> list[VipState]:
    """The pair watch's last round, when the watch is on; [] when it cannot be read (the
    watch logs that itself: the textfile goes on without it)."""
    if config.vips.watch_interval <= 0:
        return []
    try:
        return pair_store.load(config.notify.state_dir)
    except pair_store.StoreError:
        return []


def write(config: Config, log: Any = None) -> bool:
    """Write the textfile if ``[notify] metrics_file`` is set; False when it is not."""
    path = config.notify.metrics_file
    if not path:
        return False
    state_dir = config.notify.state_dir
    with ExitStack() as stack:
        try:  # held or not (after LOCK_WAIT), we write
            stack.enter_context(held(lock_dir(state_dir) / METRICS_LOCK, LOCK_WAIT))
        except OSError:
            pass  # unlocked is still correct, only possibly one write stale
        try:
            stats = Outbox.from_section(config.page, log).stats()
            registry = render(page_memory.all_memories(state_dir), stats, _watched(config))
            # Not prometheus-client's writer: its temp name PATH.PID.THREAD is opened through
            # a symlink planted there. Replaced whole, so the textfile's directory may be
            # shared.
            write_atomic(path, generate_latest(registry), mode=0o644, shared_ok=True)
        except OSError as exc:
            raise MetricsError(f"cannot write metrics to {path}: {exc.strerror}") from None
    return True
