"""`lbcheck vips`: does each VIP of keepalived.conf have exactly one holder on its segment?

A split brain (both nodes MASTER, the VIP on both) and a VIP on no node are invisible to
every node-local check; the segment answers for them (lbcheck.link.holders asks it). One
Sample per VIP: OK with exactly one holder (here, or the peer's MAC), CRITICAL with two or
more (each named, this node marked "here") or none (with what lbnotify last recorded about
this node's instances, which explains most such cases: both BACKUP, or FAULT), UNKNOWN when
the segment could not be asked.

What lbnotify recorded comes in as a callable (``state_of``): the check half does not import
the notify half; the composition root (lbcheck/cli.py) wires it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lbcheck.outcome import Sample, State

if TYPE_CHECKING:
    from lbcheck.deadline import Deadline
    from lbcheck.keepalived_conf.vips import Vip
    from lbcheck.link.holders import Holders

StateOf = Callable[[str], "str | None"]  # instance → its last state lbnotify recorded
RESERVE = 0.05  # s of the deadline kept for judging, showing and remembering the verdict


def select(config_path: str, instances: Sequence[str] = ()) -> list[Vip]:
    """The VIPs to ask about: every instance's, or only those of ``instances``.

    VipError (bad input: exit 2) for an unreadable config, an instance it does not have or
    one without VIPs, and a config without any VIP — asking about nothing proves nothing.
    """
    from lbcheck.keepalived_conf.vips import VipError, all_vips, load_config

    config = load_config(config_path)
    found = all_vips(config)
    for name in instances:
        if config.instance(name) is None:
            raise VipError(f"no vrrp_instance {name} in {config_path}")
        if not any(v.instance == name for v in found):
            raise VipError(f"vrrp_instance {name} in {config_path} has no VIP")
    wanted = [v for v in found if not instances or v.instance in instances]
    if not wanted:
        raise VipError(f"no VIP in {config_path}")
    return wanted


def run(vips: Sequence[Vip], wait: float, deadline: Deadline, state_of: StateOf
        ) -> list[Sample]:
    """Ask the segment about every VIP at once; one Sample per (address, interface)."""
    from lbcheck.link.holders import ask

    asked = _grouped(vips)
    budget = deadline.part(max(0.0, deadline.remaining() - RESERVE))
    window = min(wait, budget.remaining())
    started = time.perf_counter()
    found = ask(list(asked), wait, budget)
    took = (time.perf_counter() - started) * 1000
    cut = [f"listened {window:.2g} s of the {wait:g} s asked: the deadline left no more"
           ] if window < wait else []
    return [judge(holders, asked[(holders.address, holders.interface)], state_of, took, cut)
            for holders in found]


def _grouped(vips: Sequence[Vip]) -> dict[tuple[str, str], list[str]]:
    """(address, interface) → the instances listing it, in config order."""
    asked: dict[tuple[str, str], list[str]] = {}
    for vip in vips:
        instances = asked.setdefault((vip.address, vip.interface), [])
        if vip.instance not in instances:
            instances.append(vip.instance)
    return asked


def judge(holders: Holders, instances: Sequence[str], state_of: StateOf,
          elapsed_ms: float = 0.0, notes: Sequence[str] = ()) -> Sample:
    """The verdict on one VIP from who answered (pure, but for ``state_of``)."""
    name = f"vip {holders.address}"
    where = f"on {holders.interface}" if holders.interface else ""
    details = [f"instance {', '.join(instances)} {where}".rstrip()]
    if holders.proxied:
        details.append(f"answered by proxy (Override clear, not a holder): "
                       f"{', '.join(holders.proxied)}")
    details.extend(notes)
    metrics: tuple[tuple[str, float], ...] = ()
    if holders.error is not None:
        state, reason = State.UNKNOWN, f"cannot tell: {holders.error}"
        if holders.local:
            details.append("it is on this node's interface")
    else:
        metrics = (("holders", holders.count),)
        named = _holders(holders)
        if holders.count == 1:
            state, reason = State.OK, f"held by 1: {named[0]}"
        elif holders.count > 1:
            state = State.CRITICAL
            reason = f"held by {holders.count}: {_and(named)} (split brain)"
        else:
            state = State.CRITICAL
            local = ", ".join(f"{i} {state_of(i) or 'state unknown'}" for i in instances)
            reason = f"held by no node (here: {local})"
    return Sample(name, state, reason, elapsed_ms, metrics, tuple(details))


def _holders(holders: Holders) -> list[str]:
    """"here (02:…)" first when this node holds it, then each remote reply's MAC."""
    here = ([f"here ({holders.local_mac})" if holders.local_mac else "here"]
            if holders.local else [])
    return [*here, *holders.remote]


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
