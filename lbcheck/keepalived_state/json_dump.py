"""The JSON dump (``keepalived --signum=JSON``, /tmp/keepalived.json), parsed.

A list with one ``{"data": {...}, "stats": {...}}`` per VRRP instance. It has base and
effective priority as numbers and the state as keepalived's enum, but no sync groups, no
track files, no master router address, and tracked scripts only by their command, without
status or weight (acassen/keepalived #2673): so it completes the .data dump, never replaces it.
"""

from __future__ import annotations

import json
from typing import Any

from lbcheck.keepalived_state.model import (
    DumpFormatError,
    Instance,
    KeepalivedState,
    Tracker,
    Vip,
    dump_name,
)

# keepalived's vrrp.h: VRRP_STATE_INIT … VRRP_STATE_FAULT, and the two of a stopping daemon
STATES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT", 97: "DELETED", 98: "STOP"}
TRACKER_LISTS = {"track_ifp": "interface", "track_script": "script",
                 "track_process": "process"}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond a double: not a time
        return None


def _vips(value: Any) -> tuple[Vip, ...] | None:
    if not isinstance(value, list):
        return None
    vips = []
    for item in value:
        words = item.split() if isinstance(item, str) else []
        if words:
            dev = words[words.index("dev") + 1] if "dev" in words[:-1] else None
            vips.append(Vip(words[0], dev, None))
    return tuple(vips)


def _instance(data: dict[str, Any], release: str | None) -> Instance:
    name = data.get("iname")
    if not isinstance(name, str):
        raise DumpFormatError("an instance without a name (iname)")
    source = dump_name(release, "JSON")
    missing = {
        "master_router": f"{source} has no master router address",
        "trackers": f"{source} has no tracker status or weight (acassen/keepalived #2673)",
        "sync_group": f"{source} has no sync groups",
    }
    state_number = _int(data.get("state"))
    state = None if state_number is None else STATES.get(state_number, f"state {state_number}")
    nopreempt = data.get("nopreempt")
    if not isinstance(nopreempt, bool):
        missing["preempt"] = f"{source} has no nopreempt flag for {name}"
    master_priority = _int(data.get("master_priority")) or None  # 0: none heard, or ours
    if master_priority is None:
        missing["master_priority"] = f"{source} shows no master priority for {name}"
    transition = data.get("last_transition")
    trackers = tuple(
        Tracker(kind, item.strip("'"), None, None, None)
        for key, kind in TRACKER_LISTS.items()
        for item in (data.get(key) if isinstance(data.get(key), list) else [])  # type: ignore[union-attr]
        if isinstance(item, str))
    for key, label in (("state", "state"), ("ifp_ifname", "interface"),
                       ("base_priority", "base_priority"),
                       ("effective_priority", "effective_priority")):
        if key not in data:
            missing[label] = f"{source} has no {key} for {name}"
    return Instance(
        name=name,
        state=state,
        sync_group=None,
        interface=data.get("ifp_ifname") if isinstance(data.get("ifp_ifname"), str) else None,
        base_priority=_int(data.get("base_priority")),
        effective_priority=_int(data.get("effective_priority")),
        vips=_vips(data.get("vips", [])),
        excluded_vips=_vips(data.get("evips", [])),
        master_router=None,
        master_priority=master_priority,
        preempt=(not nopreempt) if isinstance(nopreempt, bool) else None,
        last_transition=_seconds(transition),
        trackers=trackers,
        missing=missing,
    )


def parse(raw: bytes, release: str | None = None) -> KeepalivedState:
    """The instances of a JSON dump; :class:`DumpFormatError` if ``raw`` is not one."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DumpFormatError(f"not JSON: {exc}") from None
    if not isinstance(document, list):
        raise DumpFormatError("not a list of instances")
    instances = []
    for entry in document:
        data = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(data, dict):
            raise DumpFormatError("an instance without its data object")
        instances.append(_instance(data, release))
    return KeepalivedState(tuple(instances), (), source="json")
