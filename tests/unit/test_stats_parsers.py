"""The stats-socket parsers: exact on real replies, and no input makes them raise anything
but the probe's own error (ProbeError) — never a traceback in keepalived's check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.checks.backends import (
    Limit,
    LimitError,
    judge_backends,
    parse_limit,
    parse_stat,
)
from lbcheck.checks.info import judge_info, parse_info
from lbcheck.checks.master_cli import judge_proc, parse_show_proc
from lbcheck.outcome import ProbeError, State

INFO = ("Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 4242\nUptime_sec: 12\n"
        "Unstoppable Jobs: 0\nIdle_pct: 99\nStopping: 0\n\n")
HEADER = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
          "wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,"
          "sid,throttle,lbtot,tracked,type,rate\n")


def row(px: str, sv: str, status: str, bck: int, kind: int) -> str:
    fields = [px, sv] + [""] * 15 + [status, "1", str(1 - bck), str(bck)] + [""] * 11
    fields += [str(kind), ""]
    return ",".join(fields) + "\n"


STAT = (HEADER + row("web", "FRONTEND", "OPEN", 0, 0)
        + row("app", "a1", "UP", 0, 2) + row("app", "a2", "UP 1/3", 0, 2)
        + row("app", "a3", "DOWN 1/2", 0, 2) + row("app", "a4", "MAINT", 0, 2)
        + row("app", "spare", "UP", 1, 2) + row("app", "BACKEND", "UP", 0, 1)
        + row("nochk", "n1", "no check", 0, 2) + row("nochk", "BACKEND", "UP", 0, 1) + "\n")
PROC = ("#<PID>          <type>          <reloads>       <uptime>        <version>\n"
        "3816            master          1 [failed: 1]   0d00h10m09s     2.6.12\n"
        "# workers\n6508            worker          0               0d00h00m00s     2.6.12\n"
        "# old workers\n3817            worker          1               0d00h10m09s     2.6.12\n"
        "# programs\n\n")


def test_show_info_reply_is_read_exactly() -> None:
    """Keys with spaces are fine; Pid, version and idle reach the verdict."""
    info = parse_info(INFO)
    assert ("4242", "0") == (info["Pid"], info["Unstoppable Jobs"])
    assert State.OK == judge_info(info).state


def test_stopping_process_is_critical() -> None:
    """`Stopping: 1` (soft-stop) is not a process to hold a VIP for."""
    assert State.CRITICAL == judge_info(parse_info(INFO.replace("Stopping: 0",
                                                                "Stopping: 1"))).state


def test_show_stat_counts_as_haproxy_does() -> None:
    """UP and 'UP 1/3' and 'no check' serve; 'DOWN 1/2' and MAINT do not; backups wait."""
    backends = parse_stat(STAT)
    sample = judge_backends(backends, [Limit("app", 2), Limit("nochk", 1)])
    assert State.OK == sample.state
    assert {"app_up": 2.0, "nochk_up": 1.0, "shortfall": 0.0} == dict(sample.metrics)
    assert State.CRITICAL == judge_backends(backends, [parse_limit("app:75%")]).state


def test_show_proc_failed_reload_is_a_warning() -> None:
    """A failed reload leaves the old config serving: WARN, with the workers counted."""
    table = parse_show_proc(PROC)
    assert (3816, (6508,), (3817,), 1) == (table.master_pid, table.workers, table.old_workers,
                                           table.failed_reloads)
    assert State.WARN == judge_proc(table).state


def fragments(reply: str) -> st.SearchStrategy[str]:
    """A real reply cut anywhere, lines dropped or shuffled, or garbage spliced in."""
    lines = reply.splitlines(keepends=True)
    return st.one_of(
        st.integers(0, len(reply)).map(lambda n: reply[:n]),
        st.lists(st.sampled_from(lines), max_size=20).map("".join),
        st.tuples(st.integers(0, len(reply)), st.text(max_size=40)).map(
            lambda cut: reply[:cut[0]] + cut[1] + reply[cut[0]:]),
        st.text(max_size=200),
    )


@settings(max_examples=300, deadline=None)
@given(fragments(INFO))
def test_parse_info_raises_only_probe_errors(reply: str) -> None:
    """Any reply: a dict or ProbeError, nothing else."""
    try:
        judge_info(parse_info(reply))
    except ProbeError:
        pass


@settings(max_examples=300, deadline=None)
@given(fragments(STAT), st.lists(st.sampled_from(["app", "app:2", "app:50%", "x:0"]),
                                 max_size=3))
def test_parse_stat_raises_only_probe_errors(reply: str, limits: list[str]) -> None:
    """Any reply, any limits: a verdict or ProbeError, nothing else."""
    try:
        judge_backends(parse_stat(reply), [parse_limit(x) for x in limits])
    except ProbeError:
        pass


@settings(max_examples=300, deadline=None)
@given(fragments(PROC))
def test_parse_show_proc_raises_only_probe_errors(reply: str) -> None:
    """Any master CLI reply: a table or ProbeError."""
    try:
        judge_proc(parse_show_proc(reply))
    except ProbeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_limit_raises_only_limit_errors(text: str) -> None:
    """Any --backend value: a Limit or LimitError (a one-line usage error)."""
    try:
        parse_limit(text)
    except LimitError:
        pass
