"""One time budget for a whole check, so keepalived never has to kill us.

Every blocking call takes its timeout from :meth:`Deadline.timeout`; :meth:`Deadline.guard`
arms ``SIGALRM`` as the last line of defence for code that ignores timeouts (a stuck
``/proc`` read, DNS inside a library).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager


class DeadlineExceeded(Exception):
    """The budget ran out before the check could decide."""


class Deadline:
    __slots__ = ("expires", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def timeout(self) -> float:
        """The time left for the next blocking call; raises when nothing is left."""
        left = self.expires - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"deadline of {self.seconds:g} s passed")
        return left

    def part(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now but never after this one: one attempt's share, so a
        connection an old worker swallowed during a reload leaves time to ask again."""
        return Deadline(max(0.0, min(seconds, self.remaining())))

    @contextmanager
    def guard(self, slack: float = 0.05) -> Iterator[None]:
        """Interrupt whatever runs once the deadline (plus ``slack``) has passed."""

        def _expired(signum: int, frame: object) -> None:
            raise DeadlineExceeded(f"deadline of {self.seconds:g} s passed")

        previous = signal.signal(signal.SIGALRM, _expired)
        signal.setitimer(signal.ITIMER_REAL, self.remaining() + slack)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
