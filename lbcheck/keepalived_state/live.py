"""keepalived's state now: both dumps asked for, read, checked to be our daemon's, combined.

Two keepalived processes may share a dump path (the same /tmp, no ``instance`` with
``data_use_instance``): each would then be read as the other's by a plain "signal, wait,
read". Two defences, both needed:

- our askers take turns per dump directory (an flock on the directory itself: nothing is
  created in a world-writable /tmp), so two ``lbcheck status`` never interleave;
- the .data dump must name the daemon we asked: its Router ID (the config's ``router_id``,
  else the host name keepalived took it from) and, when we share its network namespace,
  every interface it lists at the same index with the same MAC. A dump that fails this is
  another keepalived's — said so, never shown as ours.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from lbcheck import files, procs
from lbcheck.keepalived_state import ask, data_dump, json_dump
from lbcheck.keepalived_state.combine import combine
from lbcheck.keepalived_state.daemon import (
    DATA_SIGNAL,
    JSON_SIGNAL,
    Daemon,
    DumpPaths,
)
from lbcheck.keepalived_state.model import DumpFormatError, KeepalivedState

LOCK_SHARE = 0.5  # of the time left: how long our turn may take to come


@dataclass(frozen=True)
class Live:
    """What keepalived said, from which files, and what could not be had (``notes``)."""

    state: KeepalivedState
    data_path: str
    json_path: str | None  # None: no JSON dump (build without it, or it failed: see notes)
    written_ns: int
    notes: tuple[str, ...] = field(default=())


def read_live(daemon: Daemon, paths: DumpPaths, *, router_id: str | None,
              timeout: float = ask.WAIT) -> Live:
    """Ask ``daemon`` for its .data dump (and JSON dump where the build has one).

    Raises :class:`ask.DumpUnavailable` when there is no .data dump we may believe: the
    JSON dump alone lacks the trackers' status, so it is a complement, never a substitute.
    """
    end = time.monotonic() + timeout
    data_path = daemon.seen(paths.data)
    json_path = daemon.seen(paths.json)
    notes: list[str] = []
    with _turn(os.path.dirname(data_path), paths.data, timeout * LOCK_SHARE):
        dump = ask.request(daemon.pid, DATA_SIGNAL, data_path,
                           timeout=max(0.05, end - time.monotonic()), named=paths.data,
                           bound=timeout)
        raw_json = None
        if ask.catches(daemon.pid, JSON_SIGNAL):
            try:
                raw_json = ask.request(daemon.pid, JSON_SIGNAL, json_path,
                                       timeout=max(0.05, end - time.monotonic()),
                                       named=paths.json, bound=timeout).data
            except ask.DumpUnavailable as exc:
                notes.append(f"no JSON dump: {exc}")
        else:
            notes.append("this keepalived build has no JSON dump (--signum=JSON)")
    try:
        state = data_dump.parse(dump.data)
    except DumpFormatError as exc:
        raise ask.DumpUnavailable(f"{paths.data}: {exc}") from None
    mismatch = _not_ours(state, daemon, router_id)
    if mismatch:
        raise ask.DumpUnavailable(f"{paths.data} was written by another keepalived "
                                  f"({mismatch}): give each its own dump file "
                                  "(instance + data_use_instance, or state_dump_file)")
    parsed_json = None
    if raw_json is not None:
        try:
            parsed_json = json_dump.parse(raw_json)
        except DumpFormatError as exc:
            notes.append(f"JSON dump not read: {exc}")
    return Live(combine(state, parsed_json), paths.data,
                paths.json if parsed_json is not None else None, dump.written_ns, tuple(notes))


class _turn:
    """An flock on the dump directory, waited for within ``timeout``; shared paths only
    serialise our own askers (keepalived takes no lock)."""

    def __init__(self, directory: str, shown: str, timeout: float) -> None:
        self.directory, self.shown, self.timeout = directory, shown, timeout
        self.fd: int | None = None

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ask.DumpUnavailable(
                f"cannot open the dump directory of {self.shown}: {exc.strerror}") from None
        if not files.flock_within(self.fd, self.timeout):
            os.close(self.fd)
            self.fd = None
            raise ask.DumpUnavailable(
                f"another process held the lock on the directory of {self.shown} for "
                f"{self.timeout:g} s: not asked (try again)")

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock


def _not_ours(state: KeepalivedState, daemon: Daemon, router_id: str | None) -> str | None:
    """Why the dump cannot be ``daemon``'s, or None."""
    seen = state.router_id
    if router_id is not None and seen is not None and seen != router_id:
        return f"Router ID {seen}, ours is {router_id}"
    host = None if router_id is not None else _hostname_of(daemon.pid)
    # keepalived takes the host's canonical name (getaddrinfo): compare the first labels.
    if host is not None and seen and seen.split(".")[0] != host.split(".")[0] \
            and seen != "(null)":
        return f"Router ID {seen}, this host is {host}"
    if not procs.shares_namespace(daemon.pid, "net"):
        return None
    from lbcheck.link.netlink import NetlinkError, links

    try:
        here = {link.ifindex: link for link in links().values()}
    except NetlinkError:
        return None
    for listed in state.links:
        if listed.index is None or listed.mac is None:
            continue
        link = here.get(listed.index)
        if link is None or link.name != listed.name or link.mac.hex(":") != listed.mac:
            return f"interface {listed.name} index {listed.index} {listed.mac} is not here"
    return None


def _hostname_of(pid: int) -> str | None:
    """keepalived's default router_id is its host name: ours when we share its UTS
    namespace, else unknown."""
    return os.uname().nodename if procs.shares_namespace(pid, "uts") else None
