"""`lbcheck status`'s pure parts: the tracker arithmetic, the verdict and the one line that
explains it, the dump paths keepalived derives, the renderers — on hand-written views and on
the dumps captured from real keepalived 2.2.7 / 2.3.x (tests/unit/data/keepalived/).

The live asking (a real keepalived in the lab) is tests/e2e/test_status.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from lbcheck.checks.status import metrics, render
from lbcheck.checks.status.explain import arithmetic, judge, tracker_view
from lbcheck.checks.status.gather import last_check_verdict
from lbcheck.checks.status.view import InstanceView, Status, TrackerView, VipView
from lbcheck.keepalived_state import Tracker, data_dump
from lbcheck.keepalived_state.daemon import Daemon, _option, dump_paths
from lbcheck.keepalived_state.live import _not_ours
from tests.support.textfile import convention_problems

DATA = Path(__file__).parent / "data" / "keepalived"
NOW = 1_800_000_000.0


def view(**changes: object) -> InstanceView:
    base = InstanceView(
        name="VI_1", state="MASTER", since=NOW - 12, sync_group=None, interface="eth0",
        intended="BACKUP", base_priority=250, effective_priority=250, trackers=(), vips=(),
        master_router=None, master_priority=None, preempt=True, recorded=None)
    return replace(base, **changes)  # type: ignore[arg-type]


def failing_file(value: int = 1, weight: int = -20) -> TrackerView:
    return tracker_view(Tracker("file", "haproxy_watch", weight, str(value), value),
                        detail="written 12 s ago")


# -- what each tracker adds, as keepalived computes it ---------------------------------------

@pytest.mark.parametrize(("tracker", "ok", "contribution", "faults"), [
    (Tracker("script", "chk", 5, "GOOD", 0), True, 5, False),
    (Tracker("script", "chk", 5, "BAD", 1), False, 0, False),
    (Tracker("script", "chk", -30, "BAD", 1), False, -30, False),
    (Tracker("script", "chk", -30, "GOOD", 0), True, 0, False),
    (Tracker("script", "chk", 0, "BAD", 1), False, None, True),
    (Tracker("script", "chk", 0, "GOOD", 0), True, 0, False),
    (Tracker("script", "chk", -30, "INIT", None), None, None, False),
    (Tracker("file", "tf", -2, "5", 5), False, -10, False),
    (Tracker("file", "tf", -2, "0", 0), True, 0, False),
    (Tracker("file", "tf", 0, "1", 1), False, None, True),
    (Tracker("interface", "trk0", -20, "UP, RUNNING", None), True, 0, False),
    (Tracker("interface", "trk0", -20, "DOWN", None), False, -20, False),
    (Tracker("interface", "eth1", 0, "UP", None), False, None, True),  # up, not running
    (Tracker("process", "tp", -15, "no quorum", 0), False, -15, False),
    (Tracker("process", "tp", 10, "quorum", 1), True, 10, False),
])
def test_each_tracker_adds_what_keepalived_adds(tracker: Tracker, ok: bool | None,
                                                contribution: int | None, faults: bool) -> None:
    seen = tracker_view(tracker)
    assert (seen.ok, seen.contribution, seen.faults) == (ok, contribution, faults)


def test_the_captured_dump_adds_up_term_by_term() -> None:
    """n1's VI_1 as keepalived 2.3.4 printed it: 200 + 5 − 30 − 10 − 15 = 150."""
    state = data_dump.parse((DATA / "keepalived.2.3.4.master.data").read_bytes(), "2.3.4")
    found = state.instance("VI_1")
    assert found is not None
    seen = view(base_priority=found.base_priority,
                effective_priority=found.effective_priority,
                trackers=tuple(tracker_view(t) for t in found.trackers or ()))
    assert arithmetic(seen) == (
        "our 150 = 200 + 5 (chk_pass OK) \u2212 30 (chk_fail failing) \u2212 10 "
        "(track_file tf_haproxy = 5) \u2212 15 (tp_absent no quorum)")


def test_what_the_trackers_do_not_explain_is_named() -> None:
    """A sync group's shared weights or keepalived's clamping: never silently dropped."""
    assert arithmetic(view(base_priority=250, effective_priority=254)) == \
        "our 254 = 250 + 4 (keepalived's adjustment)"


# -- the one line -------------------------------------------------------------------------

def test_the_issue_s_backup_line() -> None:
    seen = judge(view(state="BACKUP", intended="MASTER", effective_priority=230,
                      trackers=(failing_file(),), master_router="192.0.2.12",
                      master_priority=249), NOW)
    assert seen.explanation == (
        "VI_1 BACKUP for 12 s (configured MASTER): peer 192.0.2.12 advertises 249 > our 230 = "
        "250 \u2212 20 (track_file haproxy_watch = 1: written 12 s ago)")
    assert (seen.as_intended, seen.healthy) == (False, False)


@pytest.mark.parametrize(("changes", "words", "as_intended"), [
    ({"state": "MASTER", "intended": "MASTER"}, "VI_1 MASTER for 12 s: our 250 = 250", True),
    ({"state": "MASTER"}, "our 250 = 250, and no peer advertises more", True),
    ({"state": "BACKUP", "master_router": "192.0.2.12", "master_priority": 250},
     "equal to our 250 = 250: the higher primary address wins a tie", True),
    ({"state": "BACKUP", "master_router": "192.0.2.12", "master_priority": 200,
      "preempt": False, "intended": "either"},
     "nopreempt: stays BACKUP although our 250 = 250 > peer 192.0.2.12's 200", True),
    ({"state": "BACKUP", "master_router": "192.0.2.12", "master_priority": 200},
     "advertises 200 < our 250 = 250: this node should take over", False),
    ({"state": "BACKUP"}, "no master heard yet", True),
    ({"state": "INIT"}, "keepalived is starting this instance", False),
])
def test_each_state_is_explained(changes: dict[str, object], words: str,
                                 as_intended: bool) -> None:
    seen = judge(view(**changes), NOW)
    assert words in seen.explanation
    assert seen.as_intended is as_intended


def test_a_weight_0_fault_names_the_check_and_the_pair_risk() -> None:
    tracker = tracker_view(Tracker("script", "chk_haproxy", 0, "BAD", 1),
                           detail="lbcheck haproxy CRITICAL for 3 s")
    seen = judge(view(state="FAULT", trackers=(tracker,)), NOW)
    assert seen.explanation == (
        "VI_1 FAULT for 12 s: chk_haproxy (weight 0) failing: lbcheck haproxy CRITICAL for 3 s"
        " — the peer is FAULT too? then no node holds the VIPs")
    assert (seen.as_intended, seen.healthy) == (False, False)
    vips = (VipView("192.0.2.10/24", False, "eth0", False, holders=0, holders_age=1.0),)
    both = judge(view(state="FAULT", trackers=(tracker,), vips=vips), NOW)
    assert "no node holds the VIPs (pair watch)" in both.explanation
    assert "no node holds 192.0.2.10/24 on eth0 (pair watch)" in both.warnings


@pytest.mark.parametrize(("state", "here", "holders", "warning"), [
    ("MASTER", False, None, "MASTER but 192.0.2.10/24 on eth0 is not on the interface"),
    ("BACKUP", True, None, "BACKUP but 192.0.2.10/24 on eth0 is still on the interface"),
    ("MASTER", True, 2, "split brain: 192.0.2.10/24 on eth0 held by 2 nodes (pair watch)"),
])
def test_a_misplaced_vip_is_unhealthy(state: str, here: bool, holders: int | None,
                                      warning: str) -> None:
    vips = (VipView("192.0.2.10/24", False, "eth0", here, holders, 1.0),)
    seen = judge(view(state=state, vips=vips), NOW)
    assert any(w.startswith(warning) for w in seen.warnings)
    assert seen.healthy is False


def test_a_tracker_keepalived_has_no_result_for_yet_is_not_healthy() -> None:
    seen = judge(view(trackers=(tracker_view(Tracker("script", "chk", -5, "INIT", None)),)),
                 NOW)
    assert seen.healthy is False
    assert "chk not known yet" not in seen.explanation  # it moves nothing yet


# -- where keepalived writes, and whose dump it is ----------------------------------------

def daemon(tmp: str = "/tmp", namespace: str | None = None) -> Daemon:
    return Daemon(1, "/etc/keepalived/keepalived.conf", tmp, namespace)


@pytest.mark.parametrize(("kwargs", "data"), [
    ({}, "/tmp/keepalived.data"),
    ({"state_dump_file": "/var/run/ka/state.txt"}, "/var/run/ka/state.txt"),
    ({"state_dump_file": "/var/run/ka/"}, "/var/run/ka/keepalived.data"),
    ({"state_dump_file": "mine.dump"}, "/tmp/mine.dump"),
    ({"state_dump_file": "nodot"}, "/tmp/nodot"),
    ({"instance": "lb1"}, "/tmp/keepalived.data"),  # without data_use_instance: no suffix
    ({"instance": "lb1", "data_use_instance": True}, "/tmp/keepalived.lb1.data"),
    ({"instance": "lb1", "net_namespace": "blue", "data_use_instance": True},
     "/tmp/keepalived.blue_lb1.data"),
    ({"net_namespace": "blue", "data_use_instance": True, "state_dump_file": "/d/x"},
     "/d/x.blue"),
])
def test_dump_paths_as_keepalived_derives_them(kwargs: dict[str, object], data: str) -> None:
    assert dump_paths(daemon(), **kwargs).data == data  # type: ignore[arg-type]


def test_the_json_dump_is_in_keepalived_s_tmp_dir() -> None:
    assert dump_paths(daemon("/run/ka-tmp")).json == "/run/ka-tmp/keepalived.json"
    assert dump_paths(daemon("/run/ka-tmp")).data == "/run/ka-tmp/keepalived.data"
    assert daemon().seen("/tmp/keepalived.data") == "/proc/1/root/tmp/keepalived.data"


@pytest.mark.parametrize("argv", [
    ["keepalived", "-f", "/x.conf"], ["keepalived", "-f/x.conf"],
    ["keepalived", "--use-file=/x.conf"], ["keepalived", "-D", "--use-file", "/x.conf", "-n"],
])
def test_the_config_keepalived_was_started_with(argv: list[str]) -> None:
    assert _option(argv, "-f", "--use-file") == "/x.conf"


def test_a_dump_naming_another_router_id_is_not_ours() -> None:
    """The lab's nodes share the host's /tmp: n2's dump must never be read as n1's."""
    state = data_dump.parse((DATA / "keepalived.2.2.7.backup.data").read_bytes())
    assert state.router_id == "lbs-n2"
    mismatch = _not_ours(state, Daemon(1 << 22, "/c", "/tmp", None), router_id="lbs-n1")
    assert mismatch == "Router ID lbs-n2, ours is lbs-n1"


# -- what lbcheck recorded ------------------------------------------------------------------

def test_the_newest_check_verdict_is_reported(tmp_path: Path) -> None:
    import os

    (tmp_path / "haproxy-0000abcd").write_text("OK\n")
    os.utime(tmp_path / "haproxy-0000abcd", (NOW - 100, NOW - 100))
    (tmp_path / "haproxy-1111abcd").write_text("CRITICAL\n")
    os.utime(tmp_path / "haproxy-1111abcd", (NOW - 12, NOW - 12))
    (tmp_path / "not-a-check").write_text("CRITICAL\n")
    assert last_check_verdict(str(tmp_path), NOW) == (
        "lbcheck haproxy CRITICAL for 12 s", NOW - 12)
    assert last_check_verdict(str(tmp_path / "absent"), NOW) is None


# -- renderers -------------------------------------------------------------------------------

def status(*instances: InstanceView) -> Status:
    return Status(pid=42, config="/etc/keepalived/keepalived.conf",
                  data_dump="/tmp/keepalived.data", json_dump=None, written_at=NOW - 0.02,
                  instances=instances, sync_groups=(("G1", "BACKUP", ("VI_1", "VI_2")),),
                  haproxy="lbcheck haproxy CRITICAL for 12 s")


def test_the_json_document_keeps_its_schema() -> None:
    bad = judge(view(state="BACKUP", intended="MASTER", effective_priority=230,
                     trackers=(failing_file(),), master_router="192.0.2.12",
                     master_priority=249), NOW)
    document = json.loads(render.as_json(status(bad)))
    assert document["schema"] == render.SCHEMA == 1
    assert document["ok"] is False
    assert set(document) == {"schema", "ok", "keepalived", "haproxy", "instances",
                             "sync_groups", "notes", "verdict"}
    instance = document["instances"][0]
    assert instance["priority"] == {"base": 250, "effective": 230}
    assert instance["master"] == {"router": "192.0.2.12", "priority": 249}
    assert instance["trackers"][0] == {
        "kind": "file", "name": "haproxy_watch", "weight": -20, "status": "1", "result": 1,
        "ok": False, "contribution": -20, "faults": False, "detail": "written 12 s ago"}
    assert document["sync_groups"] == [{"name": "G1", "state": "BACKUP",
                                        "members": ["VI_1", "VI_2"]}]
    assert json.loads(render.error_document("keepalived is not running")) == {
        "schema": 1, "ok": False, "error": "keepalived is not running"}


def test_the_text_ends_with_the_verdict() -> None:
    good = judge(view(intended="MASTER"), NOW)
    text = render.as_text(status(good), verbose=2, now=NOW)
    assert text.splitlines()[0] == ("keepalived pid 42, /etc/keepalived/keepalived.conf; "
                                    "dump written 0.02 s ago")
    assert text.splitlines()[-1] == ("OK: every instance in its configured state, every "
                                     "tracker OK")


def test_the_textfile_keeps_the_convention_and_promtool_reads_it(tmp_path: Path) -> None:
    trackers = (failing_file(), tracker_view(Tracker("script", "chk", 0, "GOOD", 0)))
    bad = judge(view(state="BACKUP", trackers=trackers, master_router="192.0.2.12",
                     master_priority=249, effective_priority=230), NOW)
    text = metrics.render(status(bad), NOW).decode()
    assert convention_problems(text, "lbcheck_") == []
    assert 'lbcheck_keepalived_effective_priority{instance="VI_1"} 230.0' in text
    assert ('lbcheck_keepalived_tracker_status{instance="VI_1",kind="file",'
            'state="FAILING",tracker="haproxy_watch"} 1.0') in text
    assert ('lbcheck_keepalived_tracker_priority_change{instance="VI_1",kind="file",'
            'tracker="haproxy_watch"} -20.0') in text
    down = metrics.render_unavailable(NOW).decode()
    assert "lbcheck_keepalived_up 0.0" in down and "priority" not in down
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (bin/setup installs it)")
    for body in (text, down):
        checked = subprocess.run([promtool, "check", "metrics"], input=body, text=True,
                                 capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_transition_in_progress_is_no_misplaced_vip() -> None:
    """keepalived sets a new MASTER's VIPs right after the state changes (and removes a new
    BACKUP's): asked in that moment, the VIP is not misplaced yet — no false NOT OK during a
    planned failover (seen once in 40 asks of bin/bench status)."""
    vips = (VipView("192.0.2.10/24", False, "eth0", False, None, None),)
    fresh = judge(view(state="MASTER", since=NOW - 0.01, vips=vips), NOW)
    assert (fresh.warnings, fresh.healthy) == ((), True)
    stale = judge(view(state="MASTER", since=NOW - 5, vips=vips), NOW)
    assert stale.healthy is False
