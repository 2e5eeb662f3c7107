"""rise/fall: how many consecutive results it takes to change our mind.

The same semantics as keepalived's vrrp_script `rise` and `fall`, so an operator moving a
check from vrrp_script to the watcher keeps the numbers they already tuned — start-up included:
without `init_fail`, keepalived lets a script's first result decide, so a freshly started
checker neither has to earn "healthy" over `rise` runs nor needs `fall` runs to fail.
"""

from __future__ import annotations


class Hysteresis:
    def __init__(self, rise: int, fall: int, healthy: bool | None = None) -> None:
        self.rise = rise
        self.fall = fall
        self.healthy = healthy  # None: no verdict yet, the first result decides
        self._streak = 0  # consecutive results that disagree with the current verdict

    def update(self, ok: bool) -> bool:
        """Feed one result; True when the verdict flipped (or was reached for the first time)."""
        if self.healthy is None:
            self.healthy = ok
            return True
        if ok == self.healthy:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak >= (self.rise if ok else self.fall):
            self.healthy = ok
            self._streak = 0
            return True
        return False
