"""Real haproxy processes in temp dirs, with real web servers behind them; lbnotify paging a
real HTTP receiver."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN
from tests.receiver import Receiver, running
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
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env, check=False)

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
def haproxy(tmp_path: Path, web: WebServers) -> Iterator[Haproxy]:
    """Standalone haproxy: backend `app` of two active servers and one backup."""
    proxy = Haproxy(tmp_path, web.ports[:2], web.ports[2:])
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture
def haproxy_mw(tmp_path: Path, web: WebServers) -> Iterator[Haproxy]:
    """Master-worker haproxy (`-W -S`, `master-worker no-exit-on-failure`)."""
    proxy = Haproxy(tmp_path, web.ports[:2], web.ports[2:], master_worker=True)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


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
