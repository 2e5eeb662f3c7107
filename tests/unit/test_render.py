"""How an Outcome is shown: the verbose table, the JSON shape and the nagios line."""

from __future__ import annotations

import json
import re

import pytest

from lbcheck.checks.render import as_dict, as_json, nagios, verbose
from lbcheck.outcome import Outcome, Sample, State

OUTCOME = Outcome(
    samples=(
        Sample("process", State.OK, "running (pid 100; found by name haproxy)", 1.25),
        Sample("socket", State.OK, "haproxy 2.6 pid 101 answers (idle 99%)", 2.5,
               metrics=(("uptime_s", 608.0), ("idle_pct", 99.0))),
        Sample("backends", State.CRITICAL, "be-app.v2: 0/2 UP, need 1", 3.75,
               metrics=(("be-app.v2_up", 0.0), ("shortfall", 1.0)),
               details=("be-app.v2: 0/2 UP (need 1); not serving: s1 DOWN, s2 MAINT",)),
        Sample("master", State.OK, "not asked", skipped=True),
    ),
    elapsed_ms=9.5,
    thresholds=("be-app.v2 ≥ 1 UP",),
)
# A nagios perfdata item: an unquoted label (no space, '=' or quote), a number, a unit.
PERFDATA = re.compile(r"^[A-Za-z0-9_.-]+=-?\d+(\.\d+)?(e[+-]?\d+)?(s|%|B|c)?$")


def test_verbose_table_shows_verdict_each_probe_times_and_thresholds() -> None:
    """The first line is the verdict; each probe has verdict, ms and reason; thresholds follow."""
    lines = verbose(OUTCOME, "haproxy", 0.8).splitlines()
    assert "lbcheck haproxy: CRITICAL (exit 1) — backends: be-app.v2: 0/2 UP, need 1" == lines[0]
    table = "\n".join(lines)
    for probe, verdict, took in [("process", "OK", "1.2 ms"), ("socket", "OK", "2.5 ms"),
                                 ("backends", "CRITICAL", "3.8 ms"), ("master", "SKIPPED", "-")]:
        row = rf"^  {probe} +{verdict} +{re.escape(took)}  "
        assert re.search(row, table, re.MULTILINE), probe
    assert "not serving: s1 DOWN, s2 MAINT" in table
    assert ["  total 9.5 ms of a 0.8 s deadline", "  be-app.v2 ≥ 1 UP"] == lines[-2:]


@pytest.mark.parametrize(("level", "shown"), [(1, False), (2, True)])
def test_details_of_healthy_probes_only_at_higher_verbosity(level: int, shown: bool) -> None:
    """-v shows details of failing probes only; -vv shows everyone's."""
    outcome = Outcome((Sample("backends", State.OK, "a: 1/1 UP", details=("a: fine",)),))
    assert shown == ("a: fine" in verbose(outcome, "backends", 0.8, level))


def test_as_dict_shape() -> None:
    """The JSON document: verdict, exit code, timings, thresholds and one entry per probe."""
    document = as_dict(OUTCOME, "haproxy", 0.8)
    assert {"command": "haproxy", "state": "CRITICAL", "exit_code": 1,
            "reason": "backends: be-app.v2: 0/2 UP, need 1", "elapsed_ms": 9.5, "deadline_s": 0.8,
            "thresholds": ["be-app.v2 ≥ 1 UP"]} == {k: v for k, v in document.items()
                                                  if k != "probes"}
    assert {"name": "backends", "state": "CRITICAL", "reason": "be-app.v2: 0/2 UP, need 1",
            "elapsed_ms": 3.75, "metrics": {"be-app.v2_up": 0.0, "shortfall": 1.0},
            "details": ["be-app.v2: 0/2 UP (need 1); not serving: s1 DOWN, s2 MAINT"]} == (
        document["probes"][2])  # type: ignore[index]
    assert ["OK", "OK", "CRITICAL", "SKIPPED"] == [
        p["state"] for p in document["probes"]]  # type: ignore[attr-defined]


def test_as_json_is_as_dict_serialised() -> None:
    """--json prints exactly the as_dict document."""
    assert as_dict(OUTCOME, "haproxy", 0.8) == json.loads(as_json(OUTCOME, "haproxy", 0.8))


def test_nagios_line() -> None:
    """`HAPROXY CRITICAL - reason | perfdata`, with times of the probes that ran."""
    line = nagios(OUTCOME, "haproxy")
    output, _, perf = line.partition(" | ")
    assert "HAPROXY CRITICAL - backends: be-app.v2: 0/2 UP, need 1" == output
    assert ["process_time=0.001250s", "socket_time=0.002500s", "backends_time=0.003750s",
            "socket_uptime_s=608", "socket_idle_pct=99", "backends_be-app.v2_up=0",
            "backends_shortfall=1"] == perf.split(" ")


@pytest.mark.parametrize(("state", "label"), [(State.OK, "OK"), (State.WARN, "WARNING"),
                                              (State.UNKNOWN, "UNKNOWN"),
                                              (State.CRITICAL, "CRITICAL")])
def test_nagios_state_labels(state: State, label: str) -> None:
    """The plugin convention spells WARN as WARNING."""
    assert nagios(Outcome((Sample("tcp", state, "r"),)), "tcp").startswith(f"TCP {label} - ")


def test_nagios_perfdata_labels_are_valid() -> None:
    """Metric keys with spaces, '=' or quotes (from backend names) become valid labels."""
    outcome = Outcome((Sample("backends", State.OK, "ok", 1.0,
                              metrics=(("my app=1's_up", 2.0), ("x:y/z_up", 0.5))),))
    perf = nagios(outcome, "backends").partition(" | ")[2].split(" ")
    assert ["backends_time=0.001000s", "backends_my_app_1_s_up=2", "backends_x_y_z_up=0.5"] == perf
    assert all(PERFDATA.match(item) for item in perf), perf


def test_pipe_in_reason_does_not_split_perfdata() -> None:
    """The plugin output has exactly one '|', the one before the perfdata."""
    outcome = Outcome((Sample("http", State.CRITICAL, "http://lb/health?x=a|b answered 503"),))
    assert 1 == nagios(outcome, "http").count("|")


VIPS = Outcome(samples=(
    Sample("vip 192.0.2.10", State.OK, "held by 1: here", 250.0, (("holders", 1.0),)),
    Sample("vip 2001:db8:1::10", State.CRITICAL, "held by no node", 250.0,
           (("holders", 0.0),), ("instance VI_1 on eth0",)),
))


def test_long_probe_names_widen_the_table() -> None:
    """`vip 2001:db8:1::10` does not push its row out of line: the column is as wide as it."""
    lines = verbose(VIPS, "vips", 0.8).splitlines()

    rows = [lines[2], *(line for line in lines if line.startswith("  vip "))]
    assert 1 == len({row.index("VERDICT" if "PROBE" in row else row.split()[2])
                     for row in rows}), rows
    assert "  instance VI_1 on eth0" in next(line for line in lines if "instance" in line)


def test_probe_names_with_spaces_and_colons_make_valid_perfdata() -> None:
    perf = nagios(VIPS, "vips").split(" | ")[1].split()

    assert all(PERFDATA.match(item) for item in perf), perf
    assert ["vip_192.0.2.10_time=0.250000s", "vip_2001_db8_1__10_time=0.250000s",
            "vip_192.0.2.10_holders=1", "vip_2001_db8_1__10_holders=0"] == perf
