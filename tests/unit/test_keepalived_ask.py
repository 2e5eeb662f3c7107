"""What keepalived_state.ask believes of a dump file: never a planted, linked or stale one,
and never a signal to a process that would die of it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lbcheck.keepalived_state import ask

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def dump(tmp_path: Path, text: bytes = b"------< VRRP Topology >------\n") -> Path:
    path = tmp_path / "keepalived.data"
    path.write_bytes(text)
    return path


def test_a_fresh_root_owned_dump_is_read(tmp_path: Path) -> None:
    path = dump(tmp_path)
    got = ask.read(str(path), 0, owner=os.geteuid())
    assert got.data == b"------< VRRP Topology >------\n"
    assert got.written_ns == path.stat().st_mtime_ns


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    link = tmp_path / "keepalived.json"
    link.symlink_to(dump(tmp_path))
    with pytest.raises(ask.DumpUnavailable, match="symlink"):
        ask.read(str(link), 0, owner=os.geteuid())


@ROOT_ONLY
def test_a_dump_another_user_planted_is_refused(tmp_path: Path) -> None:
    path = dump(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(ask.DumpUnavailable, match="owned by uid 65534, not 0"):
        ask.read(str(path), 0)


def test_a_dump_older_than_our_question_is_stale(tmp_path: Path) -> None:
    path = dump(tmp_path)
    with pytest.raises(ask.DumpUnavailable, match="stale"):
        ask.read(str(path), path.stat().st_mtime_ns + 1, owner=os.geteuid())


def test_a_runaway_dump_is_refused(tmp_path: Path) -> None:
    path = dump(tmp_path, b"x" * 100)
    with pytest.raises(ask.DumpUnavailable, match="larger than 10 bytes"):
        ask.read(str(path), 0, owner=os.geteuid(), limit=10)


def test_a_missing_dump(tmp_path: Path) -> None:
    with pytest.raises(ask.DumpUnavailable, match="no such file"):
        ask.read(str(tmp_path / "keepalived.data"), 0)


def test_a_signal_blocked_or_caught_is_one_a_process_takes() -> None:
    # keepalived blocks its signals and reads them from a signalfd: SigBlk, not SigCgt
    assert not ask.catches(os.getpid(), signal.SIGUSR2)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        assert ask.catches(os.getpid(), signal.SIGUSR2)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    previous = signal.signal(signal.SIGUSR2, lambda *_: None)
    try:
        assert ask.catches(os.getpid(), signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_a_process_that_would_die_of_the_question_is_not_asked(tmp_path: Path) -> None:
    # SIGUSR2's default action here would end the test run itself: request must refuse
    started = time.monotonic()
    with pytest.raises(ask.DumpUnavailable, match="does not handle signal"):
        ask.request(os.getpid(), signal.SIGUSR2, str(tmp_path / "keepalived.data"))
    assert time.monotonic() - started < 0.5


def test_a_gone_process(tmp_path: Path) -> None:
    with pytest.raises(ask.DumpUnavailable, match="is not running"):
        ask.request(2**22 + 1, signal.SIGUSR1, str(tmp_path / "keepalived.data"))
