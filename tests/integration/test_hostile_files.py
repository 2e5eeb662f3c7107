"""Issue 17 (3): files lbcheck and lbnotify write as root, in directories `nobody` can write.

Each test plants, *as nobody* (setpriv), one thing at a name root uses — a symlink to a file
root owns, a dangling symlink into a root-only directory, a FIFO — then runs the installed
tool as root, as keepalived does, and checks that root's file is unchanged and nothing was
created through the link, that the tool either wrote safely or refused with one line and its
documented exit code (lbcheck keeps its verdict; lbnotify exits 1, "a handler failed"), and
that nothing hung. The temp names of the old code were predictable from the pid: the planting
shell plants `NAME.$$` and then execs the tool, which keeps that pid.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import BIN
from tests.integration.conftest import Checker
from tests.receiver import Receiver
from tests.support.haproxy import Haproxy
from tests.support.notify import Notify

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plants files as nobody: needs root")

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = next((g.gr_gid for g in grp.getgrall() if g.gr_name in ("nogroup", "nobody")), NOBODY)
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOGROUP}", "--clear-groups"]
PRECIOUS = b"root's file: must never change\n"
HUNG = 8.0  # seconds: the old code hung forever on a FIFO; nothing here may come close


class Box(NamedTuple):
    """A directory tree nobody can reach (0711 at the top): root's files and nobody's dir."""

    top: Path
    precious: Path  # root-owned, 0644, in a root-only directory
    absent: Path  # in the same root-only directory: must never come to exist

    def shared(self, name: str, mode: int = 0o755) -> Path:
        """A directory owned by nobody (what `chown keepalived_script /run/lbcheck` makes)."""
        path = self.top / name
        path.mkdir(mode=mode)
        os.chown(path, NOBODY, NOGROUP)
        path.chmod(mode)
        return path

    def untouched(self) -> bool:
        return PRECIOUS == self.precious.read_bytes() and not self.absent.exists()


@pytest.fixture
def box() -> Iterator[Box]:
    # Not tmp_path: /tmp/pytest-of-root is 0700, so nobody could not reach anything in it.
    top = Path(tempfile.mkdtemp(prefix="lbcheck-hostile-"))
    try:
        top.chmod(0o711)
        vault = top / "root-only"
        vault.mkdir(mode=0o700)
        precious = vault / "precious"
        precious.write_bytes(PRECIOUS)
        precious.chmod(0o644)
        yield Box(top, precious, vault / "created-by-root")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_nobody(*argv: str | Path) -> None:
    subprocess.run([*AS_NOBODY, *map(str, argv)], check=True, timeout=10)


def plant_then_exec(plants: list[tuple[Path, str]], argv: list[str], env: dict[str, str],
                    timeout: float = HUNG) -> tuple[subprocess.CompletedProcess[str], float]:
    """nobody plants symlinks (``{pid}`` in a name: the tool's pid to come), then root execs
    ``argv`` in the same process; returns its result and how long it took."""
    script = " && ".join(
        [" ".join(map(shlex.quote, [*AS_NOBODY, "ln", "-s", target, "--"])) + " "
         + shlex.quote(str(link)).replace("{pid}", "'$$'") for link, target in plants]
        + ["exec " + " ".join(map(shlex.quote, argv))])
    started = time.monotonic()
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env,
                            timeout=timeout, check=False)
    return result, time.monotonic() - started


def startup(env: dict[str, str]) -> float:
    """What an interpreter start costs right now (the box is shared: measure, not assume)."""
    started = time.monotonic()
    subprocess.run([str(BIN / "lbcheck"), "--help"], capture_output=True, env=env, check=True,
                   timeout=HUNG)
    return time.monotonic() - started


def haproxy_argv(haproxy: Haproxy, state_dir: Path, *options: str) -> list[str]:
    return [str(BIN / "lbcheck"), "--state-dir", str(state_dir), *options, "haproxy",
            "--socket", haproxy.socket, "--pidfile", haproxy.pidfile]


def state_name(haproxy: Haproxy, check: Checker, box: Box) -> str:
    """The state file's name for this check, learned from a run in a directory of its own."""
    scratch = box.top / "scratch"
    scratch.mkdir()
    assert 0 == subprocess.run(haproxy_argv(haproxy, scratch), env=check.env, check=False,
                               timeout=HUNG).returncode
    [name] = os.listdir(scratch)
    return name


# --- lbcheck: the check's state file --------------------------------------------------------


def test_a_symlink_at_the_state_files_temp_name_is_not_followed(
        box: Box, haproxy: Haproxy, check: Checker) -> None:
    """`KEY.PID` (the old temp name, opened "w" through the link: root's file became "OK")."""
    shared = box.shared("run-lbcheck")
    key = state_name(haproxy, check, box)
    result, _ = plant_then_exec([(shared / f"{key}.{{pid}}", str(box.precious))],
                                haproxy_argv(haproxy, shared), check.env)
    assert 0 == result.returncode, result.stderr
    assert box.untouched()
    assert b"OK\n" == (shared / key).read_bytes()  # written safely, beside the link
    assert stat.S_ISREG(os.lstat(shared / key).st_mode)


def test_a_symlink_at_the_state_file_is_refused_not_followed(
        box: Box, haproxy: Haproxy, check: Checker) -> None:
    """The state path itself: not read through, not written through; the verdict stands."""
    shared = box.shared("run-lbcheck")
    key = state_name(haproxy, check, box)
    as_nobody("ln", "-s", box.precious, shared / key)
    result, _ = plant_then_exec([], haproxy_argv(haproxy, shared, "-v"), check.env)
    assert 0 == result.returncode, result.stderr
    assert f"cannot read state {shared / key}: is a symlink" in result.stdout
    assert box.untouched()
    assert os.path.islink(shared / key)


def test_a_fifo_at_the_state_file_cannot_hold_the_check_past_its_deadline(
        box: Box, haproxy: Haproxy, check: Checker) -> None:
    """A FIFO hung `lbcheck --deadline 0.5` for good (the read blocked, after the deadline's
    guard). Now: the verdict, within the deadline plus an interpreter start."""
    shared = box.shared("run-lbcheck")
    key = state_name(haproxy, check, box)
    as_nobody("mkfifo", shared / key)
    start = startup(check.env)
    result, took = plant_then_exec(
        [], haproxy_argv(haproxy, shared, "--deadline", "0.5", "-v"), check.env)
    assert 0 == result.returncode, result.stderr
    assert "OK" in result.stdout
    assert f"cannot read state {shared / key}: is not a regular file" in result.stdout
    assert took < 0.5 + start + 0.3, (took, start)
    assert stat.S_ISFIFO(os.lstat(shared / key).st_mode)


# --- lbcheck watch: keepalived's track file -------------------------------------------------


def watch_argv(haproxy: Haproxy, track: Path) -> list[str]:
    return [str(BIN / "lbcheck"), "watch", "--track-file", str(track), "--once", "haproxy",
            "--socket", haproxy.socket, "--pidfile", haproxy.pidfile]


def test_symlinks_at_the_track_file_and_its_temp_name_are_not_followed(
        box: Box, haproxy: Haproxy, check: Checker) -> None:
    """`track` and `track.PID.tmp` (the old temp, O_CREAT|O_TRUNC through the link: root's
    file became "0"): the track file is written as a file of its own."""
    shared = box.shared("track-dir")
    track = shared / "haproxy.track"
    result, _ = plant_then_exec(
        [(track, str(box.precious)), (shared / "haproxy.track.{pid}.tmp", str(box.precious))],
        watch_argv(haproxy, track), check.env)
    assert 0 == result.returncode, result.stderr
    assert box.untouched()
    assert not os.path.islink(track) and b"0\n" == track.read_bytes()


def test_a_fifo_at_the_track_file_does_not_hang_the_watcher(
        box: Box, haproxy: Haproxy, check: Checker) -> None:
    """The watcher read the old value through a blocking open: a FIFO stopped it at start."""
    shared = box.shared("track-dir")
    track = shared / "haproxy.track"
    as_nobody("mkfifo", track)
    result, took = plant_then_exec([], watch_argv(haproxy, track), check.env)
    assert 0 == result.returncode, result.stderr
    assert b"0\n" == track.read_bytes()  # the FIFO replaced by the verdict
    assert took < 3.0


# --- lbnotify: outbox, locks, memory --------------------------------------------------------

# Where lbnotify opens a file by a name anyone can predict, and what nobody plants there: a
# link to root's file where the old code wrote in place, a dangling link into root's
# directory where it only opened with O_CREAT (root created the file), a FIFO where it read.
PLANTS = {
    ".seq": ("outbox", "precious"),
    ".flush.lock": ("outbox", "absent"),
    ".sender.lock": ("outbox", "precious"),
    "locks/instance-VI_1.lock": ("state", "absent"),
    "locks/metrics.lock": ("state", "absent"),
    "page/instance-VI_1.json": ("state", "fifo"),
}


def plant(box: Box, directory: Path, name: str, what: str) -> None:
    path = directory / name
    if not path.parent.exists():
        as_nobody("mkdir", path.parent)
    if what == "fifo":
        as_nobody("mkfifo", path)
    else:
        as_nobody("ln", "-s", getattr(box, what), path)


@pytest.fixture
def hostile_notify(box: Box, receiver: Receiver) -> Iterator[Notify]:
    """lbnotify in the box, its pager down: pages wait, so the sender lock is taken too."""
    home = box.top / "lbnotify"
    home.mkdir()
    receiver.down()
    with Notify(home, receiver.url, metrics=True, sender_give_up=2.0) as hooks:
        yield hooks


@pytest.mark.parametrize("name", PLANTS)
def test_a_shared_state_dir_or_outbox_is_refused_in_one_line(
        box: Box, hostile_notify: Notify, name: str) -> None:
    """The directory is nobody's: lbnotify refuses it whole, naming it and the fix; nothing
    planted in it is touched (the old code wrote `.seq`'s 21 bytes into root's file)."""
    where, what = PLANTS[name]
    directory = box.shared(f"lbnotify/{where}")
    plant(box, directory, name, what)
    result, took = hostile_notify.timed("INSTANCE", "VI_1", "FAULT", "0")
    hostile_notify.stop_processes()
    assert box.untouched()
    assert 1 == result.returncode, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"refusing to write as uid 0 in {directory}: owned by uid {NOBODY}" in line
    assert f"chown root:root {directory} && chmod go-w {directory}" in line
    assert took < HUNG


@pytest.mark.parametrize("name", PLANTS)
def test_what_nobody_planted_before_the_directory_was_fixed_is_not_followed(
        box: Box, hostile_notify: Notify, name: str) -> None:
    """Planted while the directory was nobody's, left after `chown root:root; chmod 755`:
    refused as not a regular file, in one line; root's file unchanged, nothing hangs."""
    where, what = PLANTS[name]
    directory = box.shared(f"lbnotify/{where}")
    plant(box, directory, name, what)
    for fixed in {directory, (directory / name).parent}:
        os.chown(fixed, 0, 0)
        fixed.chmod(0o755)
    result, took = hostile_notify.timed("INSTANCE", "VI_1", "FAULT", "0")
    hostile_notify.stop_processes()
    assert box.untouched()
    assert took < HUNG
    if name == "locks/metrics.lock":  # the textfile is written unlocked, as designed
        assert (0, "") == (result.returncode, result.stderr)
        assert hostile_notify.metrics.exists()
        return
    assert 1 == result.returncode, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"{directory / name} is " in line or f"{directory / name}: is " in line, line
    assert "is a symlink" in line or "is not a regular file" in line, line
