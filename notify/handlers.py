"""What lbnotify does with one Event: record + page, announce, deliver, then log it all.

Each step has its own time budget and its own failure: a pager that is down must not stop
the announcement, and a failed announcement must not lose the page. The log line at the end
says what every step did and how long it took, because keepalived throws our output away and
that line is all the on-call will have.

Each step returns its typed result (:mod:`.report`); the announcer's comes back through a
Future with a bound, so an announcement that hangs is a failed step on that line, not a
silence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from lbcheck.config import Config
from lbcheck.notify import lock, paging
from lbcheck.notify.events import Event
from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.outbox import OutboxError
from lbcheck.notify.report import AnnounceStep, DeliverStep, MetricsStep, PageStep, Report

if TYPE_CHECKING:
    from concurrent.futures import Future

ANNOUNCE_STATES = ("MASTER", "MASTER_RX_LOWER_PRI")


class Context(NamedTuple):
    config: Config
    log: Any  # a structlog bound logger
    router: str


class Announcing(NamedTuple):
    """An announcement under way: its result to come, and when it started (its bound runs
    from there, not from when the hook gets round to waiting)."""

    result: Future[AnnounceStep]
    started: float


def handle(event: Event, ctx: Context, flush: bool = True) -> Report:
    """Run every handler for ``event``; returns the report that was logged."""
    started = time.perf_counter()
    report = _page(event, ctx)
    announcing = _start_announce(event, ctx)
    deliver = _deliver(ctx) if flush else None
    if announcing is not None:
        report = report._replace(announce=_await_announce(announcing, _announce_bound(ctx)))
    if deliver is not None and deliver.waiting:  # an unusable outbox reports no "waiting"
        deliver = _hand_off(ctx, deliver)
    metrics = write_metrics(ctx) if ctx.config.notify.metrics_file else None
    report = report._replace(deliver=deliver, metrics=metrics, ms=_ms(started))
    _log(event, ctx, report)
    return report


def _page(event: Event, ctx: Context) -> Report:
    """Remember the event and queue its pages under the instance lock.

    The memory is read once, here: it gives the line its ``previous`` and the policy its
    input. A memory that cannot be read leaves ``previous`` out of the line (not null, which
    would say "first sight").
    """
    step = time.perf_counter()
    state_dir = ctx.config.notify.state_dir
    recalled, previous = False, None
    try:
        with lock.locked(state_dir, event):
            memory = page_memory.load(state_dir, event.kind, event.name)
            recalled, previous = True, memory.state if memory else None
            pages = paging.queue_remembered(event, memory, ctx.config.page, state_dir,
                                            ctx.router, ctx.log)
        page = PageStep(tuple(f"{p.action}:{p.severity}" for p in pages), ms=_ms(step))
    except (lock.LockError, page_memory.PageMemoryError, OutboxError) as exc:
        page = PageStep(error=str(exc), ms=_ms(step))
    except Exception as exc:  # noqa: BLE001 - a bug here must not stop the announcement
        page = PageStep(error=f"internal: {type(exc).__name__}: {exc}", ms=_ms(step))
    return Report(page, previous=previous, recalled=recalled)


def _deliver(ctx: Context) -> DeliverStep:
    """What waits in the outbox, sent within the hook's budget."""
    step = time.perf_counter()
    try:
        done = paging.flush(ctx.config.page, ctx.log)
    except OutboxError as exc:
        return DeliverStep(error=str(exc), ms=_ms(step))
    except Exception as exc:  # noqa: BLE001 - the page is on disk; the sender retries
        return DeliverStep(waiting=1, error=f"internal: {type(exc).__name__}: {exc}",
                           ms=_ms(step))
    return DeliverStep(done.sent, done.waiting, done.failed, done.rejected, done.dead,
                       ms=_ms(step))


def _hand_off(ctx: Context, deliver: DeliverStep) -> DeliverStep:
    """What the budget left undelivered goes to the detached sender, not to the next event.

    After the announcer has finished, so the fork carries no thread of ours — unless the
    announcement outlived its bound: the pages still go, as a hung thread does not run in
    the forked child, which execs at once.
    """
    from lbcheck.notify.paging.sender import hand_off

    step = time.perf_counter()
    try:
        deliver = deliver._replace(sender=hand_off(ctx.config.page, ctx.config.path))
    except OutboxError as exc:
        deliver = deliver._replace(error=str(exc))
    return deliver._replace(ms=round(deliver.ms + _ms(step), 2))


def write_metrics(ctx: Context) -> MetricsStep:
    """The Prometheus textfile after this event (prometheus-client is imported only here)."""
    from lbcheck.notify.metrics import MetricsError, write

    step = time.perf_counter()
    try:
        write(ctx.config, ctx.log)
    except MetricsError as exc:
        return MetricsStep(str(exc), _ms(step))
    return MetricsStep(ms=_ms(step))


def _start_announce(event: Event, ctx: Context) -> Announcing | None:
    """GARP/NA for the instance's VIPs, in a thread so paging proceeds meanwhile.

    A daemon thread completing a Future, not a ThreadPoolExecutor: the interpreter joins an
    executor's workers at exit, so a hung announcement would hold the hook past its bound.
    The thread always completes the Future, whatever ends it.
    """
    if event.kind != "INSTANCE" or event.state not in ANNOUNCE_STATES:
        return None
    from concurrent.futures import Future  # here: only an announcing hook pays its import

    started = time.perf_counter()
    result: Future[AnnounceStep] = Future()

    def run() -> None:
        try:
            step = _announce_instance(event, ctx)
        except BaseException as exc:  # noqa: BLE001 - SystemExit included: a result, always
            step = AnnounceStep(error=f"{type(exc).__name__}: {exc}", ms=_ms(started),
                                tried=False)
        result.set_result(step)

    threading.Thread(target=run, name="lbnotify-announce", daemon=True).start()
    return Announcing(result, started)


def _await_announce(announcing: Announcing, bound: float) -> AnnounceStep:
    """The announcement's result, or a failed step once ``bound`` s have passed since it
    started: the thread is left behind (a daemon: it cannot keep the hook alive)."""
    waited = time.perf_counter() - announcing.started
    try:
        return announcing.result.result(timeout=max(0.0, bound - waited))
    except TimeoutError:
        return AnnounceStep(error=f"announcement still running after {bound:g} s",
                            ms=_ms(announcing.started), tried=False)


def _announce_instance(event: Event, ctx: Context) -> AnnounceStep:
    from lbcheck.notify.vips import VipError, instance_vips

    step = time.perf_counter()
    try:
        found = instance_vips(ctx.config.keepalived.config, event.name)
        announced = announce_addresses(found.addresses, ctx)
    except VipError as exc:
        return AnnounceStep(error=str(exc), ms=_ms(step), tried=False)
    except Exception as exc:  # noqa: BLE001 - a thread's crash must become the report's line
        return AnnounceStep(error=f"{type(exc).__name__}: {exc}", ms=_ms(step), tried=False)
    # What keepalived read around (a missing include…): said, not fatal.
    return announced._replace(ms=_ms(step), config_warnings=tuple(found.warnings))


def announce_addresses(vips: list[tuple[str, str | None]], ctx: Context) -> AnnounceStep:
    """Announce (address, device) pairs on one schedule; what was sent, skipped, failed."""
    from lbcheck.notify.announce.bursts import AnnounceError, announce

    try:
        results = announce(vips, count=ctx.config.announce.count,
                           interval=ctx.config.announce.interval)
    except AnnounceError as exc:
        return AnnounceStep(error=str(exc))
    lines: dict[str, list[str]] = {"sent": [], "skipped": [], "failed": []}
    for result in results:
        kind = "failed" if result.error else "skipped" if result.skipped else "sent"
        lines[kind].append(str(result))
    return AnnounceStep(tuple(lines["sent"]), tuple(lines["skipped"]), tuple(lines["failed"]),
                        error="; ".join(lines["failed"]) or None)


def _announce_bound(ctx: Context) -> float:
    return ctx.config.announce.count * ctx.config.announce.interval + 2.0


def _log(event: Event, ctx: Context, report: Report) -> None:
    emit: Callable[..., Any] = ctx.log.error if report.failed_steps() else (
        ctx.log.warning if event.state == "FAULT" else ctx.log.info)
    emit("vrrp_event", kind=event.kind, instance=event.name, state=event.state,
         priority=event.priority, source=event.source, **report.as_log())


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
