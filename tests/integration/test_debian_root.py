"""Debian roots: built once and whole, and nothing left mounted or running after any test.

The builder runs against a fake debootstrap (no network, no minute-long build): the lock,
the atomic rename, the clean-up of a failed or timed-out build are what is under test here.
The mount helpers and the chrooted haproxy run against the real cached roots.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import CHROOT_SUITES
from tests.support import debian_root
from tests.support.haproxy import Haproxy

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts and chroot need root")

# A stand-in for debootstrap: `debootstrap --variant=… --include=… SUITE DIR MIRROR`.
# FAKE_MODE: ok (a root holding /usr/sbin/haproxy), fail (half a tree, exit 1), hang.
FAKE = """#!/bin/sh
echo "$@" >> "$FAKE_CALLS"
dir=$4
mkdir -p "$dir/usr/sbin" "$dir/etc"
echo half > "$dir/etc/half-built"
case "$FAKE_MODE" in
  fail) echo "E: Failed getting release file" >&2; exit 1 ;;
  hang) sleep 60 ;;
esac
sleep "${FAKE_SLEEP:-0}"
touch "$dir/usr/sbin/haproxy"
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake debootstrap on disk; returns the file that counts its calls."""
    script = tmp_path / "debootstrap"
    script.write_text(FAKE)
    script.chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    return calls


def build(base: Path, fake_dir: Path, timeout: float = 30) -> Path:
    return debian_root.root("sid", base=base, mirror="http://127.0.0.1:9/debian",
                            timeout=timeout, debootstrap=str(fake_dir / "debootstrap"))


def test_missing_root_is_built_once_and_renamed_whole(tmp_path: Path, fake: Path) -> None:
    """debootstrap runs into SUITE.tmp, which becomes SUITE; a second call reuses it."""
    base = tmp_path / "roots"
    built = build(base, tmp_path)
    assert base / "sid" == built
    assert (built / "usr/sbin/haproxy").is_file()
    assert not (base / "sid.tmp").exists()
    assert base / "sid" == build(base, tmp_path)
    calls = fake.read_text().splitlines()
    expected = (f"--variant=minbase --include=haproxy,keepalived sid {base}/sid.tmp "
                "http://127.0.0.1:9/debian")
    assert [expected] == calls


def test_two_processes_build_a_suite_once(tmp_path: Path, fake: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pytest processes asking at once: the lock makes the second wait, then reuse."""
    monkeypatch.setenv("FAKE_SLEEP", "0.5")
    base = tmp_path / "roots"
    code = ("import sys; sys.path.append(sys.argv[1]); from pathlib import Path; "
            "from tests.support import debian_root; print(debian_root.root('sid', "
            "base=Path(sys.argv[2]), debootstrap=sys.argv[3]))")
    argv = [sys.executable, "-c", code, str(Path(__file__).parents[2]), str(base),
            str(tmp_path / "debootstrap")]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd="/")
             for _ in range(2)]
    outs = [proc.communicate(timeout=30)[0].strip() for proc in procs]
    assert [str(base / "sid")] * 2 == outs
    assert 1 == len(fake.read_text().splitlines())


def test_failed_build_leaves_no_half_tree(tmp_path: Path, fake: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """debootstrap failing (no network): RootUnavailable quoting it, and no tree at all."""
    monkeypatch.setenv("FAKE_MODE", "fail")
    base = tmp_path / "roots"
    with pytest.raises(debian_root.RootUnavailable, match="failed .exit 1.*release file"):
        build(base, tmp_path)
    assert sorted(p.name for p in base.iterdir()) == ["sid.lock", "sid.log"]


def test_build_past_its_timeout_is_killed_and_removed(tmp_path: Path, fake: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung mirror: the build is killed at the timeout and its half tree removed."""
    monkeypatch.setenv("FAKE_MODE", "hang")
    base = tmp_path / "roots"
    with pytest.raises(debian_root.RootUnavailable, match="timed out after 0.5 s"):
        build(base, tmp_path, timeout=0.5)
    assert not (base / "sid.tmp").exists() and not (base / "sid").exists()
    assert "" == subprocess.run(["pgrep", "-f", f"{tmp_path}/debootstrap"], capture_output=True,
                                text=True, check=False).stdout


def test_stale_tmp_with_a_mount_is_unmounted_not_deleted_through(tmp_path: Path,
                                                                 fake: Path) -> None:
    """A killed debootstrap may leave /proc or /dev mounted in SUITE.tmp; removing the tree
    must unmount first and never delete through the mount into the host's files."""
    base = tmp_path / "roots"
    host = tmp_path / "host-files"
    host.mkdir()
    (host / "precious").write_text("keep me")
    inside = base / "sid.tmp" / "proc"
    inside.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(host), str(inside)], check=True)
    try:
        build(base, tmp_path)
    finally:
        if debian_root.mounts_under(inside):
            debian_root.unmount(inside)
    assert "keep me" == (host / "precious").read_text()
    assert [] == debian_root.mounts_under(base)


def test_existing_tree_without_haproxy_is_refused_not_deleted(tmp_path: Path, fake: Path) -> None:
    """A tree someone made by hand is never rebuilt over: say so, touch nothing."""
    base = tmp_path / "roots"
    (base / "sid" / "etc").mkdir(parents=True)
    with pytest.raises(debian_root.RootUnavailable, match="has no /usr/sbin/haproxy"):
        build(base, tmp_path)
    assert (base / "sid" / "etc").is_dir() and not fake.exists()


# --- mounts into the real roots ------------------------------------------------------------
# The cached roots are shared with every other test run on this machine, which may mount and
# run its own haproxy there meanwhile: each test counts only what belongs to its tmp_path.

def mine(root: Path, tmp_path: Path) -> list[str]:
    """Mount points under ``root`` that this test made (its tmp_path, at the same path)."""
    return [point for point in debian_root.mounts_under(root) if str(tmp_path) in point]


@pytest.fixture(params=list(CHROOT_SUITES))
def real_root(request: pytest.FixtureRequest,
              debian_roots: dict[str, Path | debian_root.RootUnavailable]) -> Path:
    found = debian_roots[request.param]
    if isinstance(found, debian_root.RootUnavailable):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have the {request.param} root: {found}")
        pytest.skip(f"no Debian {request.param} root: {found}")
    return found


def test_bind_unmounts_after_a_failing_block(real_root: Path, tmp_path: Path) -> None:
    """The block raises: the bind mount is gone and the mount point directories removed."""
    assert [] == mine(real_root, tmp_path)
    with pytest.raises(RuntimeError), debian_root.chroot_mounts(real_root, tmp_path) as inside:
        (tmp_path / "seen").write_text("x")
        assert (inside / "seen").is_file()
        assert [str(inside)] == mine(real_root, tmp_path)
        raise RuntimeError("the test failed inside the mount")
    assert [] == mine(real_root, tmp_path)
    assert not inside.exists()
    assert (tmp_path / "seen").is_file()  # unmounted, not deleted


def test_busy_mount_is_detached_lazily(real_root: Path, tmp_path: Path) -> None:
    """A process still inside the mount (EBUSY) does not keep it mounted: lazy umount."""
    with debian_root.chroot_mounts(real_root, tmp_path) as inside:
        squatter = subprocess.Popen(["sleep", "30"], cwd=inside)
    try:
        assert [] == mine(real_root, tmp_path)
        assert not inside.exists()  # the mount point directory went too
    finally:
        squatter.kill()
        squatter.wait(timeout=5)


def test_device_nodes_mounted_only_where_missing(tmp_path: Path) -> None:
    """A root without /dev/null and /dev/urandom gets the host's, and loses them after."""
    fake_root = tmp_path / "root"
    (fake_root / "dev").mkdir(parents=True)
    with debian_root.devices(fake_root) as mounted:
        assert [fake_root / "dev/null", fake_root / "dev/urandom"] == mounted
        with open(fake_root / "dev/urandom", "rb") as random:  # endless: read 8 bytes only
            assert 8 == len(random.read(8))
    assert [] == debian_root.mounts_under(fake_root)
    assert [] == list((fake_root / "dev").iterdir())


def test_real_roots_have_their_device_nodes(real_root: Path) -> None:
    """debootstrap as root made real /dev/null and /dev/urandom: nothing is mounted for them."""
    with debian_root.devices(real_root) as mounted:
        assert [] == mounted


def test_chrooted_haproxy_leaves_nothing_behind(real_root: Path, tmp_path: Path) -> None:
    """A chrooted master-worker haproxy, its test failing: after stop() no mount under the
    root and no process whose root directory is the root."""
    proxy = Haproxy(tmp_path, [9], master_worker=True, root=real_root)
    try:
        with pytest.raises(RuntimeError):
            proxy.start()
            assert proxy.workers() and {proxy.pid, *proxy.workers()} == set(
                debian_root.processes_in(real_root, str(tmp_path)))
            assert 1 == len(mine(real_root, tmp_path))
            raise RuntimeError("the test failed with haproxy running")
    finally:
        proxy.stop()
    assert [] == mine(real_root, tmp_path)
    assert [] == debian_root.processes_in(real_root, str(tmp_path))


def test_failed_start_in_a_root_unmounts(real_root: Path, tmp_path: Path) -> None:
    """haproxy refusing its config inside the chroot: start() raises, stop() unmounts."""
    proxy = Haproxy(tmp_path, [9], root=real_root)
    proxy.config.write_text("this is not haproxy syntax\n")
    try:
        with pytest.raises(RuntimeError, match="haproxy exited"):
            proxy.start(timeout=3)
    finally:
        proxy.stop()
    assert [] == mine(real_root, tmp_path)
    assert [] == debian_root.processes_in(real_root, str(tmp_path))


def test_roots_build_in_parallel(tmp_path: Path, fake: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """roots() builds several suites at once: two 1 s builds take about 1 s, not 2."""
    monkeypatch.setenv("FAKE_SLEEP", "1")
    begin = time.monotonic()
    found = debian_root.roots(["trixie", "sid"], base=tmp_path / "roots",
                              debootstrap=str(tmp_path / "debootstrap"))
    took = time.monotonic() - begin
    assert {"trixie": tmp_path / "roots/trixie", "sid": tmp_path / "roots/sid"} == found
    assert took < 1.8
