"""The pages of the pair watch: a VIP held by two nodes (split brain) or by none.

Pure, like :mod:`.policy`: the watch (:mod:`lbcheck.notify.pairwatch`) decides *when*, this
module says *what*. A pair fails as a pair, so both nodes must page the same incident: the
``dedup_key`` (and Alertmanager's labels) are built from the VIP and the condition only —
never the node's name or router id — and whichever node sees it first opens it, the other's
trigger joins it, and either's resolve closes it. The text is the node's own view: who
answered, which of them is this node, what state its instances are in.

Summaries lead with the condition, as FAULT pages lead with the state (``SPLIT BRAIN: VIP
192.0.2.10 on eth0 held by 2 nodes: 02:00:00:00:01:11 (lb1: this node),
02:00:00:00:01:12``), so a pager showing only the first words still says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from lbcheck.notify.paging.policy import CRITICAL, RESOLVE, TRIGGER, VIP, Page, bounded
from lbcheck.notify.paging.text import middle

SPLIT, NONE = "split", "none"  # the watch's conditions (pairwatch.tracker) that page
SPLIT_BRAIN, NO_HOLDER = "SPLIT_BRAIN", "NO_HOLDER"
STATES = {SPLIT: SPLIT_BRAIN, NONE: NO_HOLDER}
HEADLINES = {SPLIT: "SPLIT BRAIN", NONE: "NO HOLDER"}
# Alertmanager's alertname per condition: an alert is its label set, and the labels are the
# same on both nodes (no router), so the pair's two nodes fire one alert.
ALERT_NAMES = {SPLIT_BRAIN: "VIPSplitBrain", NO_HOLDER: "VIPNoHolder"}
# An instance name in a text is shortened in its middle to this (keepalived takes 1024
# bytes): the address and the condition, not the name, are what the page is about.
MAX_INSTANCE = 64


class Holding(NamedTuple):
    """What one round saw of a VIP, as the page tells it."""

    holders: int | None  # how many; None: the round could not ask
    local: bool = False  # this node holds it
    local_mac: str | None = None  # this node's MAC on the VIP's interface, if it could be read
    remote: tuple[str, ...] = ()  # one MAC per other host that answered
    local_states: tuple[tuple[str, str | None], ...] = ()  # (instance, state) on this node


def vip_key(address: str, condition: str) -> str:
    """The same on both nodes: the VIP and the condition, nothing about who pages it."""
    return bounded(f"lbcheck:vip:{address}:{condition}")


def is_vip_page(page: Page) -> bool:
    return page.kind == VIP


def trigger(condition: str, address: str, interface: str, router: str, holding: Holding,
            at: float) -> Page:
    """The incident opens: who holds the VIP (split) or what this node's instances are in
    (no holder)."""
    what = f"{HEADLINES[condition]}: VIP {address} on {interface}"
    if condition == SPLIT:
        summary = f"{what} held by {_nodes(holding.holders)}: {_holders(holding, router)}"
    else:
        summary = f"{what} held by no node ({_local_states(holding.local_states, router)})"
    return _page(TRIGGER, condition, address, router, summary, at)


def resolve(condition: str, address: str, interface: str, router: str,
            holding: Holding | None, at: float) -> Page:
    """The incident is over; ``holding`` None: the VIP left keepalived.conf on this node."""
    what = f"RESOLVED: VIP {address} on {interface}"
    if holding is None:
        summary = (f"{what} is no longer in keepalived.conf on {router}: "
                   f"{HEADLINES[condition].lower()} no longer watched")
    else:
        over = "split brain over" if condition == SPLIT else "held by a node again"
        summary = f"{what} {over}: now held by {_nodes(holding.holders)} (seen from {router})"
    return _page(RESOLVE, condition, address, router, summary, at)


def resend(condition: str, address: str, interface: str, router: str, since: float) -> Page:
    """The open incident again, for the pagers that forget it (Alertmanager), from its start."""
    summary = f"{HEADLINES[condition]}: VIP {address} on {interface} (still, seen from {router})"
    return _page(TRIGGER, condition, address, router, summary, since)


def _page(action: str, condition: str, address: str, router: str, summary: str,
          at: float) -> Page:
    return Page(action=action, severity=CRITICAL, dedup_key=vip_key(address, condition),
                summary=summary, router=router, kind=VIP, name=address,
                state=STATES[condition], previous=None, priority=None, at=at)


def _nodes(count: int | None) -> str:
    if count is None:
        return "an unknown number of nodes"
    return "no node" if count == 0 else "1 node" if count == 1 else f"{count} nodes"


def _holders(holding: Holding, router: str) -> str:
    """Every holder, this node first; duplicates kept (use_vmac: each master answers with the
    same virtual MAC, and two replies are two holders)."""
    macs = list(holding.remote)
    if not holding.local:
        return f"{', '.join(macs)} (not {router})"
    mine = f"{holding.local_mac} ({router}: this node)" if holding.local_mac else (
        f"{router} (this node)")
    return ", ".join([mine, *macs])


def _local_states(states: Sequence[tuple[str, str | None]], router: str) -> str:
    if not states:
        return f"no instance of {router} has it"
    said = ", ".join(f"{middle(name, MAX_INSTANCE)} {state or 'state not known'}"
                     for name, state in states)
    return f"on {router}: {said}"
