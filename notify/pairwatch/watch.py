"""The pair watch as the FIFO reader runs it: a round every ``[vips] watch_interval`` seconds.

A round reads which VIPs keepalived.conf configures (at start, after every event — configs
change on reload — and whenever the file changes), asks the segment who holds each one
(:func:`lbcheck.link.holders.ask`: one probe per VIP, all at once), lets the
:class:`~.tracker.Tracker` decide, puts the pages in the outbox, stores the round
(:mod:`.store`), hands what waits to the sender and rewrites the metrics textfile when
something changed.

Its own thread, not the worker's idle step: a round listens for answers (``WAIT``), and an
event queued behind it — a takeover's announcement — must not wait for that. The reader
thread tells the watch of each event as it reads it (:meth:`PairWatch.heard`), so the settle
window opens when keepalived speaks, not when the worker gets to the event.

Bounded and quiet: a round takes at most ``WAIT + MARGIN`` to ask; whatever goes wrong is
one log line when it starts going wrong and one when it stops (not one per round), and
never ends the thread or the reader. One watch per node: two readers (both
``vrrp_notify_fifo`` and ``notify_fifo`` set) would page everything twice, so rounds run
under ``STATE_DIR/locks/pairwatch.lock``, taken without waiting and kept for the reader's life;
a reader that cannot have it tries again every round, and takes over when the other goes.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from lbcheck.notify.events import Event
from lbcheck.notify.paging import pair
from lbcheck.notify.paging.policy import Page
from lbcheck.notify.pairwatch import store
from lbcheck.notify.pairwatch.tracker import (
    ANY_INSTANCE,
    NONE,
    RESEND,
    RESOLVE,
    TRIGGER,
    Change,
    Rules,
    Seen,
    Tracker,
)

if TYPE_CHECKING:
    from lbcheck.keepalived_conf.vips import Vip
    from lbcheck.notify.handlers import Context

WAIT = 0.25  # seconds a round listens for answers (holders.ask's default)
MARGIN = 0.25  # the rtnetlink dumps and the sockets around it: a round asks within 0.5 s
LOCK_FILE = "pairwatch.lock"  # in STATE_DIR/locks (the table: lbcheck.notify.lock)
NETLINK_TIMEOUT = 0.5


class PairWatch:
    """The watch thread and what it keeps between rounds."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        section = ctx.config.vips
        self.interval = section.watch_interval
        page = ctx.config.page
        from lbcheck.notify.paging.providers import needs_resend

        resend = page.resend_interval if any(needs_resend(t) for t in page.targets) else None
        self.rules = Rules(rounds=section.rounds, settle=section.settle,
                           resend_interval=resend)
        self.tracker: Tracker | None = None  # made once the lock is ours (from the store)
        self._lock_fd: int | None = None
        self._transitions: queue.SimpleQueue[tuple[str, str | None, str, float]] = (
            queue.SimpleQueue())
        self._last_state: dict[tuple[str, str], str | None] = {}  # reader thread only
        self._reread = threading.Event()
        self._reread.set()
        self._stopping = threading.Event()
        self._vips: list[Vip] | None = None  # None: never read
        self._config_id: tuple[int, int, int] | None = None
        self._problems: dict[str, str] = {}  # what is wrong now, by source: logged on change
        self._thread = threading.Thread(target=self._loop, name="lbnotify-pairwatch",
                                        daemon=True)

    # -- the reader's side ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = WAIT + MARGIN + 1.0) -> None:
        """Let the round under way finish (bounded), then let go of the lock."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._lock_fd is not None and not self._thread.is_alive():
            os.close(self._lock_fd)
            self._lock_fd = None

    def heard(self, event: Event) -> None:
        """An event as the reader thread reads it, before the worker may handle it: cheap
        and thread-safe. The state it leaves is known from the previous event, or for an
        instance's first event from its page memory (one small read per instance per
        reader life: the worker has not recorded this event yet)."""
        self._reread.set()
        if not event.changes_state:
            return
        key = (event.kind, event.name)
        if key not in self._last_state:
            self._last_state[key] = self._remembered_state(event.kind, event.name)
        previous = self._last_state[key]
        self._last_state[key] = event.state
        instance = event.name if event.kind == "INSTANCE" else ANY_INSTANCE
        self._transitions.put((instance, previous, event.state, event.received))

    # -- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        next_round = time.monotonic()
        while not self._stopping.wait(max(0.0, next_round - time.monotonic())):
            next_round = time.monotonic() + self.interval
            try:
                self.run_round()
            except Exception as exc:  # noqa: BLE001 - the next round must still run
                self._problem("round", f"{type(exc).__name__}: {exc}")

    def run_round(self) -> list[Page]:
        """One round; the pages it queued."""
        if not self._own_lock():
            return []
        assert self.tracker is not None
        vips = self._current_vips()
        if vips is None:
            return []
        started = time.time()
        seen = self._ask(vips)
        while not self._transitions.empty():
            self.tracker.transition(*self._transitions.get_nowait())
        before = self.tracker.states()
        changes = self.tracker.round(seen, started)
        pages = self._page(changes, seen)
        if pages is None:  # not in the outbox: decide again next round, page nothing lost
            self.tracker.restore(before)
            return []
        after = self.tracker.states()
        decided = any(c.action != RESEND for c in changes)
        if after != before or changes:
            try:
                store.save(self.ctx.config.notify.state_dir, after, durable=decided)
                self._solved("store")
            except store.StoreError as exc:
                self._problem("store", str(exc))
        if pages:
            self._deliver()
        if after != before or pages:
            self._write_metrics()
        for change in changes:
            self._log(change)
        return pages

    def _own_lock(self) -> bool:
        """The watch lock, tried once per round; the store read afresh when it becomes ours
        (the reader that had it may have opened incidents since)."""
        if self._lock_fd is not None:
            return True
        from lbcheck.notify.lock import lock_dir, try_lock

        state_dir = self.ctx.config.notify.state_dir
        try:
            fd = try_lock(lock_dir(state_dir) / LOCK_FILE)
        except OSError as exc:
            self._problem("lock", f"cannot use state dir {state_dir}: {exc.strerror or exc}")
            return False
        if fd is None:
            self._problem("lock", "another lbnotify fifo reader runs the VIP watch")
            return False
        self._solved("lock")
        try:
            states = store.load(state_dir)
            self._solved("store")
        except store.StoreError as exc:
            self._problem("store", str(exc))
            states = []
        self._lock_fd = fd
        self.tracker = Tracker(self.rules, states)
        with suppress(Exception):
            self.ctx.log.info("vip_watch_started", interval=self.interval,
                              rounds=self.rules.rounds, settle=self.rules.settle,
                              open=[f"{s.address} {s.open}" for s in states if s.open])
        return True

    def _current_vips(self) -> list[Vip] | None:
        """keepalived.conf's VIPs, re-read after an event or a change of the file; the last
        good list when it cannot be read now (None: never read)."""
        from lbcheck.keepalived_conf.vips import VipError, all_vips, load_config

        path = self.ctx.config.keepalived.config
        try:
            info = os.stat(path)
            config_id: tuple[int, int, int] | None = (info.st_ino, info.st_size,
                                                      info.st_mtime_ns)
        except OSError:
            config_id = None
        if not self._reread.is_set() and config_id == self._config_id and self._vips is not None:
            return self._vips
        self._reread.clear()
        try:
            found = all_vips(load_config(path))
        except VipError as exc:
            self._problem("config", str(exc))
            return self._vips
        self._solved("config")
        self._config_id = config_id
        unique: dict[tuple[str, str], Vip] = {}
        for vip in found:
            unique.setdefault((vip.address, vip.interface), vip)
        self._vips = list(unique.values())
        return self._vips

    def _ask(self, vips: Sequence[Vip]) -> list[Seen]:
        """Who holds each VIP; ``unknown`` (holders None) for what could not be asked."""
        if not vips:
            return []
        from lbcheck.deadline import Deadline
        from lbcheck.link.holders import ask

        try:
            found = ask([(v.address, v.interface) for v in vips], wait=WAIT,
                        deadline=Deadline(WAIT + MARGIN))
        except Exception as exc:  # noqa: BLE001 - a probe bug is "cannot tell", not a crash
            self._problem("ask", f"{type(exc).__name__}: {exc}")
            return [Seen(v.address, v.interface, v.instance, error=str(exc)) for v in vips]
        seen = [Seen(v.address, v.interface, v.instance,
                     holders=None if h.error else h.count, local=h.local, remote=h.remote,
                     error=h.error)
                for v, h in zip(vips, found, strict=True)]
        errors = sorted({f"{s.address} on {s.interface or '?'}: {s.error}"
                         for s in seen if s.error})
        if errors:
            self._problem("ask", "; ".join(errors)[:1000])
        else:
            self._solved("ask")
        return seen

    def _page(self, changes: list[Change], seen: list[Seen]) -> list[Page] | None:
        """The changes' pages in the outbox; None when the outbox would not take them."""
        if not changes:
            return []
        from lbcheck.notify import paging
        from lbcheck.notify.paging.outbox import OutboxError

        router = self.ctx.router
        pages, resends = [], []
        for change in changes:
            state = change.state
            if change.action == RESEND:
                resends.append(pair.resend(change.condition, state.address, state.interface,
                                           router, change.since))
                continue
            where = (change.condition, state.address, state.interface, router)
            if change.action == TRIGGER:
                assert change.seen is not None  # a trigger is always a round's
                pages.append(pair.trigger(*where, self._holding(change.seen), change.since))
            else:
                holding = None if change.seen is None else self._holding(change.seen)
                pages.append(pair.resolve(*where, holding, time.time()))
        try:
            queued = paging.queue_pages(pages, resends, self.ctx.config.page, self.ctx.log)
        except (OutboxError, OSError) as exc:
            self._problem("outbox", f"cannot queue VIP pages: {exc}")
            return None
        self._solved("outbox")
        return queued

    def _holding(self, seen: Seen) -> pair.Holding:
        """What the page tells about one VIP: this node's MAC (split) or its instances'
        states (no holder), each read only for the page that needs it."""
        mac = self._local_mac(seen.interface) if seen.local else None
        states: tuple[tuple[str, str | None], ...] = ()
        if seen.condition == NONE and seen.instance:
            states = ((seen.instance, self._remembered_state("INSTANCE", seen.instance)),)
        return pair.Holding(seen.holders, seen.local, mac, seen.remote, states)

    def _local_mac(self, interface: str) -> str | None:
        from lbcheck.link import frames, netlink

        try:
            links = netlink.links(NETLINK_TIMEOUT)
        except netlink.NetlinkError:
            return None
        for link in links.values():
            if link.name == interface and len(link.mac) == 6:
                return frames.mac_text(link.mac)
        return None

    def _remembered_state(self, kind: str, name: str) -> str | None:
        """The state lbnotify last recorded (the page memory); None when it has none."""
        from lbcheck.notify.paging import memory

        with suppress(memory.PageMemoryError):
            remembered = memory.load(self.ctx.config.notify.state_dir, kind, name)
            return remembered.state if remembered is not None else None
        return None

    def _deliver(self) -> None:
        """What the round queued goes out now: to the sender as the reader's idle step does
        (so a slow pager never holds the next round), or flushed within the budget."""
        from lbcheck.notify import paging
        from lbcheck.notify.paging.outbox import OutboxError
        from lbcheck.notify.paging.sender import hand_off, hand_off_enabled

        page = self.ctx.config.page
        try:
            if hand_off_enabled(page):
                hand_off(page, self.ctx.config.path)
            else:
                paging.flush(page, self.ctx.log)
            self._solved("deliver")
        except (OutboxError, OSError) as exc:
            self._problem("deliver", str(exc))

    def _write_metrics(self) -> None:
        if not self.ctx.config.notify.metrics_file:
            return
        from lbcheck.notify.handlers import write_metrics

        step = write_metrics(self.ctx)
        if step.error:
            self._problem("metrics", step.error)
        else:
            self._solved("metrics")

    # -- the log -------------------------------------------------------------------------

    def _log(self, change: Change) -> None:
        state, seen = change.state, change.seen
        fields: dict[str, Any] = {"vip": state.address, "interface": state.interface,
                                  "instance": state.instance, "condition": change.condition,
                                  "action": change.action}
        if seen is not None:
            fields.update(holders=seen.holders, local=seen.local, remote=list(seen.remote))
        else:
            fields.update(reason="no longer in keepalived.conf")
        if change.action == TRIGGER:
            self.ctx.log.warning("vip_condition", **fields)
        elif change.action == RESOLVE:
            self.ctx.log.info("vip_condition", **fields)
        else:
            self.ctx.log.debug("vip_condition", **fields)

    def _problem(self, source: str, what: str) -> None:
        """One line when a source starts failing or fails differently; none per round."""
        if self._problems.get(source) == what:
            return
        self._problems[source] = what
        with suppress(Exception):  # not even a log sink that fails stops the watch
            self.ctx.log.error("vip_watch_problem", source=source, error=what)

    def _solved(self, source: str) -> None:
        if self._problems.pop(source, None) is not None:
            with suppress(Exception):
                self.ctx.log.info("vip_watch_recovered", source=source)

