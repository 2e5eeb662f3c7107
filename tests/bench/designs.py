"""The two dual-stack designs `lbcheck init` can write, measured in the lab (issue 22).

`bin/bench designs`: the generated dual-stack pair, conservative profile, multicast, once
with ``--design excluded`` (one instance, the IPv6 VIPs in virtual_ipaddress_excluded) and
once with ``--design sync-group`` (an instance per family in a vrrp_sync_group), through the
same faults on the master, interleaved round by round so a noisy minute hits every cell
alike. Per cell: the client-seen outage per family (median / max), and from both nodes'
addresses read every 10 ms (tests/lab/addrwatch.py) across the fault and the fail-back: in how
many rounds the families were held apart (a node with one family's VIP and not the other's)
or the IPv6 VIP by both nodes at once, and the longest such moment. What `--design`'s
default rests on.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from tests.lab.addrwatch import Change, Watch, held_at, spans
from tests.lab.lab import Lab
from tests.lab.render import Generated
from tests.lab.topology import VIP4, VIP6

DESIGNS = ("excluded", "sync-group")
FAULTS = ("killed", "hung", "interface")
LABELS = {"killed": "haproxy killed", "hung": "haproxy hung (SIGSTOP)",
          "interface": "node gone (link down)"}


class Cell:
    """One design × fault: every round's outages and overlaps."""

    def __init__(self) -> None:
        self.ipv4: list[float] = []
        self.ipv6: list[float] = []
        self.apart: list[float] = []  # s the families were held apart, per round
        self.both6: list[float] = []  # s the IPv6 VIP was on both nodes, per round


def run(rounds: int = 5, never_after: float = 10.0) -> str:
    cells: dict[tuple[str, str], Cell] = {}
    started = time.monotonic()
    for design in DESIGNS:
        pair = Generated((4, 6), "conservative", unicast=False, design=design)
        lab = Lab(Path(tempfile.mkdtemp(prefix=f"lbcheck-bench-designs-{design}-")),
                  generated=pair)
        try:
            lab.up()
            for _ in range(rounds):
                for fault in FAULTS:
                    cell = cells.setdefault((design, fault), Cell())
                    with Watch((VIP4, VIP6)) as watch:
                        since = time.time()
                        measured = lab.measure(fault, timeout=never_after)
                        lab.recover(fault)
                        until = time.time()
                    cell.ipv4.append(measured.ipv4)
                    cell.ipv6.append(measured.ipv6)
                    cell.apart.append(apart(watch.changes, since, until))
                    cell.both6.append(sum(b - a for a, b in spans(watch.changes, VIP6, 2,
                                                                  since, until)))
        finally:
            lab.down()
    lines = [(f"the generated dual-stack pair (conservative, multicast) by --design: "
              f"client-seen outage (s; median / max of {rounds} rounds, the fault at a random "
              "phase) and, across the fault and the fail-back, rounds in which the families "
              "were held apart or the IPv6 VIP by both nodes (longest moment; addresses read "
              f"every 10 ms); {time.monotonic() - started:.0f} s in all"), "",
             "| design | fault on the master | IPv4 | IPv6 | families apart | IPv6 VIP on both |",
             "|---|---|---|---|---|---|"]
    for design in DESIGNS:
        for fault in FAULTS:
            cell = cells[(design, fault)]
            lines.append(f"| {design} | {LABELS[fault]} | {_spread(cell.ipv4, never_after)} | "
                         f"{_spread(cell.ipv6, never_after)} | {_episodes(cell.apart)} | "
                         f"{_episodes(cell.both6)} |")
    return "\n".join(lines)


def apart(changes: dict[str, list[Change]], start: float, end: float) -> float:
    """Seconds within [start, end] in which some node held one family's VIP and not the
    other's: the families held by different nodes, or one of them by none."""
    points = sorted({start, end, *(c.at for cs in changes.values() for c in cs
                                   if start < c.at < end)})
    total = 0.0
    for a, b in pairwise(points):
        held = [held_at(cs, a) for cs in changes.values()]
        if any((VIP4 in h) != (VIP6 in h) for h in held):
            total += b - a
    return total


def _spread(values: list[float], never_after: float) -> str:
    if statistics.median(values) == float("inf"):
        return f"never (>{never_after:g})"
    worst = max(values)
    return (f"{statistics.median(values):.2f} / "
            f"{'never' if worst == float('inf') else f'{worst:.2f}'}")


def _episodes(durations: list[float]) -> str:
    seen = [d for d in durations if d > 0]
    if not seen:
        return f"never (0 of {len(durations)})"
    longest = max(seen) * 1000
    return (f"{len(seen)} of {len(durations)} (longest "
            f"{'< 1' if longest < 1 else f'{longest:.0f}'} ms)")
