"""The ``.data`` dump (``keepalived --signum=DATA``, /tmp/keepalived.data), parsed.

The format is keepalived's debug print, not an interface: sections headed
``------< Name >------``, entries at one space of indent (`` VRRP Instance = VI_1``), their
fields at three (``   Priority = 200``), list items at five. So the parser keys on the indent
and on the field names it needs, ignores every other line (a new release adds fields every
time), and reports what it needed and did not find instead of guessing.

Only the .data dump has each tracker's status and weight and the master a BACKUP hears
(the JSON dump lists scripts by command and nothing of their results: acassen/keepalived
#2673).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lbcheck.keepalived_state.model import (
    DumpFormatError,
    Instance,
    KeepalivedState,
    Link,
    SyncGroup,
    Tracker,
    Vip,
    dump_name,
)

SECTION = re.compile(r"^-+< (?P<name>.+?) >-+$")
WEIGHT = re.compile(r"\bweight (-?\d+)")
TIMESTAMP = re.compile(r"^(\d+(?:\.\d+)?)\b")
INSTANCE_LISTS = {"Tracked interfaces": "interface", "Tracked scripts": "script",
                  "Tracked files": "file", "Tracked processes": "process"}
NONE = "(none)"


@dataclass
class Block:
    """One entry of a section: its header's value and its fields (indent 3) with the list
    items (indent 5) under each."""

    value: str
    key: str = ""  # the entry's own name: "VRRP Instance", "Router ID"
    fields: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)


def _key_value(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(" = ")
    if not sep:  # "Virtual IP (1):", "Tracked scripts :"
        key = re.sub(r"\s*(\(\d+\))?\s*:\s*$", "", line)
        value = ""
    return key.strip(), value.strip()


def sections(text: str) -> dict[str, list[Block]]:
    """Every section's entries (a section seen twice: the later wins)."""
    found: dict[str, list[Block]] = {}
    blocks: list[Block] | None = None
    current: Block | None = None
    list_key: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        header = SECTION.match(line)
        if header:
            blocks = found[header["name"]] = []
            current, list_key = None, None
            continue
        if blocks is None or not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if indent <= 1:
            key, value = _key_value(body)
            current = Block(value, key)
            blocks.append(current)
            list_key = None
        elif current is None:
            continue
        elif indent <= 3:
            key, value = _key_value(body)
            current.fields.setdefault(key, value)
            list_key = key
            current.lists.setdefault(key, [])
        elif list_key is not None:
            current.lists[list_key].append(body)
    if not found:
        raise DumpFormatError("no ------< section >------ header: not a keepalived .data dump")
    return found


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def _vips(items: list[str]) -> tuple[Vip, ...]:
    vips = []
    for item in items:
        words = item.split()
        if not words:
            continue
        dev = words[words.index("dev") + 1] if "dev" in words[:-1] else None
        vips.append(Vip(words[0], dev, words[-1] == "set"))
    return tuple(vips)


def _tracked(kind: str, item: str) -> tuple[str, int | None]:
    name = item.split()[0].rstrip(",") if item.split() else item
    weight = WEIGHT.search(item)
    return name, int(weight[1]) if weight else None


class _Lookup:
    """The sections trackers are described in, by name."""

    def __init__(self, found: dict[str, list[Block]]) -> None:
        self.scripts = {b.value: b for b in found.get("VRRP Scripts", [])}
        self.files = {b.value: b for b in found.get("VRRP Track files", [])}
        self.processes = {b.value: b for b in found.get("VRRP Track processes", [])}
        self.interfaces = {b.value: b for b in found.get("Interfaces", [])}

    def tracker(self, kind: str, name: str, weight: int | None) -> Tracker:
        status: str | None = None
        result: int | None = None
        if kind == "script" and name in self.scripts:
            block = self.scripts[name].fields
            status, result = block.get("Status"), _int(block.get("Result"))
        elif kind == "file" and name in self.files:
            status = self.files[name].fields.get("Status")
            result = _int(status)
        elif kind == "process" and name in self.processes:
            block = self.processes[name].fields
            quorum = block.get("Have quorum")
            status = {"true": "quorum", "false": "no quorum"}.get(quorum or "", quorum)
            result = _int(block.get("Current processes"))
        elif kind == "interface" and name in self.interfaces:
            status = self.interfaces[name].fields.get("State")
        return Tracker(kind, name, weight, status, result)


def _instance(block: Block, lookup: _Lookup, release: str | None) -> Instance:
    f = block.fields
    name = block.value
    missing: dict[str, str] = {}
    source = dump_name(release, ".data")

    def need(key: str, label: str) -> str | None:
        if key in f:
            return f[key]
        missing[label] = f"{source} has no {key.lower()} for {name}"
        return None

    state = need("State", "state")
    master_router = f.get("Master router")
    # After a reload keepalived 2.2.7 prints its multicast group with priority 0 until it
    # hears an advert: no master is known then, whatever the line says.
    if master_router is None or master_router == NONE or _multicast(master_router) \
            or f.get("Master priority") == "0":
        master_router = None
        missing["master_router"] = (
            f"{name} is MASTER: no other master to hear" if state == "MASTER"
            else f"{name} has heard no master yet" if "Master router" in f
            else f"{source} has no master router for {name}")
    master_priority = _int(f.get("Master priority")) if master_router is not None else None
    if master_router is None:
        missing["master_priority"] = missing["master_router"]
    preempt_text = need("Preempt", "preempt")
    trackers = []
    for heading, kind in INSTANCE_LISTS.items():
        for item in block.lists.get(heading, []):
            tracked, weight = _tracked(kind, item)
            trackers.append(lookup.tracker(kind, tracked, weight))
    transition = TIMESTAMP.match(f.get("Last transition", ""))
    if transition is None:
        missing["last_transition"] = f"{source} has no last transition for {name}"
    return Instance(
        name=name,
        state=state,
        sync_group=f.get("Sync group"),
        interface=need("Interface", "interface"),
        base_priority=_int(need("Priority", "base_priority")),
        effective_priority=_int(need("Effective priority", "effective_priority")),
        vips=_vips(block.lists.get("Virtual IP", [])),
        excluded_vips=_vips(block.lists.get("Virtual IP Excluded", [])),
        master_router=master_router,
        master_priority=master_priority,
        preempt=None if preempt_text is None else preempt_text == "enabled",
        last_transition=float(transition[1]) if transition else None,
        trackers=tuple(trackers),
        missing=missing,
    )


def _multicast(text: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(text).is_multicast
    except ValueError:
        return False


def _sync_groups(blocks: list[Block]) -> Iterator[SyncGroup]:
    for block in blocks:
        name, _, state = block.value.partition(",")
        yield SyncGroup(name.strip(), state.strip() or None,
                        tuple(block.lists.get("VRRP member instances", [])))


def parse(data: bytes, release: str | None = None) -> KeepalivedState:
    """The instances and sync groups of a .data dump; :class:`DumpFormatError` if ``data``
    is not one. ``release`` (keepalived's version, when known) only words the reasons."""
    found = sections(data.decode("utf-8", errors="replace"))
    if "VRRP Topology" not in found:
        raise DumpFormatError("no VRRP Topology section: not the VRRP process's .data dump")
    lookup = _Lookup(found)
    return KeepalivedState(
        instances=tuple(_instance(b, lookup, release) for b in found["VRRP Topology"]),
        sync_groups=tuple(_sync_groups(found.get("VRRP Sync groups", []))),
        source="data",
        router_id=_router_id(found.get("Global definitions", [])),
        links=tuple(Link(b.value, _int(b.fields.get("index")), b.fields.get("MAC"))
                    for b in found.get("Interfaces", [])),
    )


def _router_id(blocks: list[Block]) -> str | None:
    """Global definitions are one-space entries (`` Router ID = lbs-n1``): blocks here."""
    return next((b.value for b in blocks if b.key == "Router ID"), None)
