"""A frozen haproxy (cgroup freezer): a hang that /proc cannot see, on every version.

SIGSTOP shows as state T, which the process probe reads. Frozen processes show D — alive as
far as /proc can tell — while nothing answers on any socket, so the socket probe has to catch
it within the deadline. Frozen here: the standalone process, or the master and all workers.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.conftest import MATRIX, Checker
from tests.support import freezer
from tests.support.haproxy import Haproxy

pytestmark = pytest.mark.skipif(bool(freezer.available()), reason=freezer.available()
                                or "freezer available")


@pytest.fixture
def freeze() -> Iterator[Callable[[list[int]], Path]]:
    """freeze(pids) for the rest of the test; thawed, moved back and removed at teardown.

    Requested after the haproxy fixture, so it is torn down first: a frozen process cannot
    die, and Haproxy.stop() would wait for it in vain.
    """
    with ExitStack() as stack:
        yield lambda pids: stack.enter_context(freezer.frozen(pids))
    assert [] == freezer.leftover_groups()


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def judge(check: Checker, proxy: Haproxy, *extra: str) -> tuple[int, dict, float]:
    result, took = check.timed("--json", "haproxy", "--socket", proxy.socket,
                               "--pidfile", proxy.pidfile, *extra)
    return result.returncode, json.loads(result.stdout), took


@MATRIX
def test_frozen_standalone_haproxy_fails_within_the_deadline(
        haproxy: Haproxy, check: Checker, freeze: Callable[[list[int]], Path]) -> None:
    """Frozen, haproxy reads as D (not T, not Z) and the check still exits 1 in time."""
    assert 0 == judge(check, haproxy)[0]
    freeze([haproxy.pid])
    assert "D" == state(haproxy.pid)
    code, out, took = judge(check, haproxy)
    assert 1 == code, out
    assert "did not answer" in out["reason"]
    assert out["elapsed_ms"] < 800 + 50
    assert took < 1.5  # deadline 0.8 s + interpreter start on a busy 2-core box


@MATRIX
def test_frozen_master_and_workers_fail_within_the_deadline(
        haproxy_mw: Haproxy, check: Checker, freeze: Callable[[list[int]], Path]) -> None:
    """Master and workers frozen: the master CLI is asked too, and still exit 1 in time."""
    master_cli = ("--master-socket", haproxy_mw.master_socket)
    assert 0 == judge(check, haproxy_mw, *master_cli)[0]
    pids = [haproxy_mw.pid, *haproxy_mw.workers()]
    freeze(pids)
    assert ["D"] * len(pids) == [state(pid) for pid in pids]
    code, out, took = judge(check, haproxy_mw, *master_cli)
    assert 1 == code, out
    assert "did not answer" in out["reason"]
    assert out["elapsed_ms"] < 800 + 50
    assert took < 1.5


def test_freezer_cleans_up_after_a_failing_block() -> None:
    """Whatever the block raises, the process is thawed, back in the root cgroup, group gone."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(RuntimeError), freezer.frozen([sleeper.pid]) as group:
            assert ("D", f"/{group.name}") == (state(sleeper.pid), freezer.cgroup_of(sleeper.pid))
            raise RuntimeError("the test failed while haproxy was frozen")
        assert not group.exists()
        assert "/" == freezer.cgroup_of(sleeper.pid)
        time.sleep(0.05)
        assert state(sleeper.pid) in ("S", "R")
        assert [] == freezer.leftover_groups()
    finally:
        sleeper.kill()
        sleeper.wait(timeout=5)
