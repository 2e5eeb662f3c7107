"""What a status is made of: plain records, filled by gather.py, judged by explain.py.

Kept apart from both so the explanation can be tested on records written by hand, and the
renderers (text, JSON, metrics) all read the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackerView:
    """One tracker of one instance: what keepalived says and what it adds to the priority."""

    kind: str  # script | process | file | interface
    name: str
    weight: int | None
    status: str | None  # keepalived's word: GOOD/BAD, "UP, RUNNING", quorum…, a file's value
    result: int | None
    ok: bool | None  # None: keepalived does not say yet (a script still INIT)
    contribution: int | None  # to the priority now; None: it faults the instance instead
    faults: bool  # weight 0 and failing: the instance goes FAULT
    detail: str | None = None  # what lbcheck recorded behind it ("haproxy CRITICAL 12 s ago")


@dataclass(frozen=True)
class VipView:
    address: str  # with its prefix, as keepalived prints it
    excluded: bool  # from virtual_ipaddress_excluded
    interface: str | None
    here: bool | None  # on the interface now (kernel); None: not in keepalived's netns
    holders: int | None = None  # the pair watch's last count (lbnotify); None: not watched
    holders_age: float | None = None  # seconds since that round


@dataclass(frozen=True)
class Recorded:
    """What lbnotify remembered of the instance (its notify hooks / FIFO reader)."""

    state: str | None
    changed_at: float | None
    transitions: int


@dataclass(frozen=True)
class InstanceView:
    name: str
    state: str | None
    since: float | None  # epoch seconds of the last transition
    sync_group: str | None
    interface: str | None
    # MASTER (state MASTER or priority 255), BACKUP (MASTER only while no peer advertises
    # more: the both-BACKUP idiom), either (nopreempt: whichever node got there)
    intended: str
    base_priority: int | None
    effective_priority: int | None
    trackers: tuple[TrackerView, ...]
    vips: tuple[VipView, ...]
    master_router: str | None
    master_priority: int | None
    preempt: bool | None
    recorded: Recorded | None
    missing: dict[str, str] = field(default_factory=dict)
    # explain.py's judgement
    as_intended: bool = False
    healthy: bool = False
    explanation: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """The whole answer for one node."""

    pid: int
    config: str
    data_dump: str
    json_dump: str | None
    written_at: float  # when keepalived wrote the dump (epoch seconds)
    instances: tuple[InstanceView, ...]
    sync_groups: tuple[tuple[str, str | None, tuple[str, ...]], ...]  # name, state, members
    haproxy: str | None  # lbcheck's last recorded haproxy verdict, in words
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(i.as_intended and i.healthy for i in self.instances)
