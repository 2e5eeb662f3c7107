"""Master CLI `show proc`: parsing real replies, and judging workers and failed reloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.checks.master_cli import ProcTable, judge_proc, parse_show_proc
from lbcheck.outcome import ProbeError, State

DATA = Path(__file__).parent / "data"
# Real HAProxy 2.6.12 replies: after one reload, and (from the brief) with a draining worker.
REAL = (DATA / "show_proc.txt").read_text()
REAL_OLD = (DATA / "show_proc_old_workers.txt").read_text()
HEAD = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"


def proc(*lines: str) -> str:
    return HEAD + "".join(f"{line}\n" for line in lines) + "\n"


MASTER = "3816            master          2 [failed: 0]   0d00h10m09s     2.6.12-1+deb12u4"


def test_real_reply_after_a_reload() -> None:
    """The master, its reload count and its one current worker."""
    assert ProcTable(12429, 1, 0, (22705,), ()) == parse_show_proc(REAL)


def test_real_reply_with_an_old_worker() -> None:
    """Workers under `# old workers` are draining, not current."""
    assert ProcTable(3816, 1, 0, (6508,), (3817,)) == parse_show_proc(REAL_OLD)


def test_master_with_a_worker_is_ok() -> None:
    """A current worker and no failed reload: OK, with worker count metrics."""
    sample = judge_proc(parse_show_proc(REAL))
    assert (State.OK, "master 12429, worker(s) 22705") == (sample.state, sample.reason)
    assert (("workers", 1.0), ("failed_reloads", 0.0)) == sample.metrics


def test_old_workers_are_noted_not_failed() -> None:
    """Draining old workers after a reload are normal: OK, mentioned in the reason."""
    sample = judge_proc(parse_show_proc(REAL_OLD))
    assert (State.OK, "master 3816, worker(s) 6508, 1 old worker(s) draining") == (
        sample.state, sample.reason)


def test_failed_reload_is_a_warning() -> None:
    """A failed reload leaves the previous config serving: WARN, and how to find out why."""
    text = REAL_OLD.replace("[failed: 0]", "[failed: 2]")
    table = parse_show_proc(text)
    sample = judge_proc(table)
    assert (1, 2) == (table.reloads, table.failed_reloads)
    assert State.WARN == sample.state
    assert sample.reason.startswith("master 3816, worker(s) 6508, 1 old worker(s) draining; "
                                    "2 reload(s) failed")
    assert "haproxy -c" in sample.reason


def test_no_current_worker_is_critical() -> None:
    """A master without a current worker serves nothing, even with old workers draining."""
    table = parse_show_proc(proc(MASTER, "# workers", "# old workers",
                                 "3817            worker          1               0d00h10m09s",
                                 "# programs"))
    sample = judge_proc(table)
    assert ((), (3817,)) == (table.workers, table.old_workers)
    assert (State.CRITICAL, "master 3816 has no current worker") == (sample.state, sample.reason)


def test_several_workers_and_programs() -> None:
    """All current workers are listed; `# programs` entries are not workers."""
    table = parse_show_proc(proc(MASTER, "# workers", "11 worker 0 0d00h00m01s 2.6",
                                 "12 worker 0 0d00h00m01s 2.6", "# programs",
                                 "13 dataplaneapi 0 0d00h00m01s -"))
    assert ProcTable(3816, 2, 0, (11, 12), ()) == table


def test_master_line_without_failed_count() -> None:
    """An older master line without `[failed: N]` still parses, with no failures."""
    assert ProcTable(5, 3, 0, (6,), ()) == parse_show_proc(
        proc("5 master 3 0d00h00m01s 2.4", "# workers", "6 worker 0 0d00h00m01s 2.4"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a master CLI"),
        ("Unknown command, but maybe one of the following ones is a better match:\n\n",
         "not a master CLI"),
        ("Name: HAProxy\nPid: 1\n\n", "not a master CLI"),
        (proc("# workers", "6508 worker 0 0d00h00m00s"), "no master line"),
        (proc(MASTER, "# workers", "worker 6508 0"), "unexpected `show proc` line"),
        (proc(MASTER, "6508 worker"), "unexpected `show proc` line"),
    ],
)
def test_anything_but_show_proc_is_unknown(text: str, why: str) -> None:
    """Another command's output or a mangled table cannot tell us: UNKNOWN with the reason."""
    with pytest.raises(ProbeError, match=why) as caught:
        parse_show_proc(text)
    assert State.UNKNOWN == caught.value.state


def test_reply_cut_before_the_workers_is_unknown() -> None:
    """A reply cut short (no final empty line) is 'could not tell', not 'no worker'."""
    cut = REAL[:REAL.index("# workers")]
    with pytest.raises(ProbeError) as caught:
        parse_show_proc(cut)
    assert State.UNKNOWN == caught.value.state


def test_non_decimal_digit_pid_is_a_probe_error() -> None:
    """A pid column holding '²' is a mangled reply (ProbeError), not a ValueError."""
    with pytest.raises(ProbeError):
        parse_show_proc(proc("² master 0 0d00h00m01s"))


# Any text but lone surrogates; "²"-style digits included (see the test above).
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
LINES = st.one_of(
    st.sampled_from(REAL_OLD.splitlines()),
    st.sampled_from(["#", "# workers", "# old workers", "# programs", "#<PID>", "",
                     "1 master 0 [failed: x]", "1 master x [failed: 3]", "2 worker", "x y z"]),
    st.builds(lambda pid, kind, rest: f"{pid} {kind} {rest}", st.integers(0, 10**6),
              st.sampled_from(["master", "worker", "program"]), SAFE_TEXT),
    SAFE_TEXT,
)


@settings(max_examples=300)
@given(SAFE_TEXT)
def test_arbitrary_text_returns_or_raises_probe_error(text: str) -> None:
    """Whatever the master CLI sends, parse_show_proc answers or raises ProbeError."""
    for candidate in (text, HEAD + text):
        try:
            judge_proc(parse_show_proc(candidate))
        except ProbeError:
            pass


@settings(max_examples=300)
@given(st.lists(LINES, max_size=10), st.sampled_from(["", "\n", "\n\n"]))
def test_realistic_lines_return_or_raise_probe_error(lines: list[str], end: str) -> None:
    """Tables built from real and mangled `show proc` lines parse+judge or raise ProbeError."""
    try:
        judge_proc(parse_show_proc(HEAD + "\n".join(lines) + end))
    except ProbeError:
        pass


def test_every_truncation_of_a_real_reply_returns_or_raises_probe_error() -> None:
    """Cut anywhere, a real reply parses or raises ProbeError, never another exception."""
    for length in range(len(REAL_OLD) + 1):
        try:
            parse_show_proc(REAL_OLD[:length])
        except ProbeError:
            pass
