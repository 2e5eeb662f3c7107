"""Backend health from `show stat`: how many servers can take traffic, per backend.

We count servers, not the backend row, because the on-call needs "2 of 3 UP", and because
a backup server only matters once every active server is gone (that is when HAProxy uses it).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import NamedTuple

from lbcheck.outcome import ProbeError, Sample, State

_LIMIT = re.compile(r"^(?P<name>[^:]+)(?::(?P<value>[0-9]{1,9})(?P<pct>%)?)?$")


class LimitError(ValueError):
    """A --backend option that does not read NAME, NAME:MIN or NAME:PCT%."""


class Limit(NamedTuple):
    backend: str
    minimum: int = 1
    percent: bool = False

    def __str__(self) -> str:
        return f"{self.backend} ≥ {self.minimum}{'%' if self.percent else ''} UP"


def parse_limit(text: str) -> Limit:
    match = _LIMIT.match(text.strip())
    if not match:
        raise LimitError(f"--backend {text!r}: expected NAME, NAME:MIN or NAME:PCT%")
    value = int(match["value"]) if match["value"] else 1
    if match["pct"] and not 0 <= value <= 100:
        raise LimitError(f"--backend {text!r}: a percentage must be 0..100")
    return Limit(match["name"], value, bool(match["pct"]))


class Server(NamedTuple):
    name: str
    status: str
    backup: bool

    @property
    def serving(self) -> bool:
        """"UP 1/3" is going down but still up; "no check" is trusted; NOLB/DRAIN/MAINT are not."""
        return self.status.startswith("UP") or self.status == "no check"


class Backend(NamedTuple):
    name: str
    servers: tuple[Server, ...]

    @property
    def active(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if not s.backup)

    @property
    def backups(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.backup)


# HAProxy proxy names: letters, digits and "-_.:" (cfgparse's invalid_char()). All digits would
# be read as a numeric proxy id by `show stat`, so such names are asked for unfiltered.
_PROXY_NAME = re.compile(r"^[A-Za-z0-9_.:-]*[A-Za-z_.:-][A-Za-z0-9_.:-]*$")
NO_SUCH_PROXY = "No such proxy."
BACKEND_AND_SERVERS = 6  # `show stat` type mask: 2 backends + 4 servers (1 would be frontends)


def stat_commands(names: list[str]) -> str | None:
    """One CLI line asking only for the named backends, or None when that cannot be said.

    `show stat <proxy> <type> <sid>` (HAProxy ≥ 1.7) makes haproxy's work and ours flat in its
    size: the unfiltered reply grows with every backend and server on the box (measured on 2.6:
    280 ms for 20,000 servers, against 63 ms for one backend). Commands are joined with ";",
    which the stats socket runs in order on the one connection.
    """
    if not names or not all(_PROXY_NAME.match(name) for name in names):
        return None
    return ";".join(f"show stat {name} {BACKEND_AND_SERVERS} -1" for name in names)


def describe(limits: list[Limit]) -> str:
    """The --verbose threshold line, with what the mode costs: the on-call tuning a slow check
    on a big haproxy needs to see that "every backend" reads all of `show stat`."""
    if not limits:
        return ("backends: every backend ≥ 1 UP — reads the whole `show stat`, whose cost "
                "grows with every backend and server (name backends with --backend)")
    cost = ("asked for by name: cost flat in haproxy's size"
            if stat_commands([limit.backend for limit in limits]) else
            "a name `show stat` cannot filter by: the whole `show stat` is read")
    return (f"backends: {', '.join(map(str, limits))}; backups count only when no active is "
            f"UP; {cost}")


def parse_filtered(reply: str, names: list[str]) -> tuple[dict[str, Backend], list[str]]:
    """The replies to :func:`stat_commands`, in order: the backends found, and the names
    `show stat` could not resolve to a backend.

    An unknown name answers "No such proxy." and is simply absent. A header without rows means
    haproxy picked another proxy of that name — `show stat NAME` takes the first one declared,
    and a frontend may share a backend's name (seen on 2.6) — so the caller asks for the whole
    `show stat` for those names rather than calling a live backend missing.
    """
    parts = reply.split("\n\n")
    if len(parts) != len(names) + 1 or parts[-1]:
        raise ProbeError(State.UNKNOWN, f"`show stat` replies for {len(names)} backend(s) were "
                         f"cut short or malformed ({len(parts) - 1} complete)")
    found: dict[str, Backend] = {}
    unresolved: list[str] = []
    for name, part in zip(names, parts[:-1], strict=True):
        if part.strip() == NO_SUCH_PROXY:
            continue
        backends = parse_stat(part + "\n\n")
        if name in backends:
            found[name] = backends[name]
        else:
            unresolved.append(name)
    return found, unresolved


def parse_stat(reply: str) -> dict[str, Backend]:
    """`show stat` CSV → backends by name, columns found by header name, not position."""
    if not reply.startswith("# "):
        raise ProbeError(State.UNKNOWN, f"not a `show stat` CSV reply: {reply[:60]!r}")
    if not reply.endswith("\n\n"):
        raise ProbeError(State.UNKNOWN, "`show stat` reply was cut short (no terminating "
                         "empty line)")
    try:
        return _backends(csv.reader(reply[2:].splitlines()))
    except csv.Error as exc:
        raise ProbeError(State.UNKNOWN, f"`show stat` is not valid CSV: {exc}") from None


def _backends(rows: Iterator[list[str]]) -> dict[str, Backend]:
    header = next(rows)
    try:
        cols = {k: header.index(k) for k in ("pxname", "svname", "status", "bck", "type")}
    except ValueError as exc:
        raise ProbeError(State.UNKNOWN, f"`show stat` header lacks a column: {exc}") from None
    width = max(cols.values())
    servers: dict[str, list[Server]] = {}
    for row in rows:
        if not row:
            continue
        if len(row) <= width:
            raise ProbeError(State.UNKNOWN, f"`show stat` row has {len(row)} fields, expected "
                             f"more than {width}: {','.join(row)[:60]!r}")
        kind = row[cols["type"]]
        if kind == "1":
            servers.setdefault(row[cols["pxname"]], [])
        elif kind == "2":
            servers.setdefault(row[cols["pxname"]], []).append(
                Server(row[cols["svname"]], row[cols["status"]], row[cols["bck"]] == "1")
            )
    return {name: Backend(name, tuple(found)) for name, found in servers.items()}


def judge_backends(backends: dict[str, Backend], limits: list[Limit]) -> Sample:
    """Each limited backend (default: every backend with servers) must have enough UP.

    A backend named on the command line but unknown to haproxy means the check and the
    config disagree: we cannot tell, so UNKNOWN — unless another backend is short (CRITICAL).
    """
    if not limits:
        limits = [Limit(name) for name, be in backends.items() if be.servers]
        if not limits:
            return Sample("backends", State.OK, "no backend has servers to check")
    short: list[str] = []
    missing: list[str] = []
    fine: list[str] = []
    needs: list[tuple[int, int]] = []
    details: list[str] = []
    metrics: list[tuple[str, float]] = []
    for limit in limits:
        backend = backends.get(limit.backend)
        if backend is None:
            missing.append(f"backend {limit.backend} not found in haproxy")
            continue
        usable, total, note = _usable(backend)
        metrics.append((f"{backend.name}_up", float(usable)))
        need = -(-limit.minimum * total // 100) if limit.percent else limit.minimum
        line = f"{backend.name}: {usable}/{total} UP"
        details.append(f"{line} (need {need}){note}{_down_list(backend)}")
        needs.append((need, usable))
        (short if usable < need else fine).append(f"{line}, need {need}{note}")
    shortfall = sum(max(0, need - usable) for need, usable in needs)
    metrics.append(("shortfall", float(shortfall)))  # graded track_file value (watch)
    state = State.CRITICAL if short else State.UNKNOWN if missing else State.OK
    summary = "; ".join(short + missing) or "; ".join(fine)
    return Sample("backends", state, summary, metrics=tuple(metrics), details=tuple(details))


def _usable(backend: Backend) -> tuple[int, int, str]:
    """Active servers count; backups only once no active server is left, as HAProxy does."""
    active_up = sum(s.serving for s in backend.active)
    total = len(backend.active) or len(backend.backups)
    if active_up or not backend.backups:
        return active_up, total, ""
    backup_up = sum(s.serving for s in backend.backups)
    return backup_up, total, f" (no active server left: counting {backup_up} backup(s))"


def _down_list(backend: Backend) -> str:
    down = [f"{s.name} {s.status}" for s in backend.servers if not s.serving]
    return f"; not serving: {', '.join(down)}" if down else ""
