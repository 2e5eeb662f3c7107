"""Client-seen outage in the two-node lab.

`bin/bench lab`: the conservative profile (examples/), the watcher vs the spawned check vs
`killall -0`. `bin/bench lab --profile fast`: both profiles with the watcher, measured in one
run, ≥ 10 runs per cell, the fault at a random phase, median and p90 per family, and the
"haproxy down on both nodes" check. A fault that never moves the VIPs shows as "never".
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.lab.lab import Lab
from tests.lab.topology import VIP4, VIP6

FAULTS = ("killed", "hung", "zombie", "backends")
CHECKS = ("watch", "lbcheck", "killall")
TARGETS = {"killed": "≤ 1.2", "hung": "≤ 2.0", "zombie": "≤ 1.2", "backends": "≤ 1.0 + hc"}
# The fast profile's faults and targets (issue 13; medians, seconds).
FAST_FAULTS = ("killed", "zombie", "hung", "frozen", "interface", "keepalived-kill")
FAST_TARGETS = {"killed": "≤ 0.3", "zombie": "≤ 0.3", "hung": "≤ 0.5", "frozen": "≤ 0.8",
                "interface": "≤ 0.5", "keepalived-kill": "VIPs on one node"}
LABELS = {"killed": "killed (SIGKILL)", "zombie": "a zombie", "hung": "hung (SIGSTOP)",
          "frozen": "frozen (cgroup freezer)", "interface": "node gone (link down)",
          "keepalived-kill": "keepalived SIGKILL"}


def run(repeats: int = 5, never_after: float = 10.0, checks: tuple[str, ...] = CHECKS,
        profile: str = "conservative") -> str:
    if profile == "fast":
        return run_profiles(max(repeats, 10), never_after)
    results: dict[tuple[str, str], list[float]] = {}
    for check in checks:
        lab = Lab(Path(tempfile.mkdtemp(prefix=f"lbcheck-bench-lab-{check}-")), check=check)
        try:
            lab.up()
            for fault in FAULTS:
                for _ in range(repeats):
                    measured = lab.measure(fault, timeout=never_after)
                    results.setdefault((check, fault), []).append(
                        max(measured.ipv4, measured.ipv6))
                    lab.recover(fault)
        finally:
            lab.down()
    lines = [(f"client-seen outage in the lab (s; median of {repeats}, worse of IPv4/IPv6; "
             "advert_int 1, interval 1)"),
             (f"{'fault':<10} {'lbcheck watch':>14} {'lbcheck haproxy':>16} "
             f"{'killall -0 haproxy':>19} {'target':>10}")]
    for fault in FAULTS:
        cells = [_cell(results[(check, fault)], never_after) if (check, fault) in results
                 else "-" for check in CHECKS]
        lines.append(f"{fault:<10} {cells[0]:>14} {cells[1]:>16} {cells[2]:>19} "
                     f"{TARGETS[fault]:>10}")
    return "\n".join(lines)


def run_profiles(repeats: int = 10, never_after: float = 10.0,
                 profiles: tuple[str, ...] = ("conservative", "fast")) -> str:
    """Both profiles, the watcher on each, every fault ``repeats`` times; a Markdown table."""
    results: dict[tuple[str, str, str], list[float]] = {}
    both_down: dict[str, str] = {}
    started = time.monotonic()
    for profile in profiles:
        lab = Lab(Path(tempfile.mkdtemp(prefix=f"lbcheck-bench-lab-{profile}-")),
                  check="watch", profile=profile)
        try:
            lab.up()
            for _ in range(repeats):  # interleaved: a noisy minute hits every fault alike
                for fault in FAST_FAULTS:
                    measured = lab.measure(fault, timeout=never_after)
                    results.setdefault((profile, fault, "IPv4"), []).append(measured.ipv4)
                    results.setdefault((profile, fault, "IPv6"), []).append(measured.ipv6)
                    lab.recover(fault)
            both_down[profile] = haproxy_down_on_both(lab)
        finally:
            lab.down()
    lines = [(f"client-seen outage in the lab, the watcher feeding track_file (s; median / "
              f"p90 of {repeats} runs per cell, the fault at a random phase; "
              f"{time.monotonic() - started:.0f} s in all)"), "",
             "| fault on the master | " + " | ".join(
                 f"{p} IPv4 | {p} IPv6" for p in profiles) + " | fast target |",
             "|---|" + "---|" * (2 * len(profiles) + 1)]
    for fault in FAST_FAULTS:
        cells = [_cell_p90(results[(p, fault, f)], never_after)
                 for p in profiles for f in ("IPv4", "IPv6")]
        lines.append(f"| {LABELS[fault]} | " + " | ".join(cells)
                     + f" | {FAST_TARGETS[fault]} |")
    lines.append("| haproxy down on both | " + " | ".join(
        f"{both_down[p]} | {both_down[p]}" for p in profiles) + " | VIPs on one node |")
    return "\n".join(lines)


def haproxy_down_on_both(lab: Lab, settle: float = 3.0) -> str:
    """Kill haproxy on both nodes: who holds the VIPs after ``settle`` seconds."""
    lab.wait_for_master("n1", 25)
    for node in ("n2", "n1"):
        lab.inject(node, "killed")
    time.sleep(settle)
    holders = lab.holders()
    lab.restart_node("n2")
    lab.restart_node("n1")
    lab.wait_for_master("n1", 25)
    held = [n for n, vips in holders.items() if vips == {VIP4, VIP6}]
    if not any(holders.values()):
        return "**no node**"
    return f"{held[0]} only" if len(held) == 1 and sum(map(bool, holders.values())) == 1 \
        else f"**{holders}**"


def _cell(values: list[float], never_after: float) -> str:
    median = statistics.median(values)
    return f"never (>{never_after:g})" if median == float("inf") else f"{median:.2f}"


def _cell_p90(values: list[float], never_after: float) -> str:
    ordered = sorted(values)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    if median == float("inf"):
        return f"never (>{never_after:g})"
    return f"{median:.2f} / {'never' if p90 == float('inf') else f'{p90:.2f}'}"
