"""keepalived's own overlap: how long both nodes hold a VIP during a *planned* takeover.

`bin/bench pair`: in the two-node lab, for each profile (conservative: examples/, the spawned
check, weight 0 → FAULT; fast: examples/fast/, the watcher, weight -20), ``repeats`` times:
haproxy killed on the master and started again, keepalived restarted there, its priority
lowered below the peer's and restored (a reload each). Both nodes' addresses are read every
10 ms (tests/lab/addrwatch.py) from just before each action until the next; per action and
family: the longest time both nodes held the VIP at once, the longest time none did, and how
long after the VIP reached its new node gratuitous ARPs / unsolicited NAs still passed
(tests/lab/announcements.py, seen from the client).

This is what a split-brain watcher must ride out after a transition without paging
(`[vips]` settle): every figure here is a routine event, not a fault.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from tests.lab.addrwatch import Watch, spans
from tests.lab.announcements import Capture
from tests.lab.lab import PRIORITIES, Lab, LabError
from tests.lab.topology import VIP4, VIP6

QUIET = 6.5  # s after each move: keepalived's second burst comes garp_master_delay (5 s) later
MOVE_TIMEOUT = 20.0
FAMILIES = {"IPv4": VIP4, "IPv6": VIP6}


class Action(NamedTuple):
    label: str
    act: Callable[[Lab], object]
    before: str  # who holds the VIPs alone when it starts
    after: str  # and once it is over


def actions(profile: str) -> list[Action]:
    """One round: each action starts where the one before left the pair."""
    high = PRIORITIES[profile]["n1"]
    low = PRIORITIES[profile]["n2"] - 10
    return [
        Action("haproxy killed on the master", lambda lab: lab.inject("n1", "killed"),
               "n1", "n2"),
        Action("haproxy started again (fail-back)", lambda lab: lab.start_haproxy("n1"),
               "n2", "n1"),
        Action("keepalived restarted on the master (away and back)",
               lambda lab: lab.restart_keepalived("n1"), "n1", "n1"),
        Action("priority lowered below the peer's (reload)",
               lambda lab: lab.set_priority("n1", low), "n1", "n2"),
        Action("priority restored (reload, fail-back)",
               lambda lab: lab.set_priority("n1", high), "n2", "n1"),
    ]


class Moved(NamedTuple):
    both: dict[str, float]  # family → longest time both nodes held the VIP (s)
    none: dict[str, float]  # family → longest time no node did
    tail: dict[str, float]  # family → last announcement after the VIP arrived (s), or -1


def run(repeats: int = 10, profiles: tuple[str, ...] = ("conservative", "fast"),
        quiet: float = QUIET) -> str:
    started = time.monotonic()
    results: dict[tuple[str, str], list[Moved]] = {}
    for profile in profiles:
        lab = Lab(Path(tempfile.mkdtemp(prefix=f"lbcheck-bench-pair-{profile}-")),
                  check="watch" if profile == "fast" else "lbcheck", profile=profile)
        try:
            lab.up()
            with Watch(FAMILIES.values()) as watch, Capture(VIP4, VIP6) as capture:
                for _ in range(repeats):
                    for action in actions(profile):
                        moved = measure(lab, watch, capture, action, quiet)
                        results.setdefault((profile, action.label), []).append(moved)
        finally:
            lab.down()
    return table(results, repeats, time.monotonic() - started)


def measure(lab: Lab, watch: Watch, capture: Capture, action: Action, quiet: float) -> Moved:
    """Do ``action`` and read both timelines from just before it until ``quiet`` s after its
    VIPs settled on ``action.master``."""
    settle(watch, action.before)
    start = time.time()
    action.act(lab)
    if action.before == action.after:  # away and back: wait for the "away" first
        _until(watch, lambda: not watch.now(action.before),
               f"{action.before} kept its VIPs through {action.label}")
    settle(watch, action.after)
    arrived = watch.changes[action.after][-1].at  # the new master had both VIPs from then
    time.sleep(quiet)
    end = time.time()
    both, none, tail = {}, {}, {}
    for family, vip in FAMILIES.items():
        both[family] = max((b - a for a, b in spans(watch.changes, vip, 2, start, end)),
                           default=0.0)
        none[family] = max((b - a for a, b in spans(watch.changes, vip, 0, start, end)),
                           default=0.0)
        later = [a.at for a in capture.seen if a.family == family.lower() and arrived <= a.at
                 < end]
        tail[family] = max(later) - arrived if later else -1.0
    return Moved(both, none, tail)


def settle(watch: Watch, master: str) -> None:
    """Wait until ``master`` alone holds both VIPs."""
    other = "n2" if master == "n1" else "n1"
    _until(watch, lambda: watch.now(master) == set(FAMILIES.values()) and not watch.now(other),
           f"{master} did not become sole master")


def _until(watch: Watch, done: Callable[[], bool], message: str) -> None:
    end = time.monotonic() + MOVE_TIMEOUT
    while not done():
        if time.monotonic() > end:
            raise LabError(f"{message} within {MOVE_TIMEOUT:g} s: "
                           f"{ {n: sorted(watch.now(n)) for n in watch.nodes} }")
        time.sleep(0.01)


def table(results: dict[tuple[str, str], list[Moved]], repeats: int, took: float) -> str:
    lines = [(f"keepalived's planned moves in the lab (both nodes' addresses every 10 ms; "
              f"median / max of {repeats} per row, ms; {took:.0f} s in all)"), "",
             ("| profile | action | both hold IPv4 | both hold IPv6 | none holds IPv4 | "
              "none holds IPv6 | announcements go on IPv4 (s) | IPv6 (s) |"),
             "|---|---|---|---|---|---|---|---|"]
    for (profile, label), moves in results.items():
        cells = [_ms([m.both[f] for m in moves]) for f in FAMILIES]
        cells += [_ms([m.none[f] for m in moves]) for f in FAMILIES]
        cells += [_s([m.tail[f] for m in moves]) for f in FAMILIES]
        lines.append(f"| {profile} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} / {max(values) * 1000:.0f}"


def _s(values: list[float]) -> str:
    seen = [v for v in values if v >= 0]
    if not seen:
        return "none seen"
    return f"{statistics.median(seen):.2f} / {max(seen):.2f}"
