"""`lbnotify fifo PATH`: read keepalived's notify FIFO, in order, without ever falling behind.

keepalived writes the FIFO non-blocking and silently drops events when it is full, so the
reading thread does nothing but read, parse and queue; a worker thread runs the handlers in
arrival order. The outbox is flushed when the queue runs dry, not per event, so a burst with
the pager down costs one budget, not one per event. On SIGTERM (keepalived stopping) we keep
reading for a short grace period to catch the STOP events it writes on the way out.

With ``[vips] watch_interval`` set (the default), a third thread watches the pair
(:mod:`lbcheck.notify.pairwatch.watch`): who holds each VIP, asked of the segment every few
seconds. The reading thread tells it of each event before queueing it, which opens the settle
window at once and makes it read keepalived.conf again.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import stat
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING

from lbcheck.notify.events import BadEvent, Event, from_fifo_line, is_checker_line
from lbcheck.notify.handlers import Context, handle
from lbcheck.notify.paging.sender import hand_off, hand_off_enabled

if TYPE_CHECKING:
    from lbcheck.notify.pairwatch.watch import PairWatch

POLL_MS = 100
MAX_LINE = 4096  # keepalived's lines are ~50 bytes; anything longer is not keepalived


class FifoError(Exception):
    """PATH is missing or is not a FIFO."""


class FifoReader:
    def __init__(self, path: str, ctx: Context, grace: float = 0.5, idle: float = 1.0) -> None:
        self.path = path
        self.ctx = ctx
        self.grace = grace
        self.idle = idle
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.stop_at: float | None = None
        self.received = 0
        self.rejected = 0
        self.checker_lines = 0
        self.worker = threading.Thread(target=self._work, name="lbnotify-handlers")
        self.watch: PairWatch | None = None
        if ctx.config.vips.watch_interval > 0:
            from lbcheck.notify.pairwatch.watch import PairWatch

            self.watch = PairWatch(ctx)

    def run(self) -> int:
        """Read until SIGTERM (+ grace); returns the number of events handled."""
        self._check_fifo()
        signal.signal(signal.SIGTERM, self._terminate)
        signal.signal(signal.SIGINT, self._terminate)
        self.worker.start()
        if self.watch is not None:
            self.watch.start()
        self.ctx.log.info("fifo_reader_started", fifo=self.path,
                          vip_watch=self.ctx.config.vips.watch_interval or "off")
        try:
            self._read_loop()
        finally:
            if self.watch is not None:
                self.watch.stop()
            self.events.put(None)
            self.worker.join(timeout=30)
            self.ctx.log.info("fifo_reader_stopped", fifo=self.path, events=self.received,
                              rejected=self.rejected, checker_lines=self.checker_lines,
                              backlog=self.events.qsize())
        return self.received

    def _check_fifo(self) -> None:
        try:
            mode = os.stat(self.path).st_mode
        except OSError as exc:
            raise FifoError(f"cannot use FIFO {self.path}: {exc.strerror}") from None
        if not stat.S_ISFIFO(mode):
            raise FifoError(f"{self.path} is not a FIFO (keepalived creates it: set "
                            "vrrp_notify_fifo in global_defs)")

    def _terminate(self, signum: int, frame: object) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic() + self.grace

    def _read_loop(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        pending = b""
        try:
            while self.stop_at is None or time.monotonic() < self.stop_at:
                # Short polls: a SIGTERM's grace period must start counting promptly.
                if not poller.poll(POLL_MS):
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:  # every writer closed (keepalived reloading): reopen and wait
                    if pending:
                        # What the last writer left without a newline is cut off, and the
                        # next writer's first line must not be glued to it (both were lost
                        # that way). Not parsed either: a cut line can read as another valid
                        # event ("MASTER_RX_LOWER_PRI" cut to "MASTER", priority 100 to 10).
                        self._reject(pending, "incomplete line: the writer closed before "
                                     "its newline")
                        pending = b""
                    poller.unregister(fd)
                    os.close(fd)
                    fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                    poller.register(fd, select.POLLIN)
                    continue
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                if len(pending) > MAX_LINE:
                    self._reject(pending[:80], "line too long")
                    pending = b""
                for line in lines:
                    self._accept(line)
        finally:
            os.close(fd)

    def _accept(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return
        if is_checker_line(text):  # the combined notify_fifo also carries the LVS checker's
            self.checker_lines += 1
            self.ctx.log.debug("checker_fifo_line_ignored", fifo=self.path, line=text[:120])
            return
        try:
            event = from_fifo_line(text)
            if self.watch is not None:  # first: the watch reads the state the event leaves
                self.watch.heard(event)
            self.events.put(event)
            self.received += 1
            self._ensure_worker()
        except BadEvent as exc:
            self._reject(raw, str(exc))

    def _reject(self, raw: bytes, why: str) -> None:
        self.rejected += 1
        self.ctx.log.warning("bad_fifo_line", fifo=self.path, reason=why,
                             line=raw[:120].decode("utf-8", errors="replace"))

    def _work(self) -> None:
        """Handle events in order; flush the outbox and page summaries when idle.

        Nothing a step raises ends this loop: a worker that died would leave the reader
        reading events nobody handles (seen: a poisoned outbox item killed it on an idle
        flush). Each failure is one log line; the next event is handled as usual.
        """
        while True:
            try:
                event = self.events.get(timeout=self.idle)
            except queue.Empty:
                self._guarded(self._idle, "idle_step_crashed")
                continue
            if event is None:
                self._guarded(self._idle, "idle_step_crashed")
                return
            self._guarded(partial(self._handle, event), "handler_crashed",
                          instance=event.name, state=event.state)

    def _handle(self, event: Event) -> None:
        handle(event, self.ctx, flush=self.events.empty())

    def _guarded(self, step: Callable[[], object], what: str, **fields: object) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - one bad step must not stop the reader
            with suppress(Exception):  # not even a log sink that fails
                self.ctx.log.error(what, error=f"{type(exc).__name__}: {exc}", **fields)

    def _ensure_worker(self) -> None:
        """Belt and braces: should the worker thread die anyway, start another."""
        if self.worker.is_alive() or self.stop_at is not None:
            return
        with suppress(Exception):
            self.ctx.log.error("handler_thread_restarted", backlog=self.events.qsize())
        self.worker = threading.Thread(target=self._work, name="lbnotify-handlers")
        self.worker.start()

    def _idle(self) -> None:
        """Page the flap summaries and the open FAULTs Alertmanager must hear again; whatever
        waits goes to the sender (or is flushed here).

        The sender, not this thread, retries: its requests may take seconds (a slow pager),
        which would hold up the next events' handling and announcements here.
        """
        from lbcheck.notify import paging
        from lbcheck.notify.paging.outbox import Outbox, OutboxError

        page = self.ctx.config.page
        try:
            paging.queue_summaries(page, self.ctx.config.notify.state_dir, self.ctx.router,
                                   self.ctx.log)
            paging.queue_resends(page, self.ctx.config.notify.state_dir, self.ctx.router,
                                 self.ctx.log)
            if hand_off_enabled(page):
                if Outbox.from_section(page).depth():
                    hand_off(page, self.ctx.config.path)
            else:
                paging.flush(page, self.ctx.log)
        except (OutboxError, OSError) as exc:
            self.ctx.log.error("outbox_flush_failed", error=str(exc))
        # Anything else is a bug: _work's guard logs it and the next round runs as usual.
