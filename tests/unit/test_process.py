"""Process check: judging /proc records (zombies, SIGSTOP, masters) and parsing /proc/PID/stat."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbcheck.checks.process import (
    Proc,
    ProcessReport,
    _parse_stat,
    judge,
    read_pidfile,
)
from lbcheck.outcome import ProbeError, State


def report(roots: list[Proc], workers: tuple[Proc, ...] = (), masters: tuple[int, ...] = (),
           source: str = "name haproxy") -> ProcessReport:
    """What collect() would return: roots, every haproxy seen, and which roots are masters."""
    return ProcessReport("haproxy", tuple(roots), tuple(roots) + workers, frozenset(masters),
                         source)


def standalone(pid: int = 100, state: str = "S") -> Proc:
    return Proc(pid, 1, "haproxy", state)


def worker(pid: int, master: int = 100, state: str = "S") -> Proc:
    return Proc(pid, master, "haproxy", state)


def test_nothing_running_is_critical() -> None:
    """No haproxy at all: CRITICAL, saying which name we looked for."""
    sample = judge(report([]))
    assert (State.CRITICAL, "no process named haproxy is running") == (sample.state, sample.reason)


@pytest.mark.parametrize("state", ["S", "R", "D", "I"])
def test_live_standalone_process_is_ok(state: str) -> None:
    """Sleeping, running, disk-waiting or idle: the process is alive and serving."""
    sample = judge(report([standalone(state=state)]))
    assert (State.OK, "running (pid 100; found by name haproxy)") == (sample.state, sample.reason)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("Z", "pid 100 is a zombie (exited, parent has not reaped it) (parent 1)"),
        ("X", "pid 100 is dead (parent 1)"),
        ("T", "pid 100 is stopped (SIGSTOP: hung)"),
        ("t", "pid 100 is stopped by a debugger (traced)"),
    ],
)
def test_zombie_dead_stopped_or_traced_is_critical(state: str, reason: str) -> None:
    """What `killall -0` accepts but serves nothing: zombie, dead, SIGSTOPped, traced."""
    sample = judge(report([standalone(state=state)]))
    assert (State.CRITICAL, reason) == (sample.state, sample.reason)


def test_master_with_a_live_worker_is_ok() -> None:
    """In master-worker mode the master counts only through its live worker(s)."""
    sample = judge(report([standalone()], (worker(101), worker(102, state="Z")), masters=(100,)))
    assert (State.OK, "running (master 100 with worker(s) 101; found by name haproxy)") == (
        sample.state, sample.reason)


def test_master_whose_workers_are_dead_or_stopped_is_critical() -> None:
    """A live master whose only workers are a zombie and a stopped one serves nothing."""
    sample = judge(report([standalone()], (worker(101, state="Z"), worker(102, state="T")),
                          masters=(100,)))
    assert (State.CRITICAL, "master 100 has no live worker (101 Z, 102 T)") == (
        sample.state, sample.reason)


@pytest.mark.parametrize(("workers", "reason"), [
    ((), "master 100 has no worker (did the worker die?)"),
    ((worker(101, state="Z"),), "master 100 has no live worker (101 Z)"),
])
def test_master_between_workers_is_critical_and_worth_a_second_look(
        workers: tuple[Proc, ...], reason: str) -> None:
    """No worker, or only an exited one its master has not reaped: the worker died — or a
    reload under load is between workers for a moment. CRITICAL, transient: looked at again."""
    with pytest.raises(ProbeError) as caught:
        judge(report([standalone()], workers, masters=(100,)))
    assert (State.CRITICAL, reason, True) == (
        caught.value.state, caught.value.reason, caught.value.transient)


def test_another_masters_worker_does_not_count() -> None:
    """A live worker belongs to its own parent; it does not rescue a different master."""
    with pytest.raises(ProbeError) as caught:
        judge(report([standalone()], (worker(201, master=200),), masters=(100,)))
    assert "master 100 has no worker" in caught.value.reason


def test_stopped_master_is_critical_even_with_a_worker() -> None:
    """A SIGSTOPped master is reported as stopped, whatever its worker does."""
    sample = judge(report([standalone(state="T")], (worker(101),), masters=(100,)))
    assert (State.CRITICAL, "pid 100 is stopped (SIGSTOP: hung)") == (sample.state, sample.reason)


def test_one_dead_root_among_serving_ones_is_a_warning() -> None:
    """Several roots where one serves and one is a zombie: traffic flows, but WARN."""
    sample = judge(report([standalone(100), standalone(300, state="Z")],
                          source="pidfile /run/haproxy.pid"))
    assert State.WARN == sample.state
    assert ("running (pid 100; found by pidfile /run/haproxy.pid); but pid 300 is a zombie "
            "(exited, parent has not reaped it) (parent 1)") == sample.reason
    assert ("pid 300 is a zombie (exited, parent has not reaped it) (parent 1)",) == (
        sample.details)


def test_all_roots_broken_lists_every_problem() -> None:
    """When nothing serves, the reason names every broken root."""
    sample = judge(report([standalone(100, "Z"), standalone(300, "T")]))
    reason = ("pid 100 is a zombie (exited, parent has not reaped it) (parent 1); "
              "pid 300 is stopped (SIGSTOP: hung)")
    assert (State.CRITICAL, reason) == (sample.state, sample.reason)


def test_alive_property() -> None:
    """Only Z, X, T and t are not alive."""
    assert ["D", "I", "R", "S"] == sorted(s for s in "DIRSTXZt" if Proc(1, 0, "x", s).alive)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"4242 (haproxy) S 1 4242 4242 0 -1 4194560 1094 0 0 0 1 0 0 0 20 0 2 0\n",
         Proc(4242, 1, "haproxy", "S")),
        (b"7 ((ha proxy) (x)) T 3 7 7 0 -1 4194560 0 0\n", Proc(7, 3, "(ha proxy) (x)", "T")),
        (b"8 (a) Z 9 (b)) t 5 8 8 0\n", Proc(8, 5, "a) Z 9 (b)", "t")),
        (b"9 () R 2 9 9\n", Proc(9, 2, "", "R")),
        (b"10 (\xffbad\xfe) Z 4 10 10\n", Proc(10, 4, "\udcffbad\udcfe", "Z")),
    ],
)
def test_parse_stat_handles_any_comm(raw: bytes, expected: Proc) -> None:
    """comm may hold spaces, parentheses and non-UTF-8 bytes (kept, surrogate-escaped, so a
    name compares byte for byte); the state follows the last ')'."""
    assert expected == _parse_stat(expected.pid, raw)


def test_parse_stat_of_this_process() -> None:
    """Our own /proc/self/stat parses to our pid's parent and a live state."""
    raw = Path("/proc/self/stat").read_bytes()
    proc = _parse_stat(os.getpid(), raw)
    assert (os.getppid(), True) == (proc.ppid, proc.alive)


def test_pidfile_holds_one_pid_per_line(tmp_path: Path) -> None:
    """HAProxy's pidfile lists one pid per line; stray words are ignored."""
    pidfile = tmp_path / "haproxy.pid"
    pidfile.write_text("3816\n3817\nx\n")
    assert [3816, 3817] == read_pidfile(str(pidfile))


@pytest.mark.parametrize(
    ("content", "state"),
    [(None, State.CRITICAL), ("", State.UNKNOWN), ("garbage\n", State.UNKNOWN),
     ("²\n", State.UNKNOWN)],
)
def test_missing_or_empty_pidfile(tmp_path: Path, content: str | None, state: State) -> None:
    """No pidfile means haproxy is not running; an empty or garbled one means we cannot tell."""
    pidfile = tmp_path / "haproxy.pid"
    if content is not None:
        pidfile.write_text(content)
    with pytest.raises(ProbeError) as caught:
        read_pidfile(str(pidfile))
    assert state == caught.value.state
