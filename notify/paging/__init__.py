"""Paging: who gets woken up, and the promise that no page is lost on the way.

The room, in the order a page travels through it:

- :mod:`.policy` — pure rules: an Event plus what we remember → the pages to send.
- :mod:`.memory` — that per-instance memory on disk, between two hook runs.
- :mod:`.outbox` — the durable queue: a page is on disk before anything is sent.
- :mod:`.providers` — the HTTP request each pager expects, and how its answer is read.
- :mod:`.sender` — the detached process that delivers what a hook's budget left waiting.

This module is the page handler in one call: remember, decide, enqueue, then try to send.
At idle time (the FIFO reader, ``lbnotify flush``) it also pages flap summaries and re-sends
open FAULTs to the pagers that forget them (:func:`queue_resends`).
The order is what keeps the promise "nothing is lost": pages reach the outbox before the
memory says they were sent, so a crash in between at worst repeats a page (harmless, the
dedup key is the same) and never drops one. :func:`queue_event` must run under the caller's
per-instance lock (docs/architecture.md): it reads and writes that instance's memory.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from lbcheck.config import PageSection
from lbcheck.notify import lock
from lbcheck.notify.events import Event
from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.outbox import FlushReport, Outbox
from lbcheck.notify.paging.policy import Decision, Memory, Page, decide, pending_summary, resend
from lbcheck.notify.paging.providers import needs_resend

__all__ = ["flush", "queue_event", "queue_pages", "queue_remembered", "queue_resends",
           "queue_summaries", "router_name"]

# Idle-time work (a re-send, a flap summary) never waits long for an instance a hook is
# handling right now: that hook decides the instance's fate, and the next idle moment pages
# what is still due.
IDLE_LOCK_WAIT = 0.2


def router_name() -> str:
    """Which node is speaking: the hostname, as on-call knows the machines."""
    return socket.gethostname()


def queue_event(
    event: Event,
    section: PageSection,
    state_dir: str | os.PathLike[str],
    router: str,
    log: Any = None,
    now: float | None = None,
) -> list[Page]:
    """Decide the pages ``event`` causes and put them in the outbox (no network)."""
    memory = page_memory.load(state_dir, event.kind, event.name)
    return queue_remembered(event, memory, section, state_dir, router, log, now)


def queue_remembered(
    event: Event,
    memory: Memory | None,
    section: PageSection,
    state_dir: str | os.PathLike[str],
    router: str,
    log: Any = None,
    now: float | None = None,
) -> list[Page]:
    """:func:`queue_event` on the ``memory`` the caller loaded under the same lock hold.

    The hook reads the memory once per event: it also logs the state remembered before it
    (``previous``), and a second read would cost a second open and parse on the hot path.
    """
    now = time.time() if now is None else now
    decision = decide(event, memory, router, section.flap_window, now)
    outbox = Outbox.from_section(section, log)
    for page in decision.pages:
        outbox.enqueue(page)
    if decision.memory != memory:
        page_memory.save(state_dir, decision.memory)
    return list(decision.pages)


def queue_summaries(
    section: PageSection,
    state_dir: str | os.PathLike[str],
    router: str,
    log: Any = None,
    now: float | None = None,
) -> list[Page]:
    """At idle time: one summary per instance whose flap window closed with notices held back.

    Under the instance lock (:func:`_at_idle`): the FIFO reader and the flush timer's
    ``lbnotify flush`` run this beside hooks, and a memory saved from what was read before a
    hook recorded its event would undo that event (its state, an open FAULT).
    """
    now = time.time() if now is None else now
    outbox = Outbox.from_section(section, log)

    def summarise(memory: Memory) -> Decision:
        return pending_summary(memory, router, section.flap_window, now)

    def enqueue(decision: Decision) -> list[Page]:
        for page in decision.pages:
            outbox.enqueue(page)
        return list(decision.pages)

    return _at_idle(state_dir, log, "flap_summary_skipped", summarise, enqueue)


def queue_resends(
    section: PageSection,
    state_dir: str | os.PathLike[str],
    router: str,
    log: Any = None,
    now: float | None = None,
) -> list[Page]:
    """At idle time: each open FAULT again, for the targets that forget it (Alertmanager).

    Through the outbox like every page (durable, retried, in order with the instance's
    trigger and resolve), under the instance lock so a resolve a hook is recording cannot
    be overtaken by a stale re-send. Rate-limited by :func:`.policy.resend` with the time
    kept in the page memory, so restarts and the flush timer's separate processes agree.
    A target that still has a page of this instance waiting gets none: that page refreshes
    the alert when it goes out, and an outage does not pile up one re-send per interval.
    """
    outbox = Outbox.from_section(section, log)
    wanting = [tid for tid, target in outbox.targets.items() if needs_resend(target)]
    if not wanting:
        return []
    now = time.time() if now is None else now
    busy: set[tuple[str, str]] | None = None  # lanes with a page waiting, read once if needed

    def due(memory: Memory) -> Decision:
        return resend(memory, router, section.resend_interval, now)

    def enqueue(decision: Decision) -> list[Page]:
        nonlocal busy
        if busy is None:
            busy = {item.lane for item in outbox.waiting()}
        return _enqueue_resend(outbox, decision.pages, wanting, busy)

    return _at_idle(state_dir, log, "fault_resend_skipped", due, enqueue)


def queue_pages(pages: Sequence[Page], resends: Sequence[Page], section: PageSection,
                log: Any = None) -> list[Page]:
    """Pages decided elsewhere (the pair watch) into the outbox: ``pages`` for every target,
    ``resends`` (open incidents again) for the targets that forget what is not repeated, as
    :func:`queue_resends` does for an open FAULT — none to a target still holding a page of
    the same lane (it refreshes the alert when it goes out)."""
    outbox = Outbox.from_section(section, log)
    for page in pages:
        outbox.enqueue(page)
    wanting = [tid for tid, target in outbox.targets.items() if needs_resend(target)]
    if not (resends and wanting):
        return list(pages)
    busy = {item.lane for item in outbox.waiting()}
    return [*pages, *_enqueue_resend(outbox, tuple(resends), wanting, busy)]


def _at_idle(
    state_dir: str | os.PathLike[str],
    log: Any,
    skipped: str,
    decide_for: Callable[[Memory], Decision],
    enqueue: Callable[[Decision], list[Page]],
) -> list[Page]:
    """Idle-time pages for every remembered instance, each decided twice: once on what was
    read without a lock (the common case, nothing to do, costs no lock and no write), then
    again under the instance lock on the memory read afresh, which is enqueued and saved.

    An instance whose lock stays taken (a hook at work) or whose memory cannot be read is
    skipped with one ``skipped`` log line: the next idle moment tries again.
    """
    queued: list[Page] = []
    for seen in page_memory.all_memories(state_dir):
        if not decide_for(seen).pages:
            continue
        try:
            with lock.locked_instance(str(state_dir), seen.kind, seen.name, IDLE_LOCK_WAIT):
                memory = page_memory.load(state_dir, seen.kind, seen.name)
                if memory is None:
                    continue
                decision = decide_for(memory)
                if not decision.pages:
                    continue
                queued += enqueue(decision)
                if decision.memory != memory:
                    page_memory.save(state_dir, decision.memory)
        except (lock.LockError, page_memory.PageMemoryError) as exc:
            if log is not None:
                log.warning(skipped, kind=seen.kind, instance=seen.name, reason=str(exc))
    return queued


def _enqueue_resend(outbox: Outbox, pages: tuple[Page, ...], wanting: list[str],
                    busy: set[tuple[str, str]]) -> list[Page]:
    queued = []
    for page in pages:
        only = [tid for tid in wanting if (page.instance_key, tid) not in busy]
        if only:
            outbox.enqueue(page, only)
            queued.append(page)
    return queued


def flush(
    section: PageSection,
    log: Any = None,
    budget: float | None = None,
    *,
    due_only: bool = True,
    lock_wait: float = 0.0,
) -> FlushReport:
    """Send what waits, within ``budget`` (default: the configured hook budget).

    ``due_only=False`` (``lbnotify flush``) also tries pages whose backoff has not expired.
    """
    budget = section.budget if budget is None else budget
    return Outbox.from_section(section, log).flush(budget, due_only=due_only,
                                                   lock_wait=lock_wait)
