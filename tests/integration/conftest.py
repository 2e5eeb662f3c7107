"""Real haproxy processes in temp dirs, with real web servers behind them; lbnotify paging a
real HTTP receiver."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import BIN
from tests.receiver import Receiver, running
from tests.support import debian_root
from tests.support.haproxy import Haproxy
from tests.support.notify import Notify
from tests.support.web import WebServers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without haproxy, skip the tests that need it (this hook sees the whole session)."""
    if shutil.which("haproxy") is None:
        here = Path(__file__).parent
        for item in items:
            if here in item.path.parents and "haproxy" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.skip(reason="haproxy is not installed (see README)"))


class Checker:
    """Runs the installed `lbcheck` like keepalived does: a fresh process each time."""

    def __init__(self, state_dir: Path, log_file: Path) -> None:
        self.env = {**os.environ, "LBCHECK_STATE_DIR": str(state_dir)}
        config = log_file.with_suffix(".toml")
        config.write_text(f'[log]\ntarget = "{log_file}"\n')
        self.env["LBCHECK_CONFIG"] = str(config)
        self.log_file = log_file

    def __call__(self, *args: str, timeout: float = 10,
                 user: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / "lbcheck"), *args]
        if user:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=self.env, check=False)

    def timed(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = self(*args)
        return result, time.monotonic() - started


@pytest.fixture
def check(state_dir: Path, tmp_path: Path) -> Checker:
    return Checker(state_dir, tmp_path / "lbcheck.jsonl")


@pytest.fixture
def web() -> Iterator[WebServers]:
    servers = WebServers(3)
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def haproxy(tmp_path: Path, web: WebServers, haproxy_version: HaproxyVersion) -> Iterator[Haproxy]:
    """Standalone haproxy: backend `app` of two active servers and one backup."""
    proxy = Haproxy(tmp_path, web.ports[:2], web.ports[2:], root=haproxy_version.root)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture
def haproxy_mw(tmp_path: Path, web: WebServers,
               haproxy_version: HaproxyVersion) -> Iterator[Haproxy]:
    """Master-worker haproxy (`-W -S`, `master-worker no-exit-on-failure`)."""
    proxy = Haproxy(tmp_path, web.ports[:2], web.ports[2:], master_worker=True,
                    root=haproxy_version.root)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


# --- The haproxy version matrix --------------------------------------------------------------
# The host's haproxy (Debian 12: 2.6) and the haproxy packages of two Debian suites run under
# chroot (tests/support/debian_root.py). A test opts in with @MATRIX; the haproxy fixtures of
# every other test stay on the host's haproxy. Roots are built on first use, both at once.

class HaproxyVersion(NamedTuple):
    suite: str  # "host", or the Debian suite whose root runs haproxy
    version: str  # what `haproxy -v` says, e.g. 3.2.26-1
    root: Path | None  # None: the host's haproxy, no chroot


def _host_id() -> str:
    """`haproxy2.6-bookworm`: the host's haproxy and release, read once at collection."""
    version = debian_root.haproxy_version()
    codename = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                codename = line.partition("=")[2].strip('"')
    except OSError:
        pass
    return f"haproxy{'.'.join(version.split('.')[:2]) or '?'}-{codename or 'host'}"


# Chroot suites and the haproxy major.minor each ID promises: when a rebuilt sid root moves
# on to another branch, the tests say so (rename the ID, capture its fixtures) instead of
# quietly testing something else under an old name.
CHROOT_SUITES = {"trixie": "3.0", "sid": "3.2"}
MATRIX_IDS = {"host": _host_id()} | {
    suite: f"haproxy{branch}-{suite}" for suite, branch in CHROOT_SUITES.items()}


def matrix(**xfail: str) -> pytest.MarkDecorator:
    """Run a test on every version; ``suite="why"`` marks where lbcheck is known wrong.

    The xfail is strict: when the lead's fix lands the test passes, XPASS fails the run, and
    the mark must go — a known misjudgment cannot linger unnoticed in either direction.
    """
    unknown = set(xfail) - set(MATRIX_IDS)
    assert not unknown, f"no such suite in the matrix: {unknown}"
    params = [pytest.param(suite, id=name, marks=[pytest.mark.xfail(
        strict=True, raises=AssertionError, reason=xfail[suite])] if suite in xfail else [])
        for suite, name in MATRIX_IDS.items()]
    return pytest.mark.parametrize("haproxy_version", params, indirect=True)


MATRIX = matrix()


@pytest.fixture(scope="session")
def debian_roots() -> dict[str, Path | debian_root.RootUnavailable]:
    """Every chroot suite, built in parallel when missing (~1 min once, then cached)."""
    return debian_root.roots(CHROOT_SUITES)


_versions: dict[str, str] = {}  # suite → `haproxy -v`, asked once per session


def _version(suite: str, root: Path | None) -> str:
    if suite not in _versions:
        _versions[suite] = debian_root.haproxy_version(root)
    return _versions[suite]


@pytest.fixture
def haproxy_version(request: pytest.FixtureRequest) -> HaproxyVersion:
    """Which haproxy the haproxy fixtures run: the host's unless a test is in the MATRIX.

    Without a root (no debootstrap, no network) the chroot versions skip, saying why; in CI
    (CI=true) they fail instead, because a matrix that silently shrinks proves nothing.
    """
    suite = getattr(request, "param", "host")
    if suite == "host":
        return HaproxyVersion("host", _version("host", None), None)
    found = request.getfixturevalue("debian_roots")[suite]
    if isinstance(found, debian_root.RootUnavailable):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the {suite} haproxy, but its root is unavailable: {found}")
        pytest.skip(f"no Debian {suite} root to run its haproxy: {found}")
    version = _version(suite, found)
    if not version.startswith(CHROOT_SUITES[suite] + "."):
        pytest.fail(f"the {suite} root runs haproxy {version!r}, not {CHROOT_SUITES[suite]}: "
                    "update CHROOT_SUITES (and capture its fixtures: bin/capture-fixtures)")
    return HaproxyVersion(suite, version, found)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The pager stand-in on 127.0.0.1 (tests/receiver.py), recording what it is sent."""
    with running() as server:
        yield server


@pytest.fixture
def notify(tmp_path: Path, receiver: Receiver) -> Iterator[Notify]:
    """`lbnotify` paging ``receiver``; every process left for its config is stopped after."""
    with Notify(tmp_path, receiver.url) as hooks:
        yield hooks
