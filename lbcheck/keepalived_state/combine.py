"""One view from both dumps: the .data dump's, with what only the JSON dump has filled in.

The .data dump is the richer one (tracker status and weight, master router, sync groups);
the JSON dump is typed. Where the .data dump lacks a field (an older or newer release printing
it differently) and the JSON dump has it for the same instance, the JSON value is used and
the reason it was missing is dropped.
"""

from __future__ import annotations

import dataclasses

from lbcheck.keepalived_state.model import Instance, KeepalivedState

FILLABLE = ("state", "interface", "base_priority", "effective_priority", "vips",
            "excluded_vips", "master_priority", "preempt", "last_transition")


def _fill(instance: Instance, other: Instance | None) -> Instance:
    if other is None:
        return instance
    changes: dict[str, object] = {}
    missing = dict(instance.missing)
    for name in FILLABLE:
        if getattr(instance, name) is None and getattr(other, name) is not None:
            changes[name] = getattr(other, name)
            missing.pop(name, None)
    if not changes:
        return instance
    return dataclasses.replace(instance, missing=missing, **changes)  # type: ignore[arg-type]


def combine(data: KeepalivedState, json: KeepalivedState | None) -> KeepalivedState:
    """``data`` completed from ``json`` (instances matched by name; JSON-only instances are
    not added: an instance the .data dump does not list is not one keepalived runs now)."""
    if json is None:
        return data
    return dataclasses.replace(
        data, instances=tuple(_fill(i, json.instance(i.name)) for i in data.instances))
