"""keepalived's track file: what is in it at start is known, writes happen only on change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbcheck.checks.watch.track_file import TrackFile


@pytest.mark.parametrize(("content", "expected"), [("0\n", 0), ("254\n", 254), ("", None),
                                                    ("garbage", None)])
def test_the_value_already_in_the_file_is_read_at_start(tmp_path: Path, content: str,
                                                        expected: int | None) -> None:
    """A restarted watcher knows what keepalived currently reads."""
    path = tmp_path / "track"
    path.write_text(content)
    assert expected == TrackFile(str(path)).value


def test_a_first_write_that_agrees_with_the_file_writes_nothing(tmp_path: Path) -> None:
    """Same value as on disk: no rename, so keepalived sees no event at all."""
    path = tmp_path / "track"
    path.write_text("0\n")
    before = os.stat(path)
    assert TrackFile(str(path)).write(0) is False
    assert (before.st_ino, before.st_mtime_ns) == (os.stat(path).st_ino,
                                                   os.stat(path).st_mtime_ns)


def test_a_missing_file_is_written_on_the_first_verdict(tmp_path: Path) -> None:
    """No file yet: nothing is known, the first value is written."""
    track = TrackFile(str(tmp_path / "track"))
    assert track.value is None
    assert track.write(1) is True
    assert "1\n" == (tmp_path / "track").read_text()


def test_writable_says_why_not(tmp_path: Path) -> None:
    """A missing directory is named; an existing writable one is fine — nothing is written."""
    assert TrackFile(str(tmp_path / "track")).writable() is None
    assert not (tmp_path / "track").exists()
    assert "does not exist" in (TrackFile(str(tmp_path / "no" / "track")).writable() or "")


def test_a_fifo_or_a_symlink_at_the_track_file_is_replaced_never_followed(
        tmp_path: Path) -> None:
    """Read without blocking or following (no value), then replaced by a file of our own."""
    target = tmp_path / "target"
    target.write_text("precious\n")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(target)
    for name in ("fifo", "link"):
        track = TrackFile(str(tmp_path / name))
        assert track.value is None
        assert track.write(1) is True
        assert "1\n" == (tmp_path / name).read_text()
        assert not (tmp_path / name).is_symlink()
    assert "precious\n" == target.read_text()
    assert sorted(os.listdir(tmp_path)) == ["fifo", "link", "target"]  # no temp file left
