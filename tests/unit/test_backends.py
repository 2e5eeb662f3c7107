"""Backends from `show stat`: --backend limits, CSV parsing, and who counts as UP."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.checks.backends import (
    Backend,
    Limit,
    LimitError,
    Server,
    describe,
    judge_backends,
    parse_filtered,
    parse_limit,
    parse_stat,
    stat_commands,
)
from lbcheck.outcome import ProbeError, State

# A real HAProxy 2.6.12 `show stat` reply: fe_main; be_app (app1, app2 and backup spare, all
# DOWN: closed ports); be_static (s1 "no check", s2 MAINT via `disabled`); be_empty.
REAL = (Path(__file__).parent / "data" / "show_stat.csv").read_text()
HEADER = REAL.splitlines()[0]
COLUMNS = next(csv.reader([HEADER[2:]]))
_ROWS = {(row[0], row[1]): row for row in csv.reader(REAL.splitlines()[1:]) if row}
_SERVER, _BACKEND, _FRONTEND = _ROWS["be_app", "app1"], _ROWS["be_app", "BACKEND"], _ROWS[
    "fe_main", "FRONTEND"]


def _row(template: list[str], columns: list[str] = COLUMNS, **values: str) -> str:
    """A real row with some columns replaced, in the column order of ``columns``."""
    by_name = dict(zip(COLUMNS, template, strict=True)) | values
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([by_name[c] for c in columns])
    return out.getvalue()


def server(px: str, sv: str, status: str, backup: bool = False) -> str:
    return _row(_SERVER, pxname=px, svname=sv, status=status, bck="1" if backup else "0",
                act="0" if backup else "1")


def backend(px: str) -> str:
    return _row(_BACKEND, pxname=px)


def frontend(px: str) -> str:
    return _row(_FRONTEND, pxname=px)


def reply(*rows: str) -> str:
    """A complete `show stat` reply: the real 2.6 header, the rows, the final empty line."""
    return "\n".join([HEADER, *rows]) + "\n\n"


def pool(px: str, *statuses: str, backups: tuple[str, ...] = ()) -> list[str]:
    """A backend's server rows (as haproxy lists them) followed by its BACKEND row."""
    rows = [server(px, f"s{i}", st) for i, st in enumerate(statuses, 1)]
    rows += [server(px, f"b{i}", st, backup=True) for i, st in enumerate(backups, 1)]
    return [*rows, backend(px)]


def judge(*rows: str, limits: tuple[str, ...] = ()) -> tuple[State, str]:
    sample = judge_backends(parse_stat(reply(*rows)), [parse_limit(x) for x in limits])
    return sample.state, sample.reason


# --- parse_limit ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app", Limit("app", 1, False)),
        ("app:2", Limit("app", 2, False)),
        ("app:0", Limit("app", 0, False)),
        ("app:50%", Limit("app", 50, True)),
        ("app:100%", Limit("app", 100, True)),
        (" be-static.v2:3 ", Limit("be-static.v2", 3, False)),
    ],
)
def test_limit_forms(text: str, expected: Limit) -> None:
    """NAME, NAME:MIN and NAME:PCT% are the three accepted --backend forms."""
    assert expected == parse_limit(text)


@pytest.mark.parametrize("text", ["", ":2", "app:", "app:x", "app:-1", "app:1.5", "app:2:3",
                                  "app:101%", "app:%", "app:50 %", "app:5%%"])
def test_malformed_limit_is_a_limit_error(text: str) -> None:
    """Anything else is a LimitError naming the option, never a bare ValueError."""
    with pytest.raises(LimitError, match="--backend"):
        parse_limit(text)


def test_limit_reads_as_a_threshold() -> None:
    """A limit prints the way the verbose table's thresholds show it."""
    assert ("app ≥ 2 UP", "app ≥ 50% UP") == (str(parse_limit("app:2")),
                                              str(parse_limit("app:50%")))


@settings(max_examples=300)
@given(st.one_of(st.text(), st.from_regex(r"[a-z_:%0-9 -]{0,12}", fullmatch=True)))
def test_any_limit_text_is_a_limit_or_a_limit_error(text: str) -> None:
    """parse_limit returns a Limit or raises LimitError, whatever the operator typed."""
    try:
        assert isinstance(parse_limit(text), Limit)
    except LimitError:
        pass


def test_absurdly_long_minimum_is_a_limit_error() -> None:
    """A MIN too long for int() is reported as a LimitError, not a traceback."""
    with pytest.raises(LimitError):
        parse_limit("app:" + "9" * 5000)


# --- parse_stat ----------------------------------------------------------------------------

def test_real_reply_parses_servers_per_backend() -> None:
    """The real reply yields its three backends (not the frontend), servers with status."""
    assert {
        "be_app": Backend("be_app", (Server("app1", "DOWN", False), Server("app2", "DOWN", False),
                                     Server("spare", "DOWN", True))),
        "be_static": Backend("be_static", (Server("s1", "no check", False),
                                           Server("s2", "MAINT", False))),
        "be_empty": Backend("be_empty", ()),
    } == parse_stat(REAL)


def test_real_reply_judged_by_default_limits() -> None:
    """By default every backend with servers needs one UP; be_app has none, be_empty is skipped."""
    sample = judge_backends(parse_stat(REAL), [])
    assert State.CRITICAL == sample.state
    assert "be_app: 0/2 UP, need 1 (no active server left: counting 0 backup(s))" == sample.reason
    assert (("be_app_up", 0.0), ("be_static_up", 1.0), ("shortfall", 1.0)) == sample.metrics
    be_app = ("be_app: 0/2 UP (need 1) (no active server left: counting 0 backup(s)); "
              "not serving: app1 DOWN, app2 DOWN, spare DOWN")
    assert (be_app, "be_static: 1/2 UP (need 1); not serving: s2 MAINT") == sample.details


def test_columns_are_found_by_name_not_position() -> None:
    """A future HAProxy that reorders columns parses the same (we look columns up by name)."""
    shuffled = list(reversed(COLUMNS))
    rows = [_row(_SERVER, shuffled, pxname="app", svname="s1", status="UP"),
            _row(_BACKEND, shuffled, pxname="app")]
    text = "# " + ",".join(shuffled) + "\n" + "\n".join(rows) + "\n\n"
    assert {"app": Backend("app", (Server("s1", "UP", False),))} == parse_stat(text)


def test_listen_section_counts_only_its_servers() -> None:
    """A `listen` proxy has FRONTEND, servers and BACKEND rows under one name."""
    rows = [frontend("web"), *pool("web", "UP", "DOWN")]
    assert {"web": Backend("web", (Server("s1", "UP", False), Server("s2", "DOWN", False)))} == (
        parse_stat(reply(*rows)))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a `show stat` CSV reply"),
        ("Unknown command. Please enter one of the following commands only :\n\n",
         "not a `show stat` CSV reply"),
        ("Name: HAProxy\nPid: 1\n\n", "not a `show stat` CSV reply"),
        (HEADER + "\n" + backend("app"), "cut short"),
        ("# pxname,svname,status,type\napp,BACKEND,UP,1\n\n", "lacks a column: 'bck'"),
        (HEADER + "\napp,s1,0,0\n\n", "row has 4 fields, expected more than 32"),
    ],
)
def test_anything_but_show_stat_is_unknown(text: str, why: str) -> None:
    """Another command's output, a cut reply or a foreign header is UNKNOWN with the reason."""
    with pytest.raises(ProbeError, match=why) as caught:
        parse_stat(text)
    assert State.UNKNOWN == caught.value.state


def test_every_truncation_of_a_real_reply_is_rejected() -> None:
    """Cut anywhere short of its final empty line, a real reply is a ProbeError, never data."""
    for length in range(len(REAL)):
        with pytest.raises(ProbeError):
            parse_stat(REAL[:length])


def test_oversized_csv_field_is_a_probe_error() -> None:
    """A garbage reply with a >128 KiB field (MAX_REPLY allows 16 MiB) is UNKNOWN."""
    with pytest.raises(ProbeError):
        parse_stat(HEADER + "\n" + "x" * 200_000 + "\n\n")


CSV_LINES = st.one_of(
    st.sampled_from(REAL.splitlines()),
    st.sampled_from([server("app", "s1", "UP"), backend("app"), frontend("fe"), "#", "# x",
                     "", ",,,", '"', 'a,"b', "\x00"]),
    st.lists(st.text(max_size=8), max_size=40).map(",".join),
    st.text(),
)
REPLIES = st.builds(lambda head, lines, end: "\n".join([head, *lines]) + end,
                    st.sampled_from([HEADER, "# pxname,svname,status,bck,type", "#", ""]),
                    st.lists(CSV_LINES, max_size=10), st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_returns_or_raises_probe_error(text: str) -> None:
    """Whatever the socket sends, parse_stat answers or raises ProbeError, nothing else."""
    try:
        assert isinstance(parse_stat(text), dict)
    except ProbeError:
        pass


@settings(max_examples=300)
@given(REPLIES)
def test_realistic_csv_returns_or_raises_probe_error(text: str) -> None:
    """Replies built from real headers, rows and CSV debris parse+judge or raise ProbeError."""
    try:
        backends = parse_stat(text)
    except ProbeError:
        return
    assert judge_backends(backends, []).state in (State.OK, State.CRITICAL)


# --- who counts as UP ----------------------------------------------------------------------

@pytest.mark.parametrize("status", ["UP", "UP 1/3", "UP 2/3", "no check"])
def test_serving_statuses(status: str) -> None:
    """UP, UP going down ("UP 1/3") and "no check" servers take traffic."""
    assert (State.OK, "app: 1/1 UP, need 1") == judge(*pool("app", status))


@pytest.mark.parametrize("status", ["DOWN", "DOWN 1/2", "MAINT", "MAINT (via app2/s1)",
                                    "MAINT (resolution)", "DRAIN", "NOLB", "NOLB 1/2"])
def test_non_serving_statuses(status: str) -> None:
    """DOWN, DOWN going up, MAINT (also inherited), DRAIN and NOLB take no new traffic."""
    assert (State.CRITICAL, "app: 0/1 UP, need 1") == judge(*pool("app", status))


def test_backup_ignored_while_an_active_server_is_up() -> None:
    """HAProxy sends nothing to a backup while an active server is UP, so we do not count it."""
    assert (State.CRITICAL, "app: 1/2 UP, need 2") == judge(
        *pool("app", "UP", "DOWN", backups=("UP",)), limits=("app:2",))


def test_backup_counts_once_no_active_server_is_left() -> None:
    """With every active server down, UP backups carry the traffic and are counted."""
    assert (State.OK, "app: 1/2 UP, need 1 (no active server left: counting 1 backup(s))") == (
        judge(*pool("app", "DOWN", "MAINT", backups=("UP", "DOWN"))))


def test_backend_of_backups_only() -> None:
    """A backend whose only servers are backups is measured against its backup count."""
    assert (State.OK, "app: 2/2 UP, need 1 (no active server left: counting 2 backup(s))") == (
        judge(*pool("app", backups=("UP", "no check"))))


def test_default_limits_skip_backends_without_servers() -> None:
    """Default: each backend with servers needs ≥ 1 UP; an empty backend is not judged."""
    sample = judge_backends(parse_stat(reply(*pool("a", "UP"), *pool("b", "DOWN", "UP"),
                                             backend("empty"))), [])
    assert (State.OK, "a: 1/1 UP, need 1; b: 1/2 UP, need 1") == (sample.state, sample.reason)


def test_no_backend_with_servers_is_ok() -> None:
    """A haproxy with only empty backends has nothing to fail."""
    assert (State.OK, "no backend has servers to check") == judge(backend("x"), frontend("fe"))


def test_only_the_named_backends_are_judged() -> None:
    """Naming backends replaces the default: a dead unnamed backend does not matter."""
    assert (State.OK, "a: 1/1 UP, need 1") == judge(*pool("a", "UP"), *pool("b", "DOWN"),
                                                    limits=("a",))


@pytest.mark.parametrize(
    ("limit", "up", "expected"),
    [
        ("app:50%", 1, (State.CRITICAL, "app: 1/3 UP, need 2")),  # 1.5 rounds up to 2
        ("app:50%", 2, (State.OK, "app: 2/3 UP, need 2")),
        ("app:34%", 1, (State.CRITICAL, "app: 1/3 UP, need 2")),  # 1.02 rounds up to 2
        ("app:33%", 1, (State.OK, "app: 1/3 UP, need 1")),
        ("app:100%", 2, (State.CRITICAL, "app: 2/3 UP, need 3")),
        ("app:0%", 0, (State.OK, "app: 0/3 UP, need 0")),
        ("app:3", 2, (State.CRITICAL, "app: 2/3 UP, need 3")),
        ("app:0", 0, (State.OK, "app: 0/3 UP, need 0")),
    ],
)
def test_minimum_and_percentage(limit: str, up: int, expected: tuple[State, str]) -> None:
    """MIN is a server count; PCT% is of the active servers, rounded up."""
    statuses = ["UP"] * up + ["DOWN"] * (3 - up)
    assert expected == judge(*pool("app", *statuses), limits=(limit,))


def test_percentage_is_of_active_servers_not_backups() -> None:
    """Backups do not inflate the total a percentage is taken of: 100% of 2 active is 2."""
    assert (State.OK, "app: 2/2 UP, need 2") == judge(
        *pool("app", "UP", "UP", backups=("DOWN", "DOWN")), limits=("app:100%",))


def test_missing_backend_is_unknown() -> None:
    """A named backend haproxy does not know: the check and the config disagree, UNKNOWN."""
    assert (State.UNKNOWN, "backend nope not found in haproxy") == judge(
        *pool("app", "UP"), limits=("app", "nope"))


def test_missing_backend_does_not_hide_a_short_one() -> None:
    """A short backend is CRITICAL even when another named one is missing."""
    assert (State.CRITICAL, "app: 0/1 UP, need 1; backend nope not found in haproxy") == judge(
        *pool("app", "DOWN"), limits=("nope", "app"))


def test_shortfall_sums_missing_servers_across_backends() -> None:
    """The shortfall metric is how many servers are missing in total (graded track_file)."""
    sample = judge_backends(parse_stat(reply(*pool("a", "DOWN", "DOWN", "UP"),
                                             *pool("b", "DOWN"))),
                            [parse_limit("a:3"), parse_limit("b")])
    assert (("a_up", 1.0), ("b_up", 0.0), ("shortfall", 3.0)) == sample.metrics


# --- asking only for the named backends (cost flat in haproxy's size) ---------------------

def _filtered(*names: str) -> str:
    """What `show stat NAME 6 -1;…` answers: each backend's rows under its own header, then an
    empty line; "No such proxy." for a name haproxy does not know (seen on 2.6.12)."""
    lines = REAL.splitlines()
    parts = []
    for name in names:
        rows = [row for row in lines[1:] if row.startswith(f"{name},")]
        parts.append("\n".join([lines[0], *rows]) + "\n\n" if rows else "No such proxy.\n\n")
    return "".join(parts)


def test_named_backends_are_asked_for_one_by_one_on_one_connection() -> None:
    """Backends and servers (type mask 6) of each name, sid -1 for every server."""
    expected = "show stat be_app 6 -1;show stat be_static 6 -1"
    assert expected == stat_commands(["be_app", "be_static"])


@pytest.mark.parametrize("names", [[], ["42"], ["with space"], ["semi;colon"], ["app", "7"]])
def test_names_show_stat_cannot_filter_by_are_asked_unfiltered(names: list[str]) -> None:
    """No name, an all-digit name (read as a numeric proxy id) or a character HAProxy forbids
    in names: None, so the caller reads the whole `show stat` as before."""
    assert stat_commands(names) is None


def test_filtered_replies_parse_as_the_whole_reply_does() -> None:
    """The same backends as from the unfiltered reply; an unknown name is simply absent."""
    names = ["be_app", "nope", "be_static"]
    whole = parse_stat(REAL)
    assert ({n: whole[n] for n in ("be_app", "be_static")}, []) == parse_filtered(
        _filtered(*names), names)


def test_unknown_backend_from_a_filtered_reply_is_unknown() -> None:
    """`No such proxy.` reads as a backend missing from haproxy: UNKNOWN, named."""
    sample = judge_backends(parse_filtered(_filtered("nope"), ["nope"])[0], [Limit("nope")])
    assert (State.UNKNOWN, "backend nope not found in haproxy") == (sample.state, sample.reason)


@pytest.mark.parametrize("cut", [1, 30, -1])
def test_a_filtered_reply_cut_short_is_unknown(cut: int) -> None:
    """Fewer complete replies than names asked for: cut short, never "backend not found"."""
    reply = _filtered("be_app", "be_static")
    with pytest.raises(ProbeError) as caught:
        parse_filtered(reply[:cut], ["be_app", "be_static"])
    assert State.UNKNOWN == caught.value.state


def test_verbose_says_what_each_mode_costs() -> None:
    """"Every backend" reads the whole `show stat`; named backends are asked for by name."""
    assert "reads the whole `show stat`" in describe([])
    assert describe([Limit("app")]).endswith("asked for by name: cost flat in haproxy's size")
    assert describe([Limit("42")]).endswith("the whole `show stat` is read")


def test_a_name_show_stat_resolves_to_a_frontend_is_left_to_the_whole_reply() -> None:
    """`frontend dup` declared before `backend dup`: `show stat dup 6 -1` answers a header and
    no row (haproxy 2.6 took the frontend). Unresolved, so the caller reads the whole reply
    for it, instead of calling a live backend missing."""
    header_only = REAL.splitlines()[0] + "\n\n"
    found, unresolved = parse_filtered(_filtered("be_app") + header_only, ["be_app", "dup"])
    assert (["be_app"], ["dup"]) == (list(found), unresolved)
