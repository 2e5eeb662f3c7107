"""Where the paging policy keeps its per-instance memory between two hook runs.

One small JSON file per instance, replaced atomically. The caller holds the per-instance
lock around load → decide → save, so two hooks for one instance never interleave.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress
from pathlib import Path

from lbcheck.notify.paging.outbox import TEMP_GRACE, TEMP_PREFIX, write_atomic
from lbcheck.notify.paging.policy import Memory


class PageMemoryError(Exception):
    """The memory file exists but cannot be used (unreadable, not ours)."""


def path_for(state_dir: str | os.PathLike[str], kind: str, name: str) -> Path:
    # Event names never contain "/" or NUL (events._check_name), so they are safe file names.
    return Path(state_dir) / "page" / f"{kind.lower()}-{name}.json"


def load(state_dir: str | os.PathLike[str], kind: str, name: str) -> Memory | None:
    """The memory for one instance; None the first time we hear of it."""
    path = path_for(state_dir, kind, name)
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
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


def save(state_dir: str | os.PathLike[str], memory: Memory) -> None:
    path = path_for(state_dir, memory.kind, memory.name)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(memory.to_dict(), sort_keys=True).encode() + b"\n"
        write_atomic(path, data, durable=True)
    except OSError as exc:
        raise PageMemoryError(f"cannot write {path}: {exc.strerror}") from None


def all_memories(state_dir: str | os.PathLike[str]) -> list[Memory]:
    """Every instance we remember, for :func:`.policy.pending_summary` at idle time."""
    found = []
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
            raw = json.loads((directory / name).read_bytes())
            found.append(Memory.from_dict(raw))
        except (OSError, ValueError, TypeError):
            continue
    return found


def _remove_if_old(path: Path) -> None:
    with suppress(OSError):
        if time.time() - path.stat().st_mtime > TEMP_GRACE:
            path.unlink()
