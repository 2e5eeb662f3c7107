"""`show info`: parsing a real HAProxy 2.6 reply, rejecting everything else, judging Stopping."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.checks.info import judge_info, parse_info
from lbcheck.outcome import ProbeError, State

REAL = (Path(__file__).parent / "data" / "show_info.txt").read_text()

# Any text but lone surrogates (which no decoded socket reply contains); "²"-style digits
# included: they once escaped as ValueError (see the non-decimal digit test below).
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
LINES = st.one_of(
    st.builds(lambda k, v: f"{k}: {v}", st.from_regex(r"[A-Za-z][A-Za-z_]{0,12}", fullmatch=True),
              SAFE_TEXT),
    st.sampled_from(REAL.splitlines()),
    st.sampled_from(["Name: HAProxy", "Pid: 1", "Stopping: 1", "Uptime_sec: 12", "", "#",
                     "# pxname,svname", "Unknown command.", ": x", " Name: x"]),
    SAFE_TEXT,
)
REPLIES = st.builds(lambda lines, end: "\n".join(lines) + end, st.lists(LINES, max_size=12),
                    st.sampled_from(["", "\n", "\n\n"]))


def test_real_reply_parses_into_fields() -> None:
    """A real HAProxy 2.6 `show info` reply becomes its Key: value pairs."""
    info = parse_info(REAL)
    assert ("HAProxy", "2.6.12-1+deb12u4", "12432", "0") == (
        info["Name"], info["Version"], info["Pid"], info["Stopping"])
    assert 69 == len(info)


def test_real_reply_is_ok_with_metrics() -> None:
    """A serving process is OK and reports uptime, idle and connections as metrics."""
    sample = judge_info(parse_info(REAL))
    assert (State.OK, "socket") == (sample.state, sample.probe)
    assert "haproxy 2.6.12-1+deb12u4 pid 12432 answers (idle 100%)" == sample.reason
    assert {"uptime_s": 608.0, "idle_pct": 100.0, "conns": 0.0} == dict(sample.metrics)


def test_stopping_process_is_critical_and_worth_asking_again() -> None:
    """`Stopping: 1` means this process no longer serves; during a reload it is the old worker,
    so the failure is transient: a fresh connection may reach the new one."""
    with pytest.raises(ProbeError) as caught:
        judge_info(parse_info(REAL.replace("Stopping: 0", "Stopping: 1")))
    assert (State.CRITICAL, True) == (caught.value.state, caught.value.transient)
    assert caught.value.reason.startswith("haproxy 12432 reports Stopping: 1 (soft-stop")


def test_missing_optional_fields_still_judge_ok() -> None:
    """Name and Pid suffice; absent Idle_pct reads as '?' rather than failing."""
    sample = judge_info(parse_info("Name: HAProxy\nPid: 7\n\n"))
    assert (State.OK, "haproxy ? pid 7 answers (idle ?%)", ()) == (
        sample.state, sample.reason, sample.metrics)


@pytest.mark.parametrize("reply", ["", "\n\n", "  \n"])
def test_empty_reply_is_critical(reply: str) -> None:
    """A socket that closes without a word is a dead haproxy: CRITICAL, not UNKNOWN."""
    with pytest.raises(ProbeError) as caught:
        parse_info(reply)
    assert State.CRITICAL == caught.value.state


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "not a HAProxy"),
        ("SSH-2.0-OpenSSH_9.2p1\n\n", "not a HAProxy"),
        ("# pxname,svname,status\n\n", "not a HAProxy"),
        ("Unknown command: 'show infox'.\n\n", "lacks Name, Pid"),
        ("Name: HAProxy\nVersion: 2.6\n\n", "lacks Pid"),
        ("Name: HAProxy\nPid: 1\n", "cut short after 21 bytes"),
        (" Name: HAProxy\nPid: 1\n\n", "not a HAProxy"),
    ],
)
def test_anything_but_show_info_is_unknown(reply: str, why: str) -> None:
    """Another daemon, another command's output, or a half reply cannot tell us: UNKNOWN."""
    with pytest.raises(ProbeError) as caught:
        parse_info(reply)
    assert State.UNKNOWN == caught.value.state
    assert why in caught.value.reason


def test_every_truncation_of_a_real_reply_is_rejected() -> None:
    """Cut anywhere short of its final empty line, a real reply is a ProbeError, never data."""
    for length in range(len(REAL)):
        with pytest.raises(ProbeError):
            parse_info(REAL[:length])


@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_returns_or_raises_probe_error(reply: str) -> None:
    """Whatever the socket sends, parse_info answers or raises ProbeError, nothing else."""
    try:
        assert isinstance(parse_info(reply), dict)
    except ProbeError:
        pass


@settings(max_examples=300)
@given(REPLIES)
def test_realistic_fragments_parse_and_judge_or_raise_probe_error(reply: str) -> None:
    """Replies built from `Key: value` lines and real fragments parse+judge or ProbeError."""
    try:
        sample = judge_info(parse_info(reply))
    except ProbeError:
        return
    assert State.OK == sample.state


def test_non_decimal_digit_metric_is_ignored_not_a_crash() -> None:
    """A metric value that is a digit but not a decimal ('²') is skipped, not a ValueError."""
    sample = judge_info(parse_info("Name: HAProxy\nPid: 1\nUptime_sec: ²\n\n"))
    assert (State.OK, ()) == (sample.state, sample.metrics)
