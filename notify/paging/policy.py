"""Which VRRP transitions wake someone up: an Event plus what we remember → pages.

Pure: no I/O, no clock (``now`` is a parameter), so every rule below is a unit test. The
caller loads the per-instance :class:`Memory`, calls :func:`decide`, enqueues the pages and
stores the returned memory, all under the per-instance lock (:mod:`.memory` does the files).

The rules, and why:

- **FAULT** opens a critical incident. Its ``dedup_key`` is stable per router + instance, so
  a repeat (keepalived re-reporting FAULT, a retried delivery) is idempotent upstream, and we
  do not even send the repeat: one trigger per FAULT episode.
- **Leaving FAULT** (to MASTER or BACKUP, even via STOP after a restart) resolves it with the
  same key: one resolve per episode. We track ``fault_open`` rather than trusting the
  previous state, because notify scripts run concurrently and may arrive out of order.
- **MASTER → BACKUP** (warning) and **taking over as MASTER** (info) are notices. A flapping
  pair would page on every flap, so inside ``flap_window`` after a notice further notices
  are only counted; the next notice (or :func:`pending_summary` once the window has passed)
  carries the count. Each notice has its own ``dedup_key``: a takeover a week later must not
  silently merge into last week's still-open info alert.
- FIFO-only priority notices and transitions nobody acts on (→ BACKUP at start-up) page no
  one.
- **An open FAULT is re-sent** every ``interval`` (:func:`resend`) to the pagers that forget
  an alert nobody repeats (Alertmanager resolves it once its ``endsAt`` passes, and loses it
  on a restart). Same key, so the pagers that remember see nothing new.
- Notices are :attr:`Page.informational`: nothing for a human to fix and nothing that will be
  resolved, so a pager that has a place for such news (PagerDuty's change events) gets them
  there rather than as incidents that stay open. Falling back from MASTER is one too: the peer
  took the VIPs; if nobody holds them, the peer's FAULT is the incident.

Summaries lead with the state (``FAULT: VRRP instance VI_1 on lb1 …``), so a pager that shows
only the first words, or a text shortened to fit a limit (:mod:`.text`), still says what
happened.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

from lbcheck.notify.events import Event
from lbcheck.notify.paging.text import head, units

TRIGGER, RESOLVE = "trigger", "resolve"
CRITICAL, WARNING, INFO = "critical", "warning", "info"
# A page about a VIP (the pair watch, :mod:`.pair`), not a VRRP instance: its name is the
# address and its state the condition (SPLIT_BRAIN, NO_HOLDER).
VIP = "VIP"
# PagerDuty caps dedup_key at 255 characters; Opsgenie's alias allows 512. Counted in UTF-16
# units (.text.units), the strictest reading of "characters".
MAX_DEDUP_KEY = 255
# resend() is due this fraction of an interval early: a timer firing every interval may run
# a little sooner than the last re-send plus the interval.
RESEND_SLACK = 0.1


@dataclass(frozen=True)
class Page:
    """One thing to tell on-call, independent of which pager hears it."""

    action: str  # trigger | resolve
    severity: str  # critical | warning | info
    dedup_key: str
    summary: str
    router: str
    kind: str  # INSTANCE | GROUP | VIP
    name: str
    state: str
    previous: str | None
    priority: int | None
    at: float  # when keepalived told us (epoch seconds)
    suppressed: int = 0  # notices folded into this one by the flap window

    @property
    def informational(self) -> bool:
        """A notice (takeover, fall-back, flap summary): news, not an incident to resolve.

        Only FAULT opens an incident (critical) and only its resolve closes one; derived from
        the fields rather than stored, so pages already waiting in an outbox are read alike.
        """
        return self.action == TRIGGER and self.severity != CRITICAL

    @property
    def instance_key(self) -> str:
        """Order is kept per instance: pages with the same key are sent oldest first."""
        return f"{self.kind}:{self.name}"

    def details(self) -> dict[str, Any]:
        """What every provider attaches so on-call sees the state without logging in."""
        if self.kind == VIP:
            return {"router": self.router, "kind": self.kind, "vip": self.name,
                    "condition": self.state}
        return {
            "router": self.router,
            "kind": self.kind,
            "instance": self.name,
            "state": self.state,
            "previous": self.previous,
            "priority": self.priority,
            "suppressed_transitions": self.suppressed,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Page:
        """Rebuild a page read back from the outbox; raises ValueError on anything else."""
        try:
            page = cls(**raw)
        except TypeError as exc:
            raise ValueError(f"not a page: {exc}") from None
        if page.action not in (TRIGGER, RESOLVE) or page.severity not in (CRITICAL, WARNING, INFO):
            raise ValueError(f"not a page: action {page.action!r}, severity {page.severity!r}")
        texts = (page.dedup_key, page.summary, page.router, page.kind, page.name, page.state)
        numbers_ok = (
            isinstance(page.at, (int, float))
            and isinstance(page.suppressed, int)
            and (page.priority is None or isinstance(page.priority, int))
        )
        previous_ok = page.previous is None or isinstance(page.previous, str)
        if not (all(isinstance(t, str) for t in texts) and numbers_ok and previous_ok):
            raise ValueError("not a page: a field has the wrong type")
        return page


@dataclass(frozen=True)
class Memory:
    """What the policy needs to remember about one instance between two hook runs."""

    kind: str
    name: str
    state: str | None = None
    fault_open: bool = False
    last_notice_at: float | None = None
    suppressed: int = 0
    # For the metrics: state changes seen (the first state heard of is not one), and when
    # the state last changed (or was first heard of).
    transitions: int = 0
    changed_at: float | None = None
    # The open FAULT episode: when it began (the alert's start, on every re-send) and when it
    # was last re-sent (rate limit of :func:`resend`, kept on disk so restarts keep it).
    fault_since: float | None = None
    resent_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Memory:
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ValueError(f"not a page memory: {exc}") from None


@dataclass(frozen=True)
class Decision:
    pages: tuple[Page, ...]
    memory: Memory


def fault_key(router: str, kind: str, name: str) -> str:
    """Stable per router + instance, so trigger and resolve of one episode pair up."""
    return bounded(f"lbcheck:{router}:{kind}:{name}:fault")


def notice_key(router: str, kind: str, name: str, at: float) -> str:
    """Unique per notice: a later takeover must open its own alert, not join an old one."""
    return bounded(f"lbcheck:{router}:{kind}:{name}:notice:{int(at * 1_000_000)}")


def decide(
    event: Event, memory: Memory | None, router: str, flap_window: float, now: float
) -> Decision:
    """The pages ``event`` causes, and the memory to keep for the next event."""
    memory = memory or Memory(kind=event.kind, name=event.name)
    if not event.changes_state:
        return Decision((), memory)
    previous, state = memory.state, event.state
    moved = replace(memory, state=state)
    if state != previous:
        moved = replace(moved, changed_at=now,
                        transitions=memory.transitions + (previous is not None))

    def page(action: str, severity: str, key: str, summary: str, suppressed: int = 0) -> Page:
        return Page(
            action=action,
            severity=severity,
            dedup_key=key,
            summary=summary,
            router=router,
            kind=event.kind,
            name=event.name,
            state=state,
            previous=previous,
            priority=event.priority,
            at=event.received,
            suppressed=suppressed,
        )

    what = f"VRRP {event.kind.lower()} {event.name} on {router}"
    if state == "FAULT":
        if memory.fault_open:
            return Decision((), moved)
        summary = f"FAULT: {what}{_was(previous)}"
        key = fault_key(router, event.kind, event.name)
        opened = replace(moved, fault_open=True, fault_since=event.received, resent_at=None)
        return Decision((page(TRIGGER, CRITICAL, key, summary),), opened)
    if memory.fault_open and state in ("MASTER", "BACKUP"):
        summary = f"RESOLVED: {what} left FAULT, now {state}"
        key = fault_key(router, event.kind, event.name)
        closed = replace(moved, fault_open=False, fault_since=None, resent_at=None)
        return Decision((page(RESOLVE, CRITICAL, key, summary),), closed)
    if state == previous or memory.fault_open:
        return Decision((), moved)
    notice = _notice(state, previous, what)
    if notice is None:
        return Decision((), moved)
    severity, summary = notice
    if memory.last_notice_at is not None and now - memory.last_notice_at < flap_window:
        return Decision((), replace(moved, suppressed=memory.suppressed + 1))
    if memory.suppressed:
        summary += f" ({memory.suppressed} more transition(s) folded into the flap window)"
    key = notice_key(router, event.kind, event.name, event.received)
    sent = page(TRIGGER, severity, key, summary, suppressed=memory.suppressed)
    return Decision((sent,), replace(moved, last_notice_at=now, suppressed=0))


def pending_summary(memory: Memory, router: str, flap_window: float, now: float) -> Decision:
    """Report notices the flap window swallowed once it has closed and nothing new came.

    Without this a pair that flapped and then settled would never say where it settled.
    Meant for idle moments (the FIFO reader, ``lbnotify flush``).
    """
    if not memory.suppressed or memory.last_notice_at is None:
        return Decision((), memory)
    if now - memory.last_notice_at < flap_window:
        return Decision((), memory)
    summary = (
        f"FLAPPING: VRRP {memory.kind.lower()} {memory.name} on {router} flapped "
        f"{memory.suppressed} more time(s) in {flap_window:g} s; now {memory.state}"
    )
    page = Page(
        action=TRIGGER,
        severity=WARNING,
        dedup_key=notice_key(router, memory.kind, memory.name, now),
        summary=summary,
        router=router,
        kind=memory.kind,
        name=memory.name,
        state=memory.state or "UNKNOWN",
        previous=None,
        priority=None,
        at=now,
        suppressed=memory.suppressed,
    )
    return Decision((page,), replace(memory, last_notice_at=now, suppressed=0))


def resend(memory: Memory, router: str, interval: float, now: float) -> Decision:
    """The open FAULT again, once ``interval`` has passed since it was last sent.

    For pagers that keep an alert only while it is repeated (Alertmanager). A caller that
    comes back every ``interval`` (the flush timer's minute) must not miss by a hair and wait
    a second interval, hence the slack. Meant for idle moments, under the instance lock.
    """
    if not memory.fault_open:
        return Decision((), memory)
    since = memory.fault_since if memory.fault_since is not None else memory.changed_at
    last = memory.resent_at if memory.resent_at is not None else since
    if last is not None and now - last < interval * (1 - RESEND_SLACK):
        return Decision((), memory)
    what = f"VRRP {memory.kind.lower()} {memory.name}"
    page = Page(
        action=TRIGGER,
        severity=CRITICAL,
        dedup_key=fault_key(router, memory.kind, memory.name),
        summary=f"FAULT: {what} on {router} (still)",
        router=router,
        kind=memory.kind,
        name=memory.name,
        state=memory.state or "FAULT",
        previous=None,
        priority=None,
        at=since if since is not None else now,
    )
    return Decision((page,), replace(memory, resent_at=now))


def _notice(state: str, previous: str | None, what: str) -> tuple[str, str] | None:
    if state == "MASTER":
        return INFO, f"MASTER: {what} took over{_was(previous)}"
    if previous == "MASTER" and state == "BACKUP":
        return WARNING, f"BACKUP: {what} fell back from MASTER"
    if previous == "MASTER" and state in ("STOP", "DELETED"):
        return WARNING, f"{state}: {what} while MASTER: its VIPs left this node"
    return None


def _was(previous: str | None) -> str:
    return f" (was {previous})" if previous else ""


def bounded(key: str) -> str:
    """Keep the readable key when it fits; otherwise a readable prefix and a stable hash.

    Keys that fitted in code points keep their value unless astral characters (emoji) make
    them longer than 255 UTF-16 units: an incident opened by an older version with such a key
    is not resolved by this one (an edge worth the release note, not a migration).
    """
    if units(key) <= MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{head(key, MAX_DEDUP_KEY - len(digest) - 1)}~{digest}"
