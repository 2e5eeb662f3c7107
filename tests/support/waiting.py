"""Waiting on another process without betting on a moment: poll until a condition holds,
within a bound.

A test that reads a log, a file or a receiver right after an action races the process that
writes it (a FIFO reader's worker, a detached sender); a fixed sleep loses that race on a
busy machine and wastes time on an idle one. :func:`eventually` returns as soon as the
condition holds, and after the bound returns what it last saw, so the caller's assertion
fails with the evidence rather than a timeout message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float,
               interval: float = 0.05) -> T:
    """``read()`` once ``done`` holds for it, or its last reading after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        seen = read()
        if done(seen) or time.monotonic() >= end:
            return seen
        time.sleep(interval)
