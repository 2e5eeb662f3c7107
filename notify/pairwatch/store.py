"""Where the pair watch keeps its last round: ``STATE_DIR/pairwatch.json``.

Two readers: the watch itself after a restart (an incident it opened must not page twice,
and must still be resolved), and every metrics writer — hooks, the sender, ``lbnotify
flush`` — which render lbnotify's textfile from disk, never from a process's memory.

One small JSON file, replaced whole (:func:`lbcheck.files.write_atomic`: readers see the old
round or the new one) and read without following a symlink or blocking on a FIFO
(:func:`lbcheck.files.read_regular`), in the state dir lbnotify trusts: what is remembered
here decides what is paged and resolved, so another user must not be able to plant it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lbcheck.files import read_regular, write_atomic
from lbcheck.notify.pairwatch.tracker import VipState

FILE_NAME = "pairwatch.json"
VERSION = 1
MAX_FILE = 1 << 20  # bytes; a VIP is ~250, so anything near this is not ours


class StoreError(Exception):
    """The file exists but cannot be used (unreadable, not ours)."""


def path_for(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / FILE_NAME


def load(state_dir: str | os.PathLike[str]) -> list[VipState]:
    """The last round's states; [] when the watch never ran here."""
    path = path_for(state_dir)
    try:
        raw = json.loads(read_regular(path, MAX_FILE))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{path} is not JSON ({exc}); remove it to start afresh") from None
    try:
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise ValueError("not a pair watch file of this version")
        listed = raw["vips"]
        if not isinstance(listed, list) or not all(isinstance(v, dict) for v in listed):
            raise ValueError("vips is not a list of tables")
        return [VipState.from_dict(v) for v in listed]
    except (ValueError, KeyError) as exc:
        raise StoreError(f"{path}: {str(exc)[:200]}; remove it to start afresh") from None


def save(state_dir: str | os.PathLike[str], states: list[VipState], durable: bool) -> None:
    """``durable``: an incident opened or closed (fsynced, as a page memory is); a round that
    only moved a count is not worth a disk flush every few seconds."""
    path = path_for(state_dir)
    data = {"version": VERSION, "vips": [s.to_dict() for s in states]}
    try:
        write_atomic(path, json.dumps(data, sort_keys=True).encode() + b"\n", durable=durable)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None
