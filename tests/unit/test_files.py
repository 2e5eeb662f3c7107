"""lbcheck.files: the one way lbcheck and lbnotify touch files others may have planted things at.

The attacks themselves (nobody planting, root running the tools) are in
tests/integration/test_hostile_files.py; these pin the rule and each refusal.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

import pytest

from lbcheck.files import (
    TEMP_PREFIX,
    NotRegular,
    UnsafeDir,
    check_dir,
    open_lock,
    read_regular,
    write_atomic,
)

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="chowns to another user: needs root")


def directory(tmp_path: Path, mode: int, name: str = "d") -> Path:
    path = tmp_path / name
    path.mkdir()
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o700, 0o755, 0o711, 0o1755])
def test_a_directory_of_ours_nobody_else_can_write_is_trusted(tmp_path: Path, mode: int) -> None:
    check_dir(directory(tmp_path, mode))


@pytest.mark.parametrize(("mode", "why"), [
    (0o775, "writable by group (mode 0775)"),
    (0o757, "writable by others (mode 0757)"),
    (0o1777, "writable by group (mode 1777)"),
])
def test_a_group_or_world_writable_directory_is_refused_in_one_line(
        tmp_path: Path, mode: int, why: str) -> None:
    """Sticky too (/tmp-like): another user could still plant names we have not made yet."""
    path = directory(tmp_path, mode)
    with pytest.raises(UnsafeDir) as refused:
        check_dir(path)
    line = str(refused.value.strerror)
    assert "\n" not in line
    assert f"in {path}: {why}" in line
    assert f"chmod go-w {path})" in line


@ROOT_ONLY
def test_a_directory_owned_by_another_user_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = directory(tmp_path, 0o755)
    os.chown(path, 65534, 65534)
    with pytest.raises(UnsafeDir) as refused:
        check_dir(path)
    assert (f"refusing to write as uid 0 in {path}: owned by uid 65534, so another user could "
            f"plant files there (fix: chown root:root {path} && chmod go-w {path})"
            == refused.value.strerror)


def test_write_atomic_replaces_a_symlink_and_never_writes_through_it(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep\n")
    link = tmp_path / "file"
    link.symlink_to(target)
    write_atomic(link, b"new\n")
    assert b"keep\n" == target.read_bytes()
    assert not link.is_symlink() and b"new\n" == link.read_bytes()


def test_write_atomic_replaces_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "file"
    os.mkfifo(fifo)
    started = time.monotonic()
    write_atomic(fifo, b"1\n", mode=0o644)
    assert time.monotonic() - started < 1.0
    assert b"1\n" == fifo.read_bytes()
    assert 0o644 == stat.S_IMODE(fifo.stat().st_mode)


def test_write_atomic_leaves_no_temp_file(tmp_path: Path) -> None:
    """Durable or not, the temp file is renamed into place: nothing is left beside it."""
    for n in range(3):
        write_atomic(tmp_path / "file", f"{n}\n".encode(), durable=bool(n % 2))
    assert ["file"] == os.listdir(tmp_path)
    assert b"2\n" == (tmp_path / "file").read_bytes()


def test_write_atomic_into_an_untrusted_directory_only_when_the_caller_allows(
        tmp_path: Path) -> None:
    """A file replaced whole (state, track) may live in a shared dir; a page may not."""
    shared = directory(tmp_path, 0o777)
    with pytest.raises(UnsafeDir):
        write_atomic(shared / "page.json", b"{}")
    assert [] == os.listdir(shared)
    write_atomic(shared / "state", b"OK\n", shared_ok=True)
    assert ["state"] == os.listdir(shared)


def test_a_failed_write_removes_its_temp_file(tmp_path: Path) -> None:
    """A directory where the rename fails (the path is a directory): the temp file goes."""
    (tmp_path / "file").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "file", b"x")
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TEMP_PREFIX)]


def test_open_lock_creates_a_private_lock_that_flocks(tmp_path: Path) -> None:
    fd = open_lock(tmp_path / "x.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"42\n", 0)
        assert 0o600 == stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    assert b"42\n" == (tmp_path / "x.lock").read_bytes()


def test_open_lock_refuses_a_symlink_and_creates_nothing_through_it(tmp_path: Path) -> None:
    link = tmp_path / "x.lock"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(NotRegular, match="is a symlink: remove it"):
        open_lock(link)
    assert not (tmp_path / "elsewhere").exists()


def test_open_lock_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.lock")
    started = time.monotonic()
    with pytest.raises(NotRegular, match="is not a regular file: remove it"):
        open_lock(tmp_path / "x.lock")
    assert time.monotonic() - started < 1.0


def test_open_lock_refuses_a_hard_link(tmp_path: Path) -> None:
    """A link to a file elsewhere (made while the directory was shared) is not our lock."""
    other = tmp_path / "other"
    other.write_bytes(b"someone else's\n")
    os.link(other, tmp_path / "x.lock")
    with pytest.raises(NotRegular, match="has other hard links"):
        open_lock(tmp_path / "x.lock")
    assert b"someone else's\n" == other.read_bytes()


@ROOT_ONLY
def test_open_lock_refuses_another_users_file(tmp_path: Path) -> None:
    """Its owner could hold the flock for ever, or swap what we write."""
    (tmp_path / "x.lock").write_bytes(b"")
    os.chown(tmp_path / "x.lock", 65534, 65534)
    with pytest.raises(NotRegular, match="is owned by uid 65534"):
        open_lock(tmp_path / "x.lock")


def test_open_lock_refuses_an_untrusted_directory(tmp_path: Path) -> None:
    shared = directory(tmp_path, 0o777)
    with pytest.raises(UnsafeDir):
        open_lock(shared / "x.lock")
    assert [] == os.listdir(shared)


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotRegular):
        read_regular(tmp_path / "fifo", 64)
