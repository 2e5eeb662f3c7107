"""Real replies of haproxy 2.6, 3.0 and 3.2 through lbcheck's parsers and judges.

The files were captured by bin/capture-fixtures from one master-worker haproxy per version
with one configuration (tests/support/capture.py): backend app = web1 UP, web2 DOWN (nothing
listens), web3 MAINT (`disabled`), spare1 an unchecked backup; backend static = s1 unchecked;
backend empty. The pids below are the captured ones: regenerate the files, update them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import pytest

from lbcheck.checks.backends import Backend, Server, judge_backends, parse_stat
from lbcheck.checks.info import judge_info, parse_info
from lbcheck.checks.master_cli import ProcTable, judge_proc, parse_show_proc
from lbcheck.outcome import State

DATA = Path(__file__).parent / "data"


class Captured(NamedTuple):
    version: str
    master: int  # the master-worker master
    worker: int  # its first worker: `show info`'s Pid
    reloaded: int  # the worker the (successful) reload started
    info_fields: int  # `show info` keys
    stat_columns: int  # `show stat` header names, the "-" separator included
    base_columns: int  # header names before "-": the rest are per-module (ssl, h1, h2, quic…)

    def read(self, name: str, suffix: str = "txt") -> str:
        return (DATA / f"{name}.{self.version}.{suffix}").read_text()


CAPTURED = [
    pytest.param(Captured("2.6.12", 11510, 11513, 11531, 69, 128, 103), id="haproxy2.6.12"),
    pytest.param(Captured("3.0.11", 11550, 11552, 11570, 76, 205, 113), id="haproxy3.0.11"),
    pytest.param(Captured("3.2.26", 11583, 11586, 11680, 76, 207, 113), id="haproxy3.2.26"),
]
APP = Backend("app", (Server("web1", "UP", False), Server("web2", "DOWN", False),
                      Server("web3", "MAINT", False), Server("spare1", "no check", True)))


@pytest.mark.parametrize("cap", CAPTURED)
def test_show_info_is_a_serving_worker(cap: Captured) -> None:
    """`show info` parses on every version: the worker's Pid, not stopping, judged OK."""
    info = parse_info(cap.read("show_info"))
    assert ("HAProxy", str(cap.worker), "0", cap.info_fields) == (
        info["Name"], info["Pid"], info["Stopping"], len(info))
    assert info["Version"].startswith(cap.version + "-")
    sample = judge_info(info)
    reason = f"haproxy {info['Version']} pid {cap.worker} answers (idle {info['Idle_pct']}%)"
    assert (State.OK, reason) == (sample.state, sample.reason)


@pytest.mark.parametrize("cap", CAPTURED)
def test_show_stat_backends_and_statuses(cap: Captured) -> None:
    """Every version's CSV gives the same servers and statuses, and the same verdict."""
    backends = parse_stat(cap.read("show_stat", "csv"))
    assert {"app": APP, "static": Backend("static", (Server("s1", "no check", False),)),
            "empty": Backend("empty", ())} == backends
    sample = judge_backends(backends, [])
    assert (State.OK, "app: 1/3 UP, need 1; static: 1/1 UP, need 1") == (
        sample.state, sample.reason)


@pytest.mark.parametrize("cap", CAPTURED)
def test_show_stat_columns(cap: Captured) -> None:
    """Columns grow by version (2.6: 128, 3.0: 205, 3.2: 207) but status and type keep their
    places (17, 32): why the parser goes by header name and must keep doing so."""
    header = next(csv.reader([cap.read("show_stat", "csv").splitlines()[0][2:]]))
    assert "" == header[-1]  # every line ends with a comma
    names = header[:-1]
    assert (cap.stat_columns, cap.base_columns, 17, 32, 100) == (
        len(names), names.index("-"), names.index("status"), names.index("type"),
        names.index("agg_server_status"))


@pytest.mark.parametrize("cap", CAPTURED)
def test_filtered_show_stat_holds_backend_app_only(cap: Captured) -> None:
    """`show stat app 6 -1` (proxy app, backend + servers, all servers) parses the same."""
    assert {"app": APP} == parse_stat(cap.read("show_stat_app", "csv"))


@pytest.mark.parametrize("cap", CAPTURED)
def test_show_proc_master_and_worker(cap: Captured) -> None:
    """The master CLI's table names the worker `show info` came from (3.2 lists no
    `# programs` section: it parses the same)."""
    table = parse_show_proc(cap.read("show_proc"))
    assert ProcTable(cap.master, 0, 0, (cap.worker,), ()) == table
    assert State.OK == judge_proc(table).state


@pytest.mark.parametrize("cap", CAPTURED)
def test_show_proc_during_a_reload(cap: Captured) -> None:
    """Mid-reload, the old worker is listed under `# old workers`: OK, noted as draining."""
    table = parse_show_proc(cap.read("show_proc_reload"))
    assert ProcTable(cap.master, 1, 0, (cap.reloaded,), (cap.worker,)) == table
    sample = judge_proc(table)
    reason = f"master {cap.master}, worker(s) {cap.reloaded}, 1 old worker(s) draining"
    assert (State.OK, reason) == (sample.state, sample.reason)


@pytest.mark.parametrize("cap", CAPTURED)
def test_where_a_failed_reload_leaves_the_serving_worker(cap: Captured) -> None:
    """After a failed reload the worker still serving is under `# workers` on 2.6 and 3.0,
    but under `# old workers` (with `# workers` empty) on 3.2: the text, as haproxy wrote it."""
    table = parse_show_proc(cap.read("show_proc_failed_reload"))
    serving = (cap.reloaded,)
    expected = ((), serving) if cap.version.startswith("3.2.") else (serving, ())
    assert (cap.master, 2, 1) + expected == (
        table.master_pid, table.reloads, table.failed_reloads, table.workers, table.old_workers)


@pytest.mark.parametrize("cap", CAPTURED)
def test_failed_reload_is_a_warning_on_every_version(cap: Captured) -> None:
    """A failed reload leaves the previous config serving: WARN, never CRITICAL."""
    sample = judge_proc(parse_show_proc(cap.read("show_proc_failed_reload")))
    assert State.WARN == sample.state, sample.reason
    assert "1 reload(s) failed" in sample.reason
