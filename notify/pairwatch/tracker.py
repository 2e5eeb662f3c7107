"""The pair watch's rules: one round of "who holds each VIP" → what to page, and when.

Pure: no I/O, no clock (``now`` is a parameter), so every rule is a unit test. The caller
(:mod:`.watch`) probes, hands each round's :class:`Seen` to :meth:`Tracker.round`, pages the
:class:`Change` list it gets back and stores :meth:`Tracker.states`.

Each round gives each VIP one condition: ``ok`` (one holder), ``split`` (two or more: split
brain), ``none`` (no holder) or ``unknown`` (the probe could not ask). The rules, and why:

- **Consecutive rounds.** A condition pages once it was seen in ``rounds`` counted rounds in a
  row, and an open incident resolves once ``rounds`` counted rounds in a row saw something
  else (one holder, or the other condition, which then pages on its own). One round is a
  moment: a takeover under way, a probe reply lost.
- **Settle.** A local transition makes one condition likely for a moment, and for ``settle``
  seconds that condition's rounds are not counted: becoming MASTER adds the VIPs here while the
  old master has not yet heard our advert (split); leaving MASTER removes them before the peer
  takes over (no holder). A transition we cannot place (the first event of an instance this
  reader hears, a sync group's) settles both. The other condition is counted as usual:
  haproxy down on both nodes takes this node from BACKUP to FAULT, which moves no VIP, so "held
  by no node" is counted from its first round. Not counting is not forgetting: a settled round
  neither adds to nor breaks a run, so a split that outlasts the window pages one counted round
  later.
- **Unknown is no evidence.** A round that could not ask is skipped like a settled one: it
  triggers nothing, resolves nothing and breaks no run. The metrics say ``unknown``.
- **One incident per VIP and condition**, keyed by the address and the condition only, so both
  nodes of a pair page the same incident (:mod:`lbcheck.notify.paging.pair`).
- **Re-sent while open**, every ``resend_interval`` (when given), for the pagers that forget an
  alert nobody repeats (Alertmanager), as a FAULT is.
- **A VIP gone from keepalived.conf** resolves its open incident: nothing would ever resolve
  it otherwise. Only a config that was read says a VIP is gone (the caller's job).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

OK, SPLIT, NONE, UNKNOWN = "ok", "split", "none", "unknown"
CONDITIONS = (OK, SPLIT, NONE, UNKNOWN)
PAGED = (SPLIT, NONE)
TRIGGER, RESOLVE, RESEND = "trigger", "resolve", "resend"
ANY_INSTANCE = "*"  # a transition that settles every VIP (a sync group's, say)
RESEND_SLACK = 0.1  # as policy.RESEND_SLACK: a round a hair early still re-sends


def condition_of(count: int | None) -> str:
    """The condition a holder count stands for; None (could not ask) is ``unknown``."""
    if count is None:
        return UNKNOWN
    return OK if count == 1 else SPLIT if count > 1 else NONE


class Rules(NamedTuple):
    rounds: int = 2
    settle: float = 6.0
    resend_interval: float | None = None  # None: nobody needs re-sends


@dataclass(frozen=True)
class Seen:
    """One VIP in one round, as the probe saw it."""

    address: str
    interface: str
    instance: str = ""
    holders: int | None = None  # None: could not ask (``error`` says why)
    local: bool = False
    remote: tuple[str, ...] = ()  # one MAC per reply from another host
    error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.address, self.interface)

    @property
    def condition(self) -> str:
        return condition_of(self.holders)


@dataclass(frozen=True)
class VipState:
    """What the watch keeps per VIP between rounds (and restarts: :mod:`.store`)."""

    address: str
    interface: str
    instance: str = ""
    seen: str = UNKNOWN  # the last round's condition, counted or not (the metrics)
    holders: int | None = None  # the last round's count; None when it could not ask
    run: str | None = None  # the condition of the current run of counted rounds
    length: int = 0  # counted rounds in that run, capped at ``rounds``
    open: str | None = None  # SPLIT or NONE: the incident open for this VIP
    opened_at: float | None = None
    resent_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.address, self.interface)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> VipState:
        """Rebuild a state read from disk; ValueError on anything we did not write."""
        try:
            state = cls(**raw)
        except TypeError as exc:
            raise ValueError(f"not a VIP state: {exc}") from None
        texts_ok = all(isinstance(v, str) for v in (state.address, state.interface,
                                                     state.instance))
        counts_ok = (type(state.length) is int and state.length >= 0
                     and (state.holders is None or type(state.holders) is int))
        times_ok = all(t is None or (isinstance(t, (int, float)) and not isinstance(t, bool))
                       for t in (state.opened_at, state.resent_at))
        conditions_ok = (state.seen in CONDITIONS and state.run in (None, OK, *PAGED)
                         and state.open in (None, *PAGED))
        if not (texts_ok and counts_ok and times_ok and conditions_ok):
            raise ValueError(f"not a VIP state: a field has the wrong type or value: {raw!r}"
                             [:300])
        return state


@dataclass(frozen=True)
class Change:
    """One thing to page: an incident opened, resolved, or repeated."""

    action: str  # TRIGGER | RESOLVE | RESEND
    condition: str  # the incident's: SPLIT or NONE
    state: VipState  # after the round
    seen: Seen | None  # the round that decided it; None: the VIP left keepalived.conf
    since: float  # when the incident opened (a re-send's start time)


class Tracker:
    """Every watched VIP's state, and the settle windows local transitions opened."""

    def __init__(self, rules: Rules, states: Iterable[VipState] = ()) -> None:
        self.rules = rules
        self._states = {state.key: state for state in states}
        self._settling: dict[tuple[str, str], float] = {}  # (instance, condition) → until

    def states(self) -> list[VipState]:
        return list(self._states.values())

    def restore(self, states: Iterable[VipState]) -> None:
        """Back to ``states`` (a round whose pages the outbox would not take is decided
        again next round); the settle windows stay."""
        self._states = {state.key: state for state in states}

    def transition(self, instance: str, previous: str | None, state: str, at: float) -> None:
        """A local VRRP transition at ``at``: settle what it can cause for a moment.

        ``previous`` None: not known, so both conditions settle. ``instance``
        :data:`ANY_INSTANCE` settles every VIP.
        """
        if state == previous:
            return
        until = at + self.rules.settle
        settles = []
        if state == "MASTER" or previous is None:
            settles.append(SPLIT)
        if previous is None or (previous == "MASTER" and state != "MASTER"):
            settles.append(NONE)
        for condition in settles:
            key = (instance, condition)
            self._settling[key] = max(self._settling.get(key, until), until)

    def settling(self, instance: str, now: float) -> set[str]:
        """The conditions not counted for ``instance``'s VIPs at ``now``."""
        return {condition for (name, condition), until in self._settling.items()
                if name in (instance, ANY_INSTANCE) and now < until}

    def round(self, seen: Sequence[Seen], now: float, complete: bool = True) -> list[Change]:
        """One round's observations → the changes to page (and the new states).

        ``complete``: ``seen`` is every VIP of keepalived.conf, so a VIP missing from it has
        left the config (its open incident resolves). False: only update what was seen.
        """
        changes: list[Change] = []
        current = {}
        for one in seen:
            before = self._states.get(one.key) or VipState(one.address, one.interface)
            state, decided = self._step(before, one, now)
            current[one.key] = state
            changes += decided
        for key, state in self._states.items():
            if key in current:
                continue
            if not complete:
                current[key] = state
            elif state.open is not None:
                gone = replace(state, open=None, opened_at=None, resent_at=None)
                changes.append(Change(RESOLVE, state.open, gone, None, _since(state, now)))
        self._states = current
        self._settling = {key: until for key, until in self._settling.items() if until > now}
        return changes

    def _step(self, state: VipState, seen: Seen, now: float) -> tuple[VipState, list[Change]]:
        condition = seen.condition
        state = replace(state, instance=seen.instance, seen=condition, holders=seen.holders)
        if condition == UNKNOWN or condition in self.settling(seen.instance, now):
            return self._resend(state, seen, now)
        length = state.length + 1 if condition == state.run else 1
        state = replace(state, run=condition, length=min(length, self.rules.rounds))
        if state.length < self.rules.rounds:
            return self._resend(state, seen, now)
        changes = []
        if state.open is not None and state.open != condition:
            closed, since = state.open, _since(state, now)
            state = replace(state, open=None, opened_at=None, resent_at=None)
            changes.append(Change(RESOLVE, closed, state, seen, since))
        if condition in PAGED and state.open is None:
            state = replace(state, open=condition, opened_at=now, resent_at=None)
            changes.append(Change(TRIGGER, condition, state, seen, now))
            return state, changes
        state, resent = self._resend(state, seen, now)
        return state, changes + resent

    def _resend(self, state: VipState, seen: Seen, now: float
                ) -> tuple[VipState, list[Change]]:
        """The open incident again once ``resend_interval`` has passed since it was sent."""
        interval = self.rules.resend_interval
        if state.open is None or interval is None:
            return state, []
        last = state.resent_at if state.resent_at is not None else _since(state, now)
        if now - last < interval * (1 - RESEND_SLACK):
            return state, []
        return replace(state, resent_at=now), [
            Change(RESEND, state.open, replace(state, resent_at=now), seen, _since(state, now))]


def _since(state: VipState, now: float) -> float:
    return state.opened_at if state.opened_at is not None else now
