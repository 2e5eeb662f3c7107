"""The one lock API (lbcheck.notify.lock): held or not, bounded waits, files it refuses, the
hand-over of a held descriptor, and the idle-time summary that must take the instance lock."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from lbcheck.config import PageSection, PageTarget
from lbcheck.files import NotRegular, UnsafeDir
from lbcheck.notify import lock, paging
from lbcheck.notify.events import Event
from lbcheck.notify.paging import memory as page_memory


def test_held_says_whether_the_lock_is_ours(tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    with lock.held(path) as first:
        assert first
        with lock.held(path) as second:  # another open file description: refused
            assert not second
        assert lock.try_lock(path) is None
    with lock.held(path) as again:  # let go when the block ended
        assert again


def test_a_bounded_wait_ends_at_its_bound_or_as_soon_as_the_lock_is_free(
        tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    fd = lock.try_lock(path)
    assert fd is not None
    started = time.monotonic()
    assert lock.try_lock(path, wait=0.2) is None
    assert 0.2 <= time.monotonic() - started < 2.0
    threading.Timer(0.1, os.close, (fd,)).start()
    started = time.monotonic()
    with lock.held(path, wait=10.0) as ok:
        assert ok
    assert time.monotonic() - started < 5.0  # the wait ended when the holder let go


@pytest.mark.parametrize("plant", ["symlink", "fifo"])
def test_a_planted_symlink_or_fifo_is_refused_not_locked(tmp_path: Path, plant: str) -> None:
    path = tmp_path / "a.lock"
    if plant == "symlink":
        (tmp_path / "target").write_text("")
        path.symlink_to(tmp_path / "target")
    else:
        os.mkfifo(path)
    with pytest.raises(NotRegular):
        lock.try_lock(path)
    with pytest.raises(NotRegular), lock.held(path):
        pass


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafeDir):
        lock.try_lock(shared / "a.lock")


def test_a_descriptor_handed_over_still_holds_the_lock(tmp_path: Path) -> None:
    """The sender's fd 3: a duplicate of the holder's descriptor (as across fork and exec)
    holds the same lock; a closed descriptor or another file description does not."""
    path = tmp_path / "a.lock"
    fd = lock.try_lock(path)
    assert fd is not None
    copy = os.dup(fd)
    os.close(fd)  # the hook lets go of its copy after the fork
    assert lock.still_held(copy)
    assert lock.try_lock(path) is None
    other = os.open(path, os.O_RDWR)
    try:
        assert not lock.still_held(other)
    finally:
        os.close(other)
    os.close(copy)
    assert not lock.still_held(copy)
    assert lock.try_lock(path) is not None


def test_the_instance_lock_is_bounded(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    with lock.locked_instance(state, "INSTANCE", "VI_1", 1.0):
        started = time.monotonic()
        with pytest.raises(lock.LockError, match="still held after 0.1 s"), \
                lock.locked_instance(state, "INSTANCE", "VI_1", 0.1):
            pass
        assert time.monotonic() - started < 2.0


# -- the flap summary at idle time, beside hooks -------------------------------------------

def _section(tmp_path: Path) -> PageSection:
    target = PageTarget("pagerduty", "http://127.0.0.1:9/v2/enqueue", routing_key="RK")
    return PageSection(outbox=str(tmp_path / "outbox"), flap_window=60.0, targets=(target,))


def _event(page: PageSection, state: Path, name: str, at: float) -> None:
    with lock.locked_instance(str(state), "INSTANCE", "VI_1", 1.0):
        paging.queue_event(Event("INSTANCE", "VI_1", name, 100, received=at), page, state,
                           "lb1", now=at)


def test_a_summary_never_undoes_an_event_a_hook_recorded_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle-time summary read the memory before a hook recorded FAULT; saving what it
    read would forget the open FAULT (and so never page its resolve). It reads again under
    the instance lock."""
    page, state = _section(tmp_path), tmp_path / "state"
    _event(page, state, "MASTER", 1000.0)
    _event(page, state, "BACKUP", 1010.0)  # inside the flap window: held back
    stale = page_memory.all_memories(state)
    assert [1] == [m.suppressed for m in stale]
    _event(page, state, "FAULT", 1020.0)  # a hook, after the summary's read
    monkeypatch.setattr(page_memory, "all_memories", lambda _state_dir: stale)
    paging.queue_summaries(page, state, "lb1", now=1100.0)
    memory = page_memory.load(state, "INSTANCE", "VI_1")
    assert memory is not None
    assert ("FAULT", True) == (memory.state, memory.fault_open)


def test_a_summary_waits_for_no_hook_it_is_skipped_until_the_next_idle_moment(
        tmp_path: Path) -> None:
    page, state = _section(tmp_path), tmp_path / "state"
    _event(page, state, "MASTER", 1000.0)
    _event(page, state, "BACKUP", 1010.0)
    with lock.locked_instance(str(state), "INSTANCE", "VI_1", 1.0):
        assert [] == paging.queue_summaries(page, state, "lb1", now=1100.0)
    [summary] = paging.queue_summaries(page, state, "lb1", now=1101.0)
    assert "flapped 1 more time(s)" in summary.summary
