"""What each of lbnotify's steps did for one event, typed, and the one log line it becomes.

The steps (:mod:`.handlers`) return these instead of filling a shared dict: the announcer runs
in a thread, and a result it hands back can be waited for with a bound, where a dict it writes
into says nothing when it never comes. ``as_log`` is the only place that knows the shape of
the ``vrrp_event`` line, which operators and tests read: a key that did not apply is absent,
never null, and lists stay lists (logfmt renders a tuple differently).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class PageStep(NamedTuple):
    """Recording the event and queueing its pages, under the instance lock."""

    queued: tuple[str, ...] = ()  # "action:severity" per page put in the outbox
    error: str | None = None  # then nothing was queued (or not all of it: the log says which)
    ms: float = 0.0

    def as_log(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error, "ms": self.ms}
        return {"queued": list(self.queued), "ms": self.ms}


class AnnounceStep(NamedTuple):
    """GARP/NA for the instance's VIPs (the hook's thread, or `lbnotify announce`)."""

    sent: tuple[str, ...] = ()  # one line per address, as `lbnotify announce` prints them
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    error: str | None = None
    config_warnings: tuple[str, ...] = ()  # what keepalived.conf's reading went around
    ms: float | None = None  # None: not timed (`lbnotify announce` logs no ms)
    # False: no address was tried (the VIPs were never read, or the announcement did not come
    # back): the line then lists none rather than three empty lists that would say "nothing".
    tried: bool = True

    def lines(self) -> tuple[str, ...]:
        return self.sent + self.skipped + self.failed

    def as_log(self) -> dict[str, Any]:
        entry: dict[str, Any] = {} if self.error is None else {"error": self.error}
        if self.tried:
            entry |= {"sent": list(self.sent), "skipped": list(self.skipped),
                      "failed": list(self.failed)}
        if self.ms is not None:
            entry["ms"] = self.ms
        if self.config_warnings:
            entry["config_warnings"] = list(self.config_warnings)
        return entry


class DeliverStep(NamedTuple):
    """Sending what waits within the hook's budget, then the hand-off to the detached sender.

    A count is None when it is not known: the outbox could not be flushed at all (then
    ``waiting`` is None too), or the flush crashed (then ``waiting`` is 1: the event's page
    is on disk and the sender is asked to deliver it).
    """

    sent: int | None = None
    waiting: int | None = None
    failed: int | None = None
    rejected: int | None = None
    dead: int | None = None
    sender: str | None = None  # what the hand-off said ("started PID", "off"…); None: none
    error: str | None = None
    ms: float = 0.0

    def as_log(self) -> dict[str, Any]:
        entry: dict[str, Any] = {} if self.error is None else {"error": self.error}
        counts = {"sent": self.sent, "waiting": self.waiting, "failed": self.failed,
                  "rejected": self.rejected, "dead": self.dead}
        entry |= {key: value for key, value in counts.items() if value is not None}
        entry["ms"] = self.ms
        if self.sender is not None:
            entry["sender"] = self.sender
        return entry


class MetricsStep(NamedTuple):
    """The Prometheus textfile rewritten after the event (or after `lbnotify flush`)."""

    error: str | None = None
    ms: float = 0.0

    def as_log(self) -> dict[str, Any]:
        return {"ms": self.ms} if self.error is None else {"error": self.error, "ms": self.ms}


class Report(NamedTuple):
    """Every step of one event; a step that did not run (no announcement for a BACKUP, no
    delivery from the FIFO reader's busy queue, no metrics file) is None and not logged."""

    page: PageStep
    announce: AnnounceStep | None = None
    deliver: DeliverStep | None = None
    metrics: MetricsStep | None = None
    previous: str | None = None  # the state remembered before this event; None: first sight
    recalled: bool = False  # whether the memory was read at all (else no `previous` key)
    ms: float = 0.0

    def steps(self) -> dict[str, PageStep | AnnounceStep | DeliverStep | MetricsStep]:
        """The steps that ran, by the name the log line and stderr give them, in step order."""
        ran = {"page": self.page, "announce": self.announce, "deliver": self.deliver,
               "metrics": self.metrics}
        return {name: step for name, step in ran.items() if step is not None}

    def failed_steps(self) -> dict[str, str]:
        """Step name → its error: what makes the hook exit 1 and its line an error line."""
        return {name: step.error for name, step in self.steps().items()
                if step.error is not None}

    def config_warnings(self) -> list[tuple[str, str]]:
        """(step, warning): the config was read around; said on stderr, acted on anyway."""
        return [("announce", warning)
                for warning in (self.announce.config_warnings if self.announce else ())]

    def as_log(self) -> dict[str, Any]:
        """The report's fields of the ``vrrp_event`` line, shaped as they always were."""
        entry: dict[str, Any] = {"previous": self.previous} if self.recalled else {}
        entry |= {name: step.as_log() for name, step in self.steps().items()}
        entry["ms"] = self.ms
        return entry
