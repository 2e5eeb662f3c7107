"""The policy's per-instance memory on disk: round trip, first sight, damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbcheck.notify.paging import memory as page_memory
from lbcheck.notify.paging.policy import Memory


def test_memory_round_trips_per_instance(tmp_path: Path) -> None:
    """What one hook run saves, the next one loads; instances do not share a file."""
    memory = Memory("INSTANCE", "VI_1", "FAULT", True, 12.0, 1)
    page_memory.save(tmp_path, memory)
    page_memory.save(tmp_path, Memory("GROUP", "VI_1", "MASTER"))
    assert memory == page_memory.load(tmp_path, "INSTANCE", "VI_1")
    assert 2 == len(page_memory.all_memories(tmp_path))


def test_first_event_of_an_instance_has_no_memory(tmp_path: Path) -> None:
    """No file yet is the normal first run, not an error."""
    assert page_memory.load(tmp_path, "INSTANCE", "VI_9") is None


def test_damaged_memory_is_a_one_line_error(tmp_path: Path) -> None:
    """A garbled file says which file and what to do, rather than a traceback."""
    path = page_memory.path_for(tmp_path, "INSTANCE", "VI_1")
    path.parent.mkdir(parents=True)
    path.write_text("{garbage")
    with pytest.raises(page_memory.PageMemoryError, match="remove it to start afresh"):
        page_memory.load(tmp_path, "INSTANCE", "VI_1")
