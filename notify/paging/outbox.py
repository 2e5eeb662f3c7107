"""The durable outbox: every page is on disk before we try to send it, and stays until sent.

Why a directory of files and not a database: many short-lived ``lbnotify`` processes (one
per keepalived notification, 50 at once in a failover storm) plus the FIFO reader must be
able to enqueue at the same time without a server, and an operator must be able to see,
read and remove what is stuck with ``ls`` and ``cat``.

- **Enqueue** writes one file per page per target: temp file + fsync + rename + fsync of the
  directory, so a crash leaves either the whole page or a hidden temp file (removed a minute
  later: its enqueue never returned, so nobody was told it was stored), never half a page.
  Names sort in enqueue order: a sequence number that never goes backwards even when the
  clock does, then pid and a counter so names are unique.
- **Flush** sends what is due within a time budget, so keepalived's hook returns fast when
  the pager is down. One ``flock`` makes sure two flushers never send the same item at once;
  a flusher that cannot get it returns, the holder re-lists after letting go so nothing
  enqueued meanwhile waits for the next event. An item is never sent while an older item of
  the same instance and target waits (per-instance order). Failures back off exponentially
  (the next attempt time lives in the item), 429/503 ``Retry-After`` is honoured, permanent
  4xx rejections go to ``dead/`` and anything unreadable to ``corrupt/``, each with a log
  line. Delivery is at-least-once; the dedup keys make repeats harmless upstream.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbcheck.config import PageSection, PageTarget
from lbcheck.files import TEMP_PREFIX, NotRegular, TooBig, read_regular, write_atomic
from lbcheck.notify.lock import held, try_lock
from lbcheck.notify.paging import providers
from lbcheck.notify.paging.policy import Page

ITEM_NAME = re.compile(r"^(\d{20})-(\d+)-(\d+)\.([a-z]+-[0-9a-f]{12})\.json$")
MAX_SEQ = 10**20 - 1  # ITEM_NAME's 20 digits: a larger .seq would make names we quarantine
# A temp file younger than this may belong to an enqueuer still writing it.
TEMP_GRACE = 60.0
DEAD, CORRUPT = "dead", "corrupt"
LOCK_FILE, SEQ_FILE, STATS_FILE = ".flush.lock", ".seq", ".stats.json"
MAX_ROUNDS = 8  # re-lists after releasing the lock; each round is also bounded by the budget
MIN_ATTEMPT_TIME = 0.01  # less budget than this left: do not start another request
SEQ_LOCK_WAIT = 0.2
MAX_ITEM = 1 << 20  # bytes; a page is ~1 KB, so anything near this is not ours
MAX_ATTEMPTS = 1_000_000_000  # years of retries; larger counts are damage, not history
MAX_EXPONENT = 32  # backoff doubles at most this often: 2**32 s is past any cap
# A pager refusing our key or address (providers.REJECTED) is retried this slowly: the
# operator fixes the config, the next try delivers, and nobody floods a pager with a bad key.
REJECTED_BASE, REJECTED_CAP = 60.0, 300.0
MAX_STATS_READS = 1000  # items read per metrics write to count rejected ones
_counter = itertools.count()


class OutboxError(Exception):
    """The outbox directory cannot be written (permissions, disk full)."""


@dataclass
class FlushReport:
    """What one flush did; ``busy`` means another flusher held the lock."""

    sent: int = 0
    failed: int = 0  # attempts that failed and will be retried
    rejected: int = 0  # attempts the pager refused for our key/address: kept, retried slowly
    dead: int = 0
    quarantined: int = 0
    waiting: int = 0  # items still in the outbox afterwards
    busy: bool = False
    elapsed: float = 0.0


@dataclass(frozen=True)
class OutboxStats:
    """Gauges and counters for the watcher's metrics."""

    depth: int
    dead: int
    quarantined: int
    oldest_age: float | None  # seconds the oldest waiting item has waited
    rejected: int = 0  # waiting items whose last attempt the pager refused (key, address)
    sent_total: int = 0
    failures_total: int = 0
    dead_total: int = 0
    quarantined_total: int = 0


@dataclass(frozen=True)
class Waiting:
    """One item still in the outbox, as the sender and an operator need to see it."""

    name: str
    target: str
    lane: tuple[str, str]  # (instance, target): items of one lane go out oldest first
    attempts: int
    next_attempt: float  # wall clock; 0 = never tried
    last_error: str
    rejected: bool = False  # the last attempt was refused for our key or address


@dataclass
class _Flush:
    """State shared by the rounds of one flush."""

    deadline: float
    report: FlushReport
    attempt_timeout: float | None = None
    due_only: bool = True
    seen: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # targets that failed during this flush
    session: Any = None


class _NullLog:
    def _drop(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _drop


def target_id(target: PageTarget) -> str:
    """Names a target by type + URL, so keys can rotate without orphaning waiting items."""
    digest = hashlib.sha256(f"{target.type}|{target.url}".encode()).hexdigest()[:12]
    return f"{target.type}-{digest}"


class Outbox:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        targets: Sequence[PageTarget],
        log: Any = None,
        *,
        clock: Callable[[], float] = time.time,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        retry_after_cap: float = 3600.0,
    ) -> None:
        self.directory = Path(directory)
        self.targets: Mapping[str, PageTarget] = {target_id(t): t for t in targets}
        self.log = log if log is not None else _NullLog()
        self.clock = clock  # wall clock: next-attempt times outlive the process
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap

    @classmethod
    def from_section(cls, section: PageSection, log: Any = None) -> Outbox:
        return cls(section.outbox, section.targets, log)

    # -- enqueue -------------------------------------------------------------------------

    def enqueue(self, page: Page, only: Collection[str] | None = None) -> list[Path]:
        """Write ``page`` once per target; when this returns, the page survives a crash.

        ``only``: the target ids (:func:`target_id`) to write it for, when not every target
        wants it (an open FAULT re-sent to Alertmanager, which forgets what is not repeated).
        """
        self._ensure_dirs()
        paths = []
        for tid in self.targets:
            if only is not None and tid not in only:
                continue
            try:
                seq = self._next_seq()
            except OSError as exc:
                raise OutboxError(
                    f"cannot write page to {self.directory}: {exc.strerror}"
                ) from None
            name = f"{seq:020d}-{os.getpid()}-{next(_counter)}.{tid}.json"
            record = {
                "version": 1,
                "target": tid,
                "page": page.to_dict(),
                "enqueued": self.clock(),
                "attempts": 0,
                "next_attempt": 0.0,
                "last_error": "",
            }
            path = self.directory / name
            try:
                write_atomic(path, _dump(record), durable=True)
            except OSError as exc:
                raise OutboxError(
                    f"cannot write page to {self.directory}: {exc.strerror}"
                ) from None
            self.log.info("page queued", item=name, dedup_key=page.dedup_key, action=page.action)
            paths.append(path)
        return paths

    def deliver(self, pages: Iterable[Page], budget: float) -> FlushReport:
        """Enqueue then flush, all inside ``budget`` seconds (what a notify hook calls)."""
        start = time.monotonic()
        for page in pages:
            self.enqueue(page)
        report = self.flush(budget - (time.monotonic() - start))
        report.elapsed = time.monotonic() - start
        return report

    # -- flush ---------------------------------------------------------------------------

    def flush(
        self,
        budget: float,
        *,
        attempt_timeout: float | None = None,
        due_only: bool = True,
        lock_wait: float = 0.0,
    ) -> FlushReport:
        """Send what is due until done or ``budget`` seconds have passed.

        Each request may take what is left of the budget, or ``attempt_timeout`` seconds if
        that is shorter (the sender: a long budget, but one slow pager must not hold it all).
        ``due_only=False`` also sends what is still backing off: an operator's ``flush``
        means now. ``lock_wait``: how long to wait for another flusher (hooks and the sender
        never wait: the holder sends their pages; an operator does).
        Raises :class:`OutboxError` only when the outbox itself is unusable; a pager that is
        down, slow or rejecting is reported in the :class:`FlushReport`, never raised.
        """
        start = time.monotonic()
        run = _Flush(deadline=start + budget, report=FlushReport(),
                     attempt_timeout=attempt_timeout, due_only=due_only)
        if not self.targets or not self.directory.is_dir():
            # No targets is paging switched off (for now): waiting pages stay, not buried.
            run.report.waiting = len(self._item_names())
            return run.report
        try:
            for _ in range(MAX_ROUNDS):
                wait = min(lock_wait, run.deadline - time.monotonic())
                with self._flush_lock(wait) as locked:
                    if not locked:
                        run.report.busy = True
                        break
                    self._round(run)
                # Anyone who enqueued while we held the lock and then failed to take it relies
                # on us to see their item now.
                if time.monotonic() >= run.deadline or not set(self._item_names()) - run.seen:
                    break
        finally:
            if run.session is not None:
                run.session.close()
        run.report.waiting = len(self._item_names())
        run.report.elapsed = time.monotonic() - start
        return run.report

    def _round(self, run: _Flush) -> None:
        before = _counts(run.report)
        blocked: set[tuple[str, str]] = set()
        for name in self._scan(run):
            run.seen.add(name)
            try:
                if not self._item(name, run, blocked):
                    break  # out of time
            except Exception as exc:  # noqa: BLE001 - one item must never stop the others
                # Whatever this item does to us (a value no check foresaw), the rest of the
                # queue is delivered: it goes to corrupt/ with its reason, for a human.
                self._quarantine(name, f"raised {type(exc).__name__}: {exc}", run)
        self._count(run, before)

    def _item(self, name: str, run: _Flush, blocked: set[tuple[str, str]]) -> bool:
        """Judge, schedule and maybe send one item; False when the budget ran out."""
        loaded = self._load(name, run)
        if loaded is None:
            return True
        record, page = loaded
        tid = record["target"]
        lane = (page.instance_key, tid)
        if lane in blocked:
            return True
        target = self.targets.get(tid)
        if target is None:
            self._bury(name, record, None, "target no longer configured", run)
            return True
        backing_off = run.due_only and record["next_attempt"] > self.clock()
        if backing_off or tid in run.broken:
            blocked.add(lane)
            return True
        try:
            request = providers.render(page, target)
        except (ValueError, OverflowError, OSError) as exc:
            self._quarantine(name, f"cannot render: {type(exc).__name__}: {exc}", run)
            return True
        delivery = self._attempt(request, target, run)
        if delivery is None:
            return False
        self._settle(name, record, page, delivery, run, blocked)
        return True

    def _settle(
        self, name: str, record: dict[str, Any], page: Page, delivery: providers.Delivery,
        run: _Flush, blocked: set[tuple[str, str]],
    ) -> None:
        """Sent: gone; payload refused: dead/; anything else: it waits, its lane held back."""
        tid = record["target"]
        if delivery.outcome == providers.SENT:
            self._unlink(name)
            run.report.sent += 1
            self.log.info(
                "page sent",
                item=name,
                target=tid,
                status=delivery.status,
                dedup_key=page.dedup_key,
                attempts=record["attempts"] + 1,
            )
        elif delivery.outcome == providers.DEAD:
            self._bury(name, record, delivery.status, delivery.detail, run)
        else:
            self._postpone(name, record, delivery, run)
            blocked.add((page.instance_key, tid))
            run.broken.add(tid)

    def _attempt(
        self, request: providers.HttpRequest, target: PageTarget, run: _Flush
    ) -> providers.Delivery | None:
        """One send with what is left of the budget; None when too little is left to try."""
        if run.session is None:
            from lbcheck.notify.paging.transport import new_session

            # ~0.1 s of imports (requests), so it counts against the budget before the timeout
            run.session = new_session()
        timeout = run.deadline - time.monotonic()
        if timeout < MIN_ATTEMPT_TIME:
            return None
        if run.attempt_timeout is not None:
            timeout = min(timeout, run.attempt_timeout)
        try:
            return providers.send(request, timeout, run.session,
                                  providers.target_secrets(target))
        except Exception as exc:  # noqa: BLE001 - a sending bug postpones, it loses nothing
            return providers.Delivery(providers.RETRY, detail=f"{type(exc).__name__}: {exc}")

    def backoff(self, attempts: int, delivery: providers.Delivery) -> float:
        """Seconds until the next try after ``attempts`` failed ones; finite, capped."""
        exponent = min(max(attempts - 1, 0), MAX_EXPONENT)
        if delivery.outcome == providers.REJECTED:
            return min(REJECTED_CAP, REJECTED_BASE * 2.0**exponent)
        delay = min(self.backoff_cap, self.backoff_base * 2.0**exponent)
        if delivery.retry_after is not None:
            delay = min(self.retry_after_cap, max(delay, delivery.retry_after))
        return delay

    def _postpone(
        self, name: str, record: dict[str, Any], delivery: providers.Delivery, run: _Flush
    ) -> None:
        attempts = min(record["attempts"] + 1, MAX_ATTEMPTS)
        delay = self.backoff(attempts, delivery)
        rejected = delivery.outcome == providers.REJECTED
        error = f"{delivery.status or 'no answer'}: {delivery.detail}"[:300]
        record.update(attempts=attempts, next_attempt=self.clock() + delay, last_error=error,
                      rejected=rejected)
        with suppress(OSError):  # not rewritten: it is retried sooner, nothing is lost
            write_atomic(self.directory / name, _dump(record), durable=False)
        fields = {"item": name, "target": record["target"], "status": delivery.status,
                  "detail": delivery.detail, "attempts": attempts, "retry_in": round(delay, 3)}
        if rejected:
            run.report.rejected += 1
            # Loud, every time: until someone fixes the key or URL nothing reaches on-call.
            self.log.error("page refused by the pager: fix this target's key or URL; "
                           "the page is kept and retried", **fields)
            return
        run.report.failed += 1
        self.log.warning("page delivery failed, will retry", **fields)

    def _bury(
        self, name: str, record: dict[str, Any], status: int | None, reason: str, run: _Flush
    ) -> None:
        """A rejection that will not change: keep it for a human, out of the queue's way."""
        record.update(dead_status=status, dead_reason=reason[:300], dead_at=self.clock())
        dead = self.directory / DEAD / name
        try:
            dead.parent.mkdir(mode=0o700, exist_ok=True)
            write_atomic(dead, _dump(record), durable=True)
        except OSError as exc:
            self.log.error("cannot move page to dead letters", item=name, error=exc.strerror)
            return
        self._unlink(name)
        run.report.dead += 1
        self.log.error(
            "page rejected, moved to dead letters",
            item=name,
            target=record.get("target"),
            status=status,
            reason=reason[:300],
            path=str(dead),
        )

    # -- files ---------------------------------------------------------------------------

    def _scan(self, run: _Flush) -> list[str]:
        """Item names in enqueue order; anything else that does not belong is quarantined."""
        names = []
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name in (DEAD, CORRUPT):
                continue
            if entry.name.startswith(TEMP_PREFIX):
                with suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > TEMP_GRACE:
                        self._remove_leftover(entry.name)
            elif entry.name.startswith("."):
                continue  # our lock, sequence and stats files
            elif ITEM_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                names.append(entry.name)
            else:
                self._quarantine(entry.name, "not an outbox item", run)
        return sorted(names)

    def _load(self, name: str, run: _Flush) -> tuple[dict[str, Any], Page] | None:
        try:
            return read_item(self.directory / name)
        except FileNotFoundError:
            return None
        except (NotRegular, TooBig, ItemError) as exc:
            self._quarantine(name, f"unreadable item: {exc}", run)
            return None
        except OSError as exc:
            self.log.error("cannot read outbox item", item=name, error=exc.strerror)
            return None

    def _quarantine(self, name: str, reason: str, run: _Flush) -> None:
        corrupt = self.directory / CORRUPT
        corrupt.mkdir(mode=0o700, exist_ok=True)
        destination = corrupt / name.lstrip(".")
        if destination.exists():
            destination = corrupt / f"{destination.name}.{time.time_ns()}"
        try:
            os.replace(self.directory / name, destination)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.log.error("cannot quarantine outbox file", item=name, error=exc.strerror)
            return
        run.report.quarantined += 1
        self.log.error(
            "outbox file quarantined", item=name, reason=reason[:300], path=str(destination)
        )

    def _remove_leftover(self, name: str) -> None:
        """A temp file whose writer died before the rename: nobody was told it was stored.

        Not damage (corrupt/ is for that): enqueue had not returned, so no hook exited 0 on
        it, and the rename that would have made it an item never happened.
        """
        with suppress(FileNotFoundError):
            os.unlink(self.directory / name)
            self.log.warning("removed a temp file a killed writer left", item=name)

    def _unlink(self, name: str) -> None:
        # No directory fsync: if a crash undoes this unlink the page is sent again, which its
        # dedup key makes harmless (at-least-once), and a hook saves a disk flush per page.
        with suppress(FileNotFoundError):
            os.unlink(self.directory / name)

    def _item_names(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.directory) if ITEM_NAME.match(n)]
        except OSError:
            return []

    def _ensure_dirs(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.directory / DEAD).mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"cannot create outbox {self.directory}: {exc.strerror}") from None

    @contextmanager
    def _flush_lock(self, wait: float = 0.0) -> Iterator[bool]:
        """The flush lock for one round (:mod:`lbcheck.notify.lock`); False: another has it."""
        with ExitStack() as stack:
            try:
                locked = stack.enter_context(held(self.directory / LOCK_FILE, wait))
            except OSError as exc:
                why = exc.strerror
                raise OutboxError(f"cannot lock outbox {self.directory}: {why}") from None
            yield locked

    def _next_seq(self) -> int:
        """Enqueue order that survives clock steps: max(now in ns, last issued + 1)."""
        now = time.time_ns()
        fd = try_lock(self.directory / SEQ_FILE, SEQ_LOCK_WAIT)  # rewritten in place
        if fd is None:
            return now  # a stuck holder: pid + counter still keep names unique
        try:
            raw = os.pread(fd, 32, 0)
            last = int(raw) if raw.strip().isdigit() else 0
            seq = max(now, last + 1) if last < MAX_SEQ else now
            os.pwrite(fd, f"{seq:020d}\n".encode(), 0)
            return seq
        finally:
            os.close(fd)

    # -- what waits ----------------------------------------------------------------------

    def depth(self) -> int:
        """How many items wait: a directory listing, no file read."""
        return len(self._item_names())

    def waiting(self, limit: int | None = None) -> list[Waiting]:
        """Items still queued, oldest first (the first ``limit`` of them); unreadable ones
        are left for the next flush to quarantine."""
        found = []
        for name in sorted(self._item_names())[:limit]:
            try:
                record, page = read_item(self.directory / name)
            except (OSError, ItemError):
                continue
            found.append(Waiting(
                name=name,
                target=record["target"],
                lane=(page.instance_key, record["target"]),
                attempts=record["attempts"],
                next_attempt=record["next_attempt"],
                last_error=str(record.get("last_error", ""))[:300],
                rejected=record.get("rejected") is True,
            ))
        return found

    def next_due(self) -> float | None:
        """Wall time at which a flush next has something to try; None when nothing waits.

        Only the oldest item of each lane counts: the ones behind it wait for it anyway.
        """
        heads: dict[tuple[str, str], Waiting] = {}
        for item in self.waiting():
            heads.setdefault(item.lane, item)
        return min((item.next_attempt for item in heads.values()), default=None)

    # -- metrics -------------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        """Cheap enough for every scrape: directory listings plus one small file."""
        names = sorted(self._item_names())
        oldest = (time.time_ns() - int(names[0][:20])) / 1e9 if names else None
        totals = self._totals()
        rejected = sum(w.rejected for w in self.waiting(MAX_STATS_READS)) if names else 0
        return OutboxStats(
            depth=len(names),
            rejected=rejected,
            dead=_count_files(self.directory / DEAD),
            quarantined=_count_files(self.directory / CORRUPT),
            oldest_age=None if oldest is None else max(0.0, oldest),
            sent_total=totals.get("sent", 0),
            failures_total=totals.get("failed", 0),
            dead_total=totals.get("dead", 0),
            quarantined_total=totals.get("quarantined", 0),
        )

    def _totals(self) -> dict[str, int]:
        try:
            raw = json.loads(read_regular(self.directory / STATS_FILE, MAX_ITEM))
            return {str(k): int(v) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, AttributeError, OverflowError, RecursionError):
            return {}

    def _count(self, run: _Flush, before: tuple[int, ...]) -> None:
        """Add this round's numbers to the running totals (we hold the flush lock)."""
        after = _counts(run.report)
        if after == before:
            return
        totals = self._totals()
        for key, old, new in zip(
            ("sent", "failed", "rejected", "dead", "quarantined"), before, after, strict=True
        ):
            totals[key] = totals.get(key, 0) + new - old
        with suppress(OSError):
            write_atomic(self.directory / STATS_FILE, _dump(totals), durable=False)


def _counts(report: FlushReport) -> tuple[int, ...]:
    return (report.sent, report.failed, report.rejected, report.dead, report.quarantined)


class ItemError(ValueError):
    """An outbox file that is not an item we wrote: quarantine it."""


def read_item(path: Path) -> tuple[dict[str, Any], Page]:
    """One item, checked field by field: every value the flush will compute with is sane.

    Raises :class:`ItemError` for damage (or a planted file), OSError when it cannot be read.
    """
    raw = read_regular(path, MAX_ITEM)
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise TypeError("not a JSON object")
        page = Page.from_dict(record["page"])
        attempts, next_attempt = record["attempts"], record["next_attempt"]
        if type(attempts) is not int or not 0 <= attempts <= MAX_ATTEMPTS:
            raise ValueError(f"attempts {str(attempts)[:40]} is not a count")
        if not isinstance(next_attempt, (int, float)) or not 0 <= next_attempt < 1e11:
            raise ValueError(f"next_attempt {str(next_attempt)[:40]} is not a time")
        if not isinstance(record["target"], str):
            raise TypeError("target is not a string")
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
        raise ItemError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    record["next_attempt"] = float(next_attempt)
    return record, page


def _dump(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True).encode() + b"\n"


def _count_files(directory: Path) -> int:
    try:
        return sum(1 for n in os.listdir(directory) if not n.startswith("."))
    except OSError:
        return 0
