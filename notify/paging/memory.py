"""Where the paging policy keeps its per-instance memory between two hook runs.

One small JSON file per instance, replaced atomically. The caller holds the per-instance
lock around load → decide → save, so two hooks for one instance never interleave.

File names come from :func:`lbcheck.notify.names.file_stem`, which fits any name keepalived
takes into NAME_MAX bytes. A name whose file an older version named differently (a long or
odd name that still fitted then) is read from that legacy file once and moved on the next
save, so an upgrade neither forgets an open FAULT nor pages it twice.

Read without following a symlink or blocking on a FIFO (:func:`lbcheck.files.read_regular`),
written only into a trusted directory (:func:`lbcheck.files.write_atomic`): what is remembered
here decides who is paged, so another user must not be able to plant it.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress
from pathlib import Path

from lbcheck.files import TEMP_PREFIX, read_regular, write_atomic
from lbcheck.notify.names import file_stem
from lbcheck.notify.paging.outbox import TEMP_GRACE
from lbcheck.notify.paging.policy import Memory

MAX_MEMORY = 1 << 20  # bytes; a memory is a few hundred, so anything near this is not ours


class PageMemoryError(Exception):
    """The memory file exists but cannot be used (unreadable, not ours)."""


def path_for(state_dir: str | os.PathLike[str], kind: str, name: str) -> Path:
    return Path(state_dir) / "page" / f"{file_stem(kind, name)}.json"


def legacy_path_for(state_dir: str | os.PathLike[str], kind: str, name: str) -> Path | None:
    """Where versions before byte-safe names kept this memory, if that differs and can exist."""
    if "/" in name or "\0" in name:
        return None
    legacy = Path(state_dir) / "page" / f"{kind.lower()}-{name}.json"
    return None if legacy == path_for(state_dir, kind, name) else legacy


def load(state_dir: str | os.PathLike[str], kind: str, name: str) -> Memory | None:
    """The memory for one instance; None the first time we hear of it."""
    path = path_for(state_dir, kind, name)
    try:
        raw = json.loads(read_regular(path, MAX_MEMORY))
    except FileNotFoundError:
        return _load_legacy(state_dir, kind, name)
    except OSError as exc:
        raise PageMemoryError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise PageMemoryError(f"{path} is not JSON ({exc}); remove it to start afresh") from None
    if not isinstance(raw, dict):
        raise PageMemoryError(f"{path} does not hold a page memory; remove it to start afresh")
    try:
        return Memory.from_dict(raw)
    except ValueError as exc:
        raise PageMemoryError(f"{path}: {exc}; remove it to start afresh") from None


def _load_legacy(state_dir: str | os.PathLike[str], kind: str, name: str) -> Memory | None:
    """An older version's file for this name; unreadable or absent means none (first sight)."""
    legacy = legacy_path_for(state_dir, kind, name)
    if legacy is None:
        return None
    try:
        memory = Memory.from_dict(json.loads(read_regular(legacy, MAX_MEMORY)))
    except (OSError, ValueError, TypeError):  # ENAMETOOLONG: it never existed
        return None
    return memory if (memory.kind, memory.name) == (kind, name) else None


def save(state_dir: str | os.PathLike[str], memory: Memory) -> None:
    path = path_for(state_dir, memory.kind, memory.name)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(memory.to_dict(), sort_keys=True).encode() + b"\n"
        write_atomic(path, data, durable=True)
    except OSError as exc:
        raise PageMemoryError(f"cannot write {path}: {exc.strerror}") from None
    legacy = legacy_path_for(state_dir, memory.kind, memory.name)
    if legacy is not None:
        with suppress(OSError):  # moved: the new file is durable, the old one is stale now
            legacy.unlink()


def all_memories(state_dir: str | os.PathLike[str]) -> list[Memory]:
    """Every instance we remember, for :func:`.policy.pending_summary` at idle time."""
    found: dict[tuple[str, str], Memory] = {}
    directory = Path(state_dir) / "page"
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    for name in names:
        if name.startswith(TEMP_PREFIX):
            _remove_if_old(directory / name)  # a writer killed before its rename
            continue
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            raw = json.loads(read_regular(directory / name, MAX_MEMORY))
            memory = Memory.from_dict(raw)
        except (OSError, ValueError, TypeError):
            continue
        # A legacy file a crash left beside its successor: the current file is the one.
        current = path_for(state_dir, memory.kind, memory.name).name == name
        if current or (memory.kind, memory.name) not in found:
            found[(memory.kind, memory.name)] = memory
    return list(found.values())


def _remove_if_old(path: Path) -> None:
    with suppress(OSError):
        if time.time() - path.stat().st_mtime > TEMP_GRACE:
            path.unlink()
