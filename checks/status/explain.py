"""Why this node's instance is in the state it is in: the arithmetic and the one line.

Pure (records in, records out), so every sentence is tested on hand-written views. The rules
are keepalived's (vrrp_track.c, vrrp.c in 2.2/2.3):

- a tracker with weight 0 does not move the priority: failing, it puts the instance in FAULT;
- a script, process or interface with a positive weight adds it while OK, one with a negative
  weight adds it while failing; a track file adds its value times its weight;
- the BACKUP with the master's advertised priority above its own stays BACKUP; equal
  priorities go to the higher primary address; a lower one is preempted unless nopreempt.
"""

from __future__ import annotations

import dataclasses
import time

from lbcheck.checks.status.view import InstanceView, TrackerView, VipView
from lbcheck.keepalived_state.model import Tracker

MINUS = "\u2212"  # what a reader of arithmetic expects; JSON carries the numbers
SETTLING = 2.0  # s after a transition in which keepalived is still adding or removing VIPs


def tracker_view(tracker: Tracker, detail: str | None = None) -> TrackerView:
    """What ``tracker`` contributes now, as keepalived computes it."""
    ok = _ok(tracker)
    weight = tracker.weight or 0
    if tracker.kind == "file":
        value = tracker.result
        failing = value is not None and value != 0
        if weight == 0:
            return TrackerView(tracker.kind, tracker.name, tracker.weight, tracker.status,
                               value, ok, None if failing else 0, failing, detail)
        return TrackerView(tracker.kind, tracker.name, tracker.weight, tracker.status, value,
                           ok, None if value is None else value * weight, False, detail)
    if weight == 0:
        return TrackerView(tracker.kind, tracker.name, tracker.weight, tracker.status,
                           tracker.result, ok, None if ok is False else 0, ok is False, detail)
    if ok is None:
        contribution = None
    elif weight > 0:
        contribution = weight if ok else 0
    else:
        contribution = 0 if ok else weight
    return TrackerView(tracker.kind, tracker.name, tracker.weight, tracker.status,
                       tracker.result, ok, contribution, False, detail)


def _ok(tracker: Tracker) -> bool | None:
    status = (tracker.status or "").strip()
    if tracker.kind == "script":
        return True if status == "GOOD" else False if status == "BAD" else None
    if tracker.kind == "interface":
        if not status:
            return None
        words = {w.strip() for w in status.split(",")}
        return "UP" in words and "RUNNING" in words
    if tracker.kind == "process":
        return None if not status else status == "quorum"
    if tracker.kind == "file":
        return None if tracker.result is None else tracker.result == 0
    return None


def describe(tracker: TrackerView, weight: bool = False) -> str:
    """How a tracker reads in a sentence: "chk_haproxy failing", "track_file tf = 5";
    ``weight``: "chk_haproxy (weight 0) failing"."""
    name = tracker.name + (f" (weight {tracker.weight})" if weight else "")
    if tracker.ok is None and tracker.kind != "file":
        what = f"{name} not known yet"
    else:
        what = {"script": f"{name} {'OK' if tracker.ok else 'failing'}",
                "process": f"{name} {'has quorum' if tracker.ok else 'no quorum'}",
                "interface": f"{name} {'up' if tracker.ok else 'down'}",
                "file": f"track_file {name} = {tracker.result}"}[tracker.kind]
    return what + (f": {tracker.detail}" if tracker.detail else "")


def arithmetic(view: InstanceView) -> str:
    """``our 230 = 250 − 20 (chk_haproxy failing)``; what the trackers add, term by term."""
    base, effective = view.base_priority, view.effective_priority
    if effective is None:
        return "our priority unknown"
    if base is None:
        return f"our {effective}"
    terms = []
    total = 0
    for tracker in view.trackers:
        if tracker.contribution:
            total += tracker.contribution
            sign = "+" if tracker.contribution > 0 else MINUS
            terms.append(f"{sign} {abs(tracker.contribution)} ({describe(tracker)})")
    rest = effective - base - total
    if rest:  # clamping to 1..254, a sync group's shared weights, a tracker we did not see
        terms.append(f"{'+' if rest > 0 else MINUS} {abs(rest)} (keepalived's adjustment)")
    return f"our {effective} = {base}" + "".join(f" {t}" for t in terms)


def _ago(since: float | None, now: float) -> str:
    if since is None:
        return ""
    seconds = max(0, int(now - since))
    if seconds < 120:
        return f" for {seconds} s"
    if seconds < 7200:
        return f" for {seconds // 60} min"
    if seconds < 172800:
        return f" for {seconds // 3600} h {seconds % 3600 // 60} min"
    return f" for {seconds // 86400} d"


def in_intended_state(view: InstanceView) -> bool:
    """Is the instance where its config means it to be?

    ``MASTER`` (``state MASTER``, or priority 255): holding it. ``BACKUP`` (the default, and
    the both-nodes-BACKUP idiom where priorities decide): MASTER while no peer advertises
    more, BACKUP while the master advertises at least our priority. ``either``
    (nopreempt): whichever of the two. FAULT, INIT, STOP: never.
    """
    state = view.state
    if state not in ("MASTER", "BACKUP"):
        return False
    if view.intended == "MASTER":
        return state == "MASTER"
    if view.intended == "either" or state == "MASTER":
        return True
    theirs, ours = view.master_priority, view.effective_priority
    return theirs is None or ours is None or view.master_router is None or theirs >= ours


def judge(view: InstanceView, now: float | None = None) -> InstanceView:
    """``view`` with its verdict (as intended? healthy?), explanation and warnings."""
    now = time.time() if now is None else now
    state = view.state or "UNKNOWN"
    settling = view.since is not None and now - view.since < SETTLING
    warnings = [*_vip_warnings(state, view.vips, settling)]
    unknown = [t for t in view.trackers if t.ok is None]
    failing = [t for t in view.trackers if t.ok is False]
    healthy = state != "FAULT" and not failing and not unknown and not warnings
    line = f"{view.name} {state}{_ago(view.since, now)}"
    if view.intended == "MASTER" and state != "MASTER":
        line += " (configured MASTER)"
    line += ": " + _why(view, state)
    return dataclasses.replace(view, as_intended=in_intended_state(view), healthy=healthy,
                               explanation=line, warnings=tuple(warnings))


def _why(view: InstanceView, state: str) -> str:
    ours = arithmetic(view)
    effective = view.effective_priority
    if state == "MASTER":
        if view.intended == "BACKUP":
            return f"{ours}, and no peer advertises more"
        return ours
    if state == "BACKUP":
        peer, theirs = view.master_router, view.master_priority
        if peer is None or theirs is None:
            return f"no master heard yet; {ours}"
        if effective is None:
            return f"peer {peer} is MASTER, advertising {theirs}; {ours}"
        if theirs > effective:
            return f"peer {peer} advertises {theirs} > {ours}"
        if theirs == effective:
            return (f"peer {peer} advertises {theirs}, equal to {ours}: the higher primary "
                    "address wins a tie")
        if view.preempt is False:
            return (f"nopreempt: stays BACKUP although {ours} > peer {peer}'s {theirs}")
        return (f"peer {peer} advertises {theirs} < {ours}: this node should take over "
                "(preempt_delay running, or its adverts are not heard)")
    if state == "FAULT":
        causes = [describe(t, weight=True) for t in view.trackers if t.faults]
        cause = ", ".join(causes) if causes else "a tracked interface or script failed"
        held = [v for v in view.vips if v.holders is not None]
        if held and all(v.holders == 0 for v in held):
            return f"{cause} — and no node holds the VIPs (pair watch): the peer is FAULT too?"
        return f"{cause} — the peer is FAULT too? then no node holds the VIPs"
    return {"INIT": "keepalived is starting this instance",
            "STOP": "keepalived is stopping"}.get(state, f"state {state}; {ours}")


def _vip_warnings(state: str, vips: tuple[VipView, ...], settling: bool = False) -> list[str]:
    """What is wrong with where the VIPs are; a MASTER (or BACKUP) of less than SETTLING
    seconds is still adding (or removing) them: not a misplaced VIP yet."""
    found = []
    for vip in vips:
        where = f"{vip.address} on {vip.interface}" if vip.interface else vip.address
        if vip.here is False and state == "MASTER" and not settling:
            found.append(f"MASTER but {where} is not on the interface")
        elif vip.here is True and state in ("BACKUP", "FAULT") and not settling:
            found.append(f"{state} but {where} is still on the interface (left behind?)")
        if vip.holders is not None and vip.holders > 1:
            found.append(f"split brain: {where} held by {vip.holders} nodes (pair watch)")
        elif vip.holders == 0:
            found.append(f"no node holds {where} (pair watch)")
    return found
