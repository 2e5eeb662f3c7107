"""Paging: who gets woken up, and the promise that no page is lost on the way.

The room, in the order a page travels through it:

- :mod:`.policy` — pure rules: an Event plus what we remember → the pages to send.
- :mod:`.memory` — that per-instance memory on disk, between two hook runs.
- :mod:`.outbox` — the durable queue: a page is on disk before anything is sent.
- :mod:`.providers` — the HTTP request each pager expects, and how its answer is read.
- :mod:`.sender` — the detached process that delivers what a hook's budget left waiting.

This module is the page handler in one call: remember, decide, enqueue, then try to send.
The order is what keeps the promise "nothing is lost": pages reach the outbox before the
memory says they were sent, so a crash in between at worst repeats a page (harmless, the
dedup key is the same) and never drops one. :func:`queue_event` must run under the caller's
per-instance lock (DESIGN.md §3): it reads and writes that instance's memory.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from lbcheck.config import PageSection
from lbcheck.notify.events import Event
from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.outbox import FlushReport, Outbox
from lbcheck.notify.paging.policy import Page, decide, pending_summary

__all__ = ["flush", "queue_event", "queue_summaries", "router_name"]


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
    now = time.time() if now is None else now
    memory = page_memory.load(state_dir, event.kind, event.name)
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

    Takes no instance lock; call it from one place only (the FIFO reader or ``flush``).
    """
    now = time.time() if now is None else now
    outbox = Outbox.from_section(section, log)
    queued: list[Page] = []
    for memory in page_memory.all_memories(state_dir):
        decision = pending_summary(memory, router, section.flap_window, now)
        for page in decision.pages:
            outbox.enqueue(page)
            queued.append(page)
        if decision.memory != memory:
            page_memory.save(state_dir, decision.memory)
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
