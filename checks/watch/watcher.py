"""`lbcheck watch`: the haproxy check in-process, every interval, feeding keepalived's track_file.

A spawned check costs an interpreter start per run and detects on average half an interval
late; shortening keepalived's interval multiplies the cost. The watcher pays the start-up once
and checks every 100–200 ms. It writes the track file only when the filtered verdict (or, in
graded mode, the value) changes, so keepalived re-reads it only when something happened.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING

from lbcheck.checks.haproxy import HaproxyTarget, check
from lbcheck.checks.pipeline import run_check
from lbcheck.checks.transitions import log_transition
from lbcheck.checks.watch.deathwatch import DeathWatch, haproxy_pids
from lbcheck.checks.watch.hysteresis import Hysteresis
from lbcheck.checks.watch.track_file import TrackFile
from lbcheck.config import LogSection
from lbcheck.deadline import Deadline, DeadlineExceeded
from lbcheck.outcome import Outcome

if TYPE_CHECKING:
    from lbcheck.checks.watch.metrics import CheckMetrics

FAILED = 254  # graded value when haproxy itself is down: as bad as a priority can get
METRICS_EVERY = 5.0  # seconds between metrics writes (scrapes come every 15 s or more)


class Watcher:
    def __init__(self, target: HaproxyTarget, track: TrackFile, interval: float, rise: int,
                 fall: int, deadline: float, log: LogSection, graded: bool = False,
                 metrics_path: str | None = None) -> None:
        self.target = target
        self.track = track
        self.interval = interval
        self.deadline = deadline
        self.log = log
        self.graded = graded
        # The first verdict decides (keepalived's vrrp_script without init_fail): a watcher
        # restarted on a healthy node must not write a failure for `rise` cycles first.
        self.verdict = Hysteresis(rise, fall)
        self.stopping = threading.Event()
        self.metrics: CheckMetrics | None = None
        if metrics_path:
            from lbcheck.checks.watch.metrics import CheckMetrics

            self.metrics = CheckMetrics(metrics_path)
        self._metrics_due = 0.0
        self.cycles = 0
        self.deaths = DeathWatch()  # haproxy's death wakes the loop at once (pidfd)
        self.woken = 0  # cycles started by a death rather than the interval
        self._failing: dict[str, str] = {}  # "track"/"metrics" → the error last logged

    def cycle(self) -> Outcome:
        """One check (the spawned `lbcheck haproxy`'s, built afresh: the pidfile it resolves
        may appear later), then hysteresis, track file, log, metrics."""
        outcome = run_check(check(self.target), Deadline(self.deadline))
        was = self.verdict.healthy
        changed = self.verdict.update(outcome.state.exit_code == 0)  # always, on the first
        self.write_track(self.value(outcome))
        if changed:
            log_transition(outcome, "watch-haproxy",
                           None if was is None else ("OK" if was else "CRITICAL"), self.log)
        self.cycles += 1
        now = time.time()
        if self.metrics is not None:
            self.metrics.observe(outcome, self.verdict.healthy is True, changed, now)
            if changed or now >= self._metrics_due:
                self.write_metrics(self.metrics)
                self._metrics_due = now + METRICS_EVERY
        return outcome

    def write_track(self, value: int) -> None:
        """The track file, within one deadline: a hung disk must not stop the loop.

        Not written (a full disk, a directory made unusable, the deadline): one error line,
        and the next cycle tries again, since the value on record did not change.
        """
        try:
            with Deadline(self.deadline).guard():
                self.track.write(value)
            self._failing.pop("track", None)
        except (OSError, DeadlineExceeded) as exc:
            self._write_failed("track", self.track.path, exc)

    def write_metrics(self, metrics: CheckMetrics) -> None:
        """The textfile, within one deadline; a failure is logged, the check goes on."""
        try:
            with Deadline(self.deadline).guard():
                metrics.write()
            self._failing.pop("metrics", None)
        except (OSError, DeadlineExceeded) as exc:
            self._write_failed("metrics", metrics.path, exc)

    def _write_failed(self, what: str, path: str, exc: Exception) -> None:
        """One line per new reason, not one per cycle (5 Hz): retried every cycle meanwhile."""
        error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if self._failing.get(what) == error:
            return
        self._failing[what] = error
        from lbcheck.log import get_logger

        get_logger(self.log, "lbcheck").error(f"{what} file not written; retrying every cycle",
                                              path=path, error=error)

    def value(self, outcome: Outcome) -> int:
        """0 healthy; otherwise 1, or in graded mode the backend shortfall (254: haproxy down)."""
        if self.verdict.healthy:
            return 0
        if not self.graded:
            return 1
        failing = [s for s in outcome.samples if s.state.exit_code != 0]
        if failing and all(s.probe == "backends" for s in failing):
            return int(dict(failing[0].metrics).get("shortfall", 1)) or 1
        return FAILED

    def run(self, once: bool = False) -> int:
        """Check every interval, or at once when haproxy dies, until SIGTERM/SIGINT."""
        def stop(*_: object) -> None:
            self.stopping.set()
            self.deaths.wake()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while True:
                started = time.monotonic()
                outcome = self.cycle()
                if once:
                    return outcome.state.exit_code
                self.deaths.track(haproxy_pids(self.target.resolved_pidfile()))
                if self.deaths.wait(self.interval - (time.monotonic() - started)):
                    self.woken += 1
                if self.stopping.is_set():
                    return 0
        finally:
            self.deaths.close()
