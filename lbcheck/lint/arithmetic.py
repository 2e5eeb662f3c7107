"""The failover arithmetic: does a failing check on the master actually move the VIPs?

keepalived (2.2.x, verified in its source) adds a positive weight while a tracked item is
OK and subtracts a negative one while it is KO, clamping the effective priority to 1..254;
weight 0 (the default for track_script entries without one) means FAULT on failure. A
priority of 255 marks the address owner and ignores weights. The backup takes over only if
its effective priority exceeds the master's (ties go to the higher primary IP address).
"""

from __future__ import annotations

from typing import NamedTuple

FAULT = 0  # effective priority that stands for "this node is in FAULT"


class Tracked(NamedTuple):
    name: str
    weight: int  # 0: failure means FAULT


class Node(NamedTuple):
    label: str  # e.g. "n1 VI_1"
    priority: int
    tracked: tuple[Tracked, ...]

    def effective(self, failing: str | None = None) -> int:
        """Effective priority with every tracked item OK except ``failing``."""
        if self.priority == 255:
            return 255 if failing is None or self._weight(failing) else FAULT
        value = self.priority
        for item in self.tracked:
            ko = item.name == failing
            if item.weight == 0:
                if ko:
                    return FAULT
            elif item.weight > 0 and not ko or item.weight < 0 and ko:
                value += item.weight
        return max(1, min(254, value))

    def _weight(self, name: str) -> int:
        return next((t.weight for t in self.tracked if t.name == name), 0)


class Scenario(NamedTuple):
    failing: str  # the tracked item failing alone on the master
    master: int
    backup: int
    takes_over: bool


def scenarios(master: Node, backup: Node) -> list[Scenario]:
    """For every item the master tracks, failing alone there: does the backup take over?"""
    base_backup = backup.effective()
    result = []
    for item in master.tracked:
        effective = master.effective(item.name)
        takes_over = effective == FAULT or base_backup > effective
        result.append(Scenario(item.name, effective, base_backup, takes_over))
    return result


def takeover_time(weighted: bool, advert_int: float, priority: int) -> float:
    """Expected seconds until the backup is master (RFC 5798 timers keepalived follows).

    FAULT: the master sends a priority-0 advert and the backup waits only its skew time.
    Weighted: the backup waits until the master's adverts stop winning, i.e. the master-down
    interval, 3 × advert_int + skew (measured: ~3.5 s at advert_int 1).
    """
    skew = (256 - priority) / 256 * advert_int
    return skew if not weighted else 3 * advert_int + skew


NODE_LOSS_SLOW = 1.0  # s: above this a lost master node is worth the fast profile (KA013)


def node_loss_time(advert_int: float, priority: int) -> float:
    """A vanished master (power, link, kernel panic) sends nothing: 3 × advert_int + skew."""
    return takeover_time(True, advert_int, priority)


def detection(interval: float, fall: int) -> float:
    """A vrrp_script's average detection: half an interval to the next run, then fall − 1 more."""
    return interval / 2 + (fall - 1) * interval


def both_failing(master: Node, backup: Node, item: str) -> str:
    """Who holds the VIPs when ``item`` fails on both nodes at once (the same check)."""
    here, there = master.effective(item), backup.effective(item)
    if here == FAULT and there == FAULT:
        return "no node holds the VIPs (FAULT on both)"
    holder = master if here >= there else backup
    return f"the VIPs stay on {holder.label} ({max(here, there)} vs {min(here, there)})"


def table(master: Node, backup: Node) -> list[str]:
    """The priority table the operator needs: base, each weight, effective OK and KO."""
    lines = [f"{'node':<14} {'base':>4}  tracked (weight)                      OK    KO"]
    for node in (master, backup):
        weights = ", ".join(f"{t.name} ({t.weight:+d})" if t.weight else f"{t.name} (FAULT)"
                            for t in node.tracked) or "-"
        worst = min((node.effective(t.name) for t in node.tracked), default=node.effective())
        lines.append(f"{node.label:<14} {node.priority:>4}  {weights:<36} "
                     f"{node.effective():>4}  {worst if worst else 'FAULT':>4}")
    return lines
