"""What keepalived's dumps say about its VRRP state, as typed records.

The parsers (:mod:`.data_dump`, :mod:`.json_dump`) fill these in; nothing here reads a file.
A field a dump does not carry is None, and ``missing`` says why in words an operator can be
shown ("keepalived 2.2.7's .data dump has no master router for VI_1"): a status view that
leaves a blank without a reason sends the operator back to the raw dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TRACKER_KINDS = ("script", "process", "file", "interface")


class DumpFormatError(ValueError):
    """Bytes that are not a keepalived dump of a format we know (the parsers' only error)."""


@dataclass(frozen=True)
class Vip:
    """One address of ``virtual_ipaddress`` or ``virtual_ipaddress_excluded``."""

    address: str  # as keepalived prints it, prefix included: "192.0.2.100/24"
    interface: str | None
    installed: bool | None  # keepalived marks an address it has set with a trailing "set"


@dataclass(frozen=True)
class Tracker:
    """One thing an instance tracks, and what it contributes.

    ``status`` is what keepalived says of it: a script's GOOD/BAD/…, an interface's link
    state ("UP, RUNNING"), a process's "quorum"/"no quorum", a file's value; ``result`` the
    number behind it where there is one (a script's result, a file's value, the number of
    processes). ``weight`` is the instance's weight for it (a tracker may weigh differently
    for each instance that tracks it).
    """

    kind: str  # one of TRACKER_KINDS
    name: str
    weight: int | None
    status: str | None
    result: int | None


@dataclass(frozen=True)
class Instance:
    name: str
    state: str | None  # MASTER, BACKUP, FAULT, INIT, STOP…
    sync_group: str | None
    interface: str | None
    base_priority: int | None
    effective_priority: int | None
    vips: tuple[Vip, ...] | None
    excluded_vips: tuple[Vip, ...] | None
    master_router: str | None  # the master a BACKUP hears, as the dump shows it
    master_priority: int | None  # the priority that master advertises
    preempt: bool | None
    last_transition: float | None  # seconds since the epoch
    trackers: tuple[Tracker, ...] | None
    missing: Mapping[str, str] = field(default_factory=dict)  # field name → why it is None


@dataclass(frozen=True)
class SyncGroup:
    name: str
    state: str | None
    members: tuple[str, ...]


@dataclass(frozen=True)
class Link:
    """An interface as the dump lists it: what tells one network namespace from another."""

    name: str
    index: int | None
    mac: str | None


@dataclass(frozen=True)
class KeepalivedState:
    """One dump's view: every VRRP instance and sync group, in the dump's order."""

    instances: tuple[Instance, ...]
    sync_groups: tuple[SyncGroup, ...]
    source: str  # "data" or "json": which dump this came from
    # Who wrote it (the .data dump only): checked against the daemon we asked, so a dump
    # another keepalived wrote to a shared path is never read as ours.
    router_id: str | None = None
    links: tuple[Link, ...] = ()

    def instance(self, name: str) -> Instance | None:
        return next((i for i in self.instances if i.name == name), None)


def dump_name(release: str | None, kind: str) -> str:
    """How a reason names the dump: "keepalived 2.2.7's .data dump"."""
    who = f"keepalived {release}" if release else "this keepalived"
    return f"{who}'s {kind} dump"
