"""Run one probe: time it, and turn the probe's own errors into a Sample.

This is the one place where "the probe could not tell" becomes a verdict, so every probe can
simply raise :class:`ProbeError` (or run out of time) and stay free of bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lbcheck.deadline import DeadlineExceeded
from lbcheck.outcome import ProbeError, Sample, State


def timed(name: str, probe: Callable[[], Sample]) -> Sample:
    started = time.perf_counter()
    try:
        sample = probe()
    except ProbeError as exc:
        sample = Sample(name, exc.state, exc.reason)
    except DeadlineExceeded as exc:
        sample = Sample(name, State.UNKNOWN, f"{exc} before {name} could answer")
    elapsed = (time.perf_counter() - started) * 1000
    return Sample(sample.probe, sample.state, sample.reason, elapsed, sample.metrics,
                  sample.details, sample.skipped)


def skipped(name: str, why: str) -> Sample:
    """A probe we did not run because an earlier one already decided (e.g. no process)."""
    return Sample(name, State.OK, why, skipped=True)
