"""File names from instance names: any name keepalived takes fits NAME_MAX; old names stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbcheck.notify.events import Event, from_fifo_line, from_notify_args
from lbcheck.notify.lock import locked
from lbcheck.notify.names import MAX_STEM_BYTES, NAME_MAX, file_stem
from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.policy import Memory

CJK = ("負荷分散装置東京第一系統" * 11)[:128]  # 128 characters, 384 bytes
EMOJI = "🚦🔥" * 64  # 128 characters, 512 bytes (and 256 UTF-16 units)
# A temp name write_atomic makes beside the file (".tmp-NAME.<16 hex>"), and room to spare.
TEMP_OVERHEAD = len(".tmp-") + len(".4194304.") + 12


@pytest.mark.parametrize("name", ["VI_1", "web-6.example", "x" * 128, "G1", "数" * 60])
def test_ordinary_names_keep_todays_file_names(name: str) -> None:
    """An upgrade finds the memory and locks an older version wrote: same stem, byte for byte."""
    assert f"instance-{name}" == file_stem("INSTANCE", name)
    assert f"group-{name}" == file_stem("GROUP", name)


@pytest.mark.parametrize("name", [CJK, EMOJI, "⚖️" * 170, "数" * 341, "a" * 1024, "a/b",
                                  "../../etc/passwd", "..", "tab\there", "\udcff\udcfe"])
def test_any_name_keepalived_takes_becomes_one_safe_stable_file_name(name: str) -> None:
    """≤ NAME_MAX bytes with suffix and temp prefix, no "/", stable, readable start."""
    stem = file_stem("INSTANCE", name)
    raw = os.fsencode(f"{stem}.json")
    assert len(raw) + TEMP_OVERHEAD <= NAME_MAX
    assert len(os.fsencode(stem)) <= MAX_STEM_BYTES
    assert b"/" not in raw and b"\0" not in raw
    assert stem == file_stem("INSTANCE", name)
    assert stem.startswith("instance-")
    assert stem != file_stem("GROUP", name)
    if name[:3].isalnum():
        assert stem.startswith(f"instance-{name[:3]}")


def test_names_sharing_a_long_prefix_get_distinct_files() -> None:
    """The hash covers the whole name: two names cut to the same prefix never share a file."""
    assert file_stem("INSTANCE", CJK[:120] + "甲") != file_stem("INSTANCE", CJK[:120] + "乙")


@pytest.mark.parametrize("name", [CJK, EMOJI, "../x", "数" * 341])
def test_memory_and_lock_work_for_long_multibyte_and_slashed_names(
        tmp_path: Path, name: str) -> None:
    """The page memory round-trips and the instance lock is taken ("File name too long" before:
    the page was lost or its FAULT never resolved); nothing lands outside the state dir."""
    event = from_notify_args(["INSTANCE", name, "FAULT", "0"])
    with locked(str(tmp_path), event, timeout=1.0):
        memory = Memory("INSTANCE", name, "FAULT", fault_open=True)
        page_memory.save(tmp_path, memory)
        assert memory == page_memory.load(tmp_path, "INSTANCE", name)
    assert [memory] == page_memory.all_memories(tmp_path)
    everything = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*")}
    assert {"locks", "page"} == everything


def test_a_memory_an_older_version_wrote_is_found_and_moved(tmp_path: Path) -> None:
    """A name whose stem fitted NAME_MAX then but is hashed now: read from the old file, moved
    on the next save, never counted twice — an open FAULT is still resolved after an upgrade."""
    name = "数" * 70  # 219-byte stem: fitted before, over MAX_STEM_BYTES now
    legacy = page_memory.legacy_path_for(tmp_path, "INSTANCE", name)
    assert legacy is not None and legacy != page_memory.path_for(tmp_path, "INSTANCE", name)
    legacy.parent.mkdir(parents=True)
    old = Memory("INSTANCE", name, "FAULT", fault_open=True)
    legacy.write_text(f'{{"kind": "INSTANCE", "name": "{name}", "state": "FAULT", '
                      '"fault_open": true}')
    assert old == page_memory.load(tmp_path, "INSTANCE", name)
    assert [old] == page_memory.all_memories(tmp_path)
    page_memory.save(tmp_path, Memory("INSTANCE", name, "BACKUP"))
    assert not legacy.exists()
    assert [Memory("INSTANCE", name, "BACKUP")] == page_memory.all_memories(tmp_path)


def test_names_are_refused_only_for_what_keepalived_cannot_send() -> None:
    """"/", "..", CJK and emoji are keepalived names (it takes any token of its 1024-byte
    line); a line break, NUL or more than 1024 bytes it cannot have sent."""
    for name in ("a/b", "..", ".", CJK, EMOJI, "数" * 341):
        assert name == from_notify_args(["INSTANCE", name, "MASTER", "100"]).name
    assert Event("GROUP", CJK, "FAULT", 0, "fifo") == from_fifo_line(f'GROUP "{CJK}" FAULT 0')
