"""What lbnotify does with one Event: record + page, announce, deliver, then log it all.

Each step has its own time budget and its own failure: a pager that is down must not stop
the announcement, and a failed announcement must not lose the page. The log line at the end
says what every step did and how long it took, because keepalived throws our output away and
that line is all the on-call will have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from lbcheck.config import Config
from lbcheck.notify import lock, paging
from lbcheck.notify.events import Event
from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.outbox import OutboxError

ANNOUNCE_STATES = ("MASTER", "MASTER_RX_LOWER_PRI")


class Context(NamedTuple):
    config: Config
    log: Any  # a structlog bound logger
    router: str


def handle(event: Event, ctx: Context, flush: bool = True) -> dict[str, Any]:
    """Run every handler for ``event``; returns the report that was logged."""
    started = time.perf_counter()
    report: dict[str, Any] = {}
    state_dir = ctx.config.notify.state_dir

    step = time.perf_counter()
    try:
        with lock.locked(state_dir, event):
            memory = page_memory.load(state_dir, event.kind, event.name)
            report["previous"] = memory.state if memory else None
            pages = paging.queue_event(event, ctx.config.page, state_dir, ctx.router, ctx.log)
        report["page"] = {"queued": [f"{p.action}:{p.severity}" for p in pages]}
    except (lock.LockError, page_memory.PageMemoryError, OutboxError) as exc:
        report["page"] = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a bug here must not stop the announcement
        report["page"] = {"error": f"internal: {type(exc).__name__}: {exc}"}
    report["page"]["ms"] = _ms(step)

    announcer = _start_announce(event, ctx, report)
    if flush:
        step = time.perf_counter()
        try:
            result = paging.flush(ctx.config.page, ctx.log)
            report["deliver"] = {"sent": result.sent, "waiting": result.waiting,
                                 "failed": result.failed, "rejected": result.rejected,
                                 "dead": result.dead, "ms": _ms(step)}
        except OutboxError as exc:
            report["deliver"] = {"error": str(exc), "ms": _ms(step)}
        except Exception as exc:  # noqa: BLE001 - the page is on disk; the sender retries
            report["deliver"] = {"error": f"internal: {type(exc).__name__}: {exc}",
                                 "waiting": 1, "ms": _ms(step)}
    if announcer is not None:
        announcer.join(timeout=_announce_bound(ctx))
    deliver = report.get("deliver", {})
    if deliver.get("waiting"):  # an unusable outbox (OutboxError) reports no "waiting"
        _hand_off(ctx, deliver)
    if ctx.config.notify.metrics_file:
        report["metrics"] = write_metrics(ctx)
    report["ms"] = _ms(started)
    _log(event, ctx, report)
    return report


def _hand_off(ctx: Context, deliver: dict[str, Any]) -> None:
    """What the budget left undelivered goes to the detached sender, not to the next event.

    After the announcer has finished: the fork then carries no thread of ours.
    """
    from lbcheck.notify.paging.sender import hand_off

    step = time.perf_counter()
    try:
        deliver["sender"] = hand_off(ctx.config.page, ctx.config.path)
    except OutboxError as exc:
        deliver["error"] = str(exc)
    deliver["ms"] = round(deliver["ms"] + _ms(step), 2)


def write_metrics(ctx: Context) -> dict[str, Any]:
    """The Prometheus textfile after this event (prometheus-client is imported only here)."""
    from lbcheck.notify.metrics import MetricsError, write

    step = time.perf_counter()
    try:
        write(ctx.config, ctx.log)
    except MetricsError as exc:
        return {"error": str(exc), "ms": _ms(step)}
    return {"ms": _ms(step)}


def _start_announce(event: Event, ctx: Context, report: dict[str, Any]) -> threading.Thread | None:
    """GARP/NA for the instance's VIPs, in a thread so paging proceeds meanwhile."""
    if event.kind != "INSTANCE" or event.state not in ANNOUNCE_STATES:
        return None
    thread = threading.Thread(target=_announce_instance, args=(event, ctx, report), daemon=True)
    thread.start()
    return thread


def _announce_instance(event: Event, ctx: Context, report: dict[str, Any]) -> None:
    from lbcheck.notify.vips import VipError, instance_vips

    step = time.perf_counter()
    try:
        found = instance_vips(ctx.config.keepalived.config, event.name)
        report["announce"] = announce_addresses(found.addresses, ctx) | {"ms": _ms(step)}
        if found.warnings:  # what keepalived read around (a missing include…): said, not fatal
            report["announce"]["config_warnings"] = found.warnings
    except VipError as exc:
        report["announce"] = {"error": str(exc), "ms": _ms(step)}
    except Exception as exc:  # noqa: BLE001 - a thread's crash must become the report's line
        report["announce"] = {"error": f"{type(exc).__name__}: {exc}", "ms": _ms(step)}


def announce_addresses(vips: list[tuple[str, str | None]], ctx: Context) -> dict[str, Any]:
    """Announce (address, device) pairs on one schedule; what was sent, skipped, failed."""
    from lbcheck.notify.announce.bursts import AnnounceError, announce

    outcome: dict[str, list[str]] = {"sent": [], "skipped": [], "failed": []}
    try:
        results = announce(vips, count=ctx.config.announce.count,
                           interval=ctx.config.announce.interval)
    except AnnounceError as exc:
        return {"error": str(exc), **outcome}
    for result in results:
        kind = "failed" if result.error else "skipped" if result.skipped else "sent"
        outcome[kind].append(str(result))
    if outcome["failed"]:
        return {"error": "; ".join(outcome["failed"]), **outcome}
    return outcome


def _announce_bound(ctx: Context) -> float:
    return ctx.config.announce.count * ctx.config.announce.interval + 2.0


def _log(event: Event, ctx: Context, report: dict[str, Any]) -> None:
    failed = any(isinstance(v, dict) and "error" in v for v in report.values())
    emit: Callable[..., Any] = ctx.log.error if failed else (
        ctx.log.warning if event.state == "FAULT" else ctx.log.info)
    emit("vrrp_event", kind=event.kind, instance=event.name, state=event.state,
         priority=event.priority, source=event.source, **report)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
