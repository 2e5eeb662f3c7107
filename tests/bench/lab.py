"""Client-seen outage in the two-node lab: the watcher, the spawned check, `killall -0`.

Both run in the same lab, same examples, same run; only the vrrp_script line differs. A
fault that never moves the VIPs (the baseline's blind spots) shows as "never".
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from tests.lab.lab import Lab

FAULTS = ("killed", "hung", "zombie", "backends")
CHECKS = ("watch", "lbcheck", "killall")
TARGETS = {"killed": "≤ 1.2", "hung": "≤ 2.0", "zombie": "≤ 1.2", "backends": "≤ 1.0 + hc"}


def run(repeats: int = 5, never_after: float = 10.0, checks: tuple[str, ...] = CHECKS) -> str:
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


def _cell(values: list[float], never_after: float) -> str:
    median = statistics.median(values)
    return f"never (>{never_after:g})" if median == float("inf") else f"{median:.2f}"
