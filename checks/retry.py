"""Ride out a reload: ask again, on a fresh connection, before concluding.

A reload of a healthy haproxy looks like a failure for a moment, and each sign goes away when
asked again (measured on haproxy 2.6, Debian's `-Ws -S` unit, SIGUSR2):
- the master CLI refuses or resets connections while the master re-executes itself: 50–100 ms
  with a small config, over 450 ms with 20,000 servers;
- an old worker accepts a stats-socket connection and answers `Stopping: 1` while the new
  worker already serves (a few ms);
- the pidfile is missing or empty for a moment while the master rewrites it.
- rarely (1 in ~27,000 checks in a tight loop through 2 Hz reloads), an old worker accepts a
  connection as it stops and never answers it.
So a probe whose failure is *transient* (``ProbeError.transient``) is asked again with a short
bounded backoff, as long as the one Deadline leaves room for another attempt and for the probes
after it. The last failure stands. Each attempt gets a share of the deadline (half of what is
left, until a share would be under 0.1 s; then all of it), so a swallowed connection leaves
time for a fresh one, while a really hung haproxy is silent on every attempt and still fails
within the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from lbcheck.deadline import Deadline
from lbcheck.outcome import ProbeError

T = TypeVar("T")

FIRST_PAUSE = 0.005  # seconds before the second attempt; doubles up to MAX_PAUSE
MAX_PAUSE = 0.1
RESERVE = 0.1  # seconds of the deadline kept for the probes that run after this one
MIN_SHARE = 0.1  # seconds: an attempt given less than this gets the whole rest instead


class Attempts(NamedTuple):
    """How an answer was reached: shown in --verbose so a ridden-out reload is visible."""

    tries: int = 1
    waited_ms: float = 0.0
    first_failure: str = ""

    def note(self, last: str = "") -> str:
        """'' for a first-time answer, else what was ridden out and for how long."""
        if self.tries == 1:
            return ""
        first = "" if self.first_failure == last else f"; first: {self.first_failure}"
        return f" (attempt {self.tries} after {self.waited_ms:.0f} ms{first})"


class Exhausted(ProbeError):
    """Every attempt failed transiently: carries the last failure and the attempts made."""

    def __init__(self, last: ProbeError, attempts: Attempts) -> None:
        super().__init__(last.state, last.reason + attempts.note(last.reason), last.transient)
        self.last = last
        self.attempts = attempts


def until_settled(attempt: Callable[[Deadline], T], deadline: Deadline,
                  reserve: float = RESERVE, patience: float | None = None) -> tuple[T, Attempts]:
    """``attempt(share)`` until it returns or fails for good; raises :class:`Exhausted` at the
    end. ``share`` is the part of ``deadline`` this attempt may spend waiting; ``patience``
    bounds the time spent asking again when a reload's sign is known to be brief."""
    if patience is not None:
        deadline = deadline.part(patience + reserve)
    started = time.monotonic()
    pause = FIRST_PAUSE
    count = 0
    first = ""
    while True:
        count += 1
        spare = deadline.remaining() - reserve
        share = spare / 2 if spare >= 2 * MIN_SHARE else deadline.remaining()
        try:
            value = attempt(deadline.part(share))
        except ProbeError as exc:
            if not exc.transient:
                raise
            first = first or exc.reason
            if deadline.remaining() <= pause + reserve:
                waited = (time.monotonic() - started) * 1000
                raise Exhausted(exc, Attempts(count, waited, first)) from None
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
            continue
        return value, Attempts(count, (time.monotonic() - started) * 1000, first)
