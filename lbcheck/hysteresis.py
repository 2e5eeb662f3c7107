"""rise/fall: how many consecutive results it takes to change our mind.

The same semantics as keepalived's vrrp_script `rise` and `fall`, so an operator moving a
check from vrrp_script to the watcher keeps the numbers they already tuned.
"""

from __future__ import annotations


class Hysteresis:
    def __init__(self, rise: int, fall: int, healthy: bool = True) -> None:
        self.rise = rise
        self.fall = fall
        self.healthy = healthy
        self._streak = 0  # consecutive results that disagree with the current verdict

    def update(self, ok: bool) -> bool:
        """Feed one result; True when the verdict flipped."""
        if ok == self.healthy:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak >= (self.rise if ok else self.fall):
            self.healthy = ok
            self._streak = 0
            return True
        return False
