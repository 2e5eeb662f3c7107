"""`lbcheck status` against real keepalived in the lab (issue 20, "Proof").

Each scenario runs `lbcheck status` inside a node as an operator there would
(tests/lab/lab.py `Lab.status`: the node's PID, mount, network and UTS namespaces, its
LBCHECK_CONFIG) and asserts on the --json document and the exit code. One lab for the module:
`Lab.configure` switches variant, profile and keepalived build, in an order that brings the
pair up as few times as possible (conservative, then the sync group, then fast, then 2.3).

The two nodes run the host's keepalived 2.2.7 with the host's /tmp: both write the SAME
/tmp/keepalived.data, the exporters' trap this command must not fall into.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.e2e.conftest import running_lab
from tests.lab.lab import PRIORITIES, PRIORITY, Lab
from tests.lab.topology import host
from tests.support import debian_root
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

SETTLE = 15.0  # s: a bound for a pair to reach what a scenario waits for; ends earlier
HOSTILE_BOUND = 3.0  # s: `lbcheck status` must answer within this whatever /tmp holds
SHARED_DUMP = "/tmp/keepalived.data"
FAKE_PRIORITY = 222  # what a planted dump claims: never shown
ROUNDS = 20
SUITE_23 = "trixie"  # keepalived 2.3.x (sid's 2.3.4 is the same branch; time budget)


class Answer(NamedTuple):
    code: int
    doc: dict[str, Any]
    out: str
    err: str
    wall: float


def ask(lab: Lab, node: str, *args: str, json_out: bool = True,
        timeout: float = 20.0) -> Answer:
    started = time.monotonic()
    done = lab.status(node, *(("--json",) if json_out else ()), *args, timeout=timeout)
    wall = time.monotonic() - started
    doc = json.loads(done.stdout) if json_out and done.stdout.strip() else {}
    return Answer(done.returncode, doc, done.stdout, done.stderr, wall)


def instance(answer: Answer, name: str = "VI_1") -> dict[str, Any]:
    found = [i for i in answer.doc.get("instances", []) if i["name"] == name]
    assert found, answer
    return found[0]


def state_of(answer: Answer, name: str = "VI_1") -> str | None:
    listed = [i for i in answer.doc.get("instances", []) if i["name"] == name]
    return listed[0]["state"] if listed else None


def settled(lab: Lab, node: str, bound: float = SETTLE) -> Answer:
    """The node's answer once it exits 0, or its last answer after ``bound``."""
    return eventually(lambda: ask(lab, node), lambda a: a.code == 0, bound, interval=0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        with running_lab(tmp_path_factory) as lab:
            yield lab
    finally:  # the dumps the host keepalived of both nodes wrote for us into the host's /tmp
        # (its parent writes keepalived_parent.data on the same SIGUSR1, then forwards it)
        for path in (Path(SHARED_DUMP), Path(SHARED_DUMP).with_suffix(".json"),
                     Path(SHARED_DUMP).with_name("keepalived_parent.data")):
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_uid == 0 and stat.S_ISREG(path.lstat().st_mode):
                    path.unlink()


# -- conservative profile (examples/keepalived.conf), keepalived 2.2.7 -------------------------

def test_healthy_pair(lab: Lab) -> None:
    """n1 MASTER holding both VIPs; n2 BACKUP hearing n1 advertise 150 > 100; both exit 0."""
    lab.configure(variant="keepalived.conf", profile="conservative", check="lbcheck",
                  keepalived_root=None)
    n1, n2 = settled(lab, "n1"), settled(lab, "n2")
    assert n1.code == 0 and n1.doc["ok"] is True, n1
    first = instance(n1)
    assert first["state"] == "MASTER" and first["as_intended"] and first["healthy"], first
    assert first["priority"] == {"base": PRIORITY["n1"], "effective": PRIORITY["n1"]}
    assert [v["here"] for v in first["vips"]] == [True, True], first["vips"]
    assert n2.code == 0 and n2.doc["ok"] is True, n2
    second = instance(n2)
    assert second["state"] == "BACKUP" and second["as_intended"] and second["healthy"], second
    assert second["master"] == {"router": host("n1").v4, "priority": PRIORITY["n1"]}
    assert second["priority"]["effective"] == PRIORITY["n2"] < PRIORITY["n1"]
    assert [v["here"] for v in second["vips"]] == [False, False], second["vips"]
    text = ask(lab, "n2", json_out=False)
    line = next(ln for ln in text.out.splitlines() if ln.startswith("VI_1 "))
    assert text.code == 0, text
    assert (f"peer {host('n1').v4} advertises {PRIORITY['n1']} > our {PRIORITY['n2']}"
            in line), line


def test_ask_segment_counts_one_holder_from_either_node(lab: Lab) -> None:
    """--ask-segment asks who holds each VIP now (ARP probe / NS, as lbcheck vips): one
    holder, seen alike from the MASTER and the BACKUP."""
    lab.configure(variant="keepalived.conf", profile="conservative", check="lbcheck",
                  keepalived_root=None)
    for node in ("n1", "n2"):
        answer = eventually(lambda node=node: ask(lab, node, "--ask-segment"),  # type: ignore[misc]
                            lambda a: a.code == 0, SETTLE, interval=0.2)
        assert answer.code == 0, answer
        assert [(v["holders"], v["holders_age"]) for v in instance(answer)["vips"]] == [
            (1, 0.0), (1, 0.0)], answer


@pytest.mark.routine_day
def test_a_keepalived_reload_is_no_false_not_ok(lab: Lab) -> None:
    """The routine day: `systemctl reload keepalived` on both nodes while a timer asks each
    node every 0.2 s. No answer may say NOT OK (exit 1): a reload keeps every instance in its
    state. An answer that could not be had during the reload (exit 3) is honest, and counted."""
    lab.configure(variant="keepalived.conf", profile="conservative", check="lbcheck",
                  keepalived_root=None)
    settled(lab, "n1")
    settled(lab, "n2")
    codes: list[tuple[str, int, str]] = []
    for node in ("n1", "n2"):
        lab.reload_keepalived(node)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            answer = ask(lab, node)
            said = [i["explanation"] for i in answer.doc.get("instances", [])]
            codes.append((node, answer.code, " | ".join(said) or answer.doc.get("error", "")))
            time.sleep(0.2)
    print(f"\nreload: {len(codes)} answers, exit 3 {sum(c == 3 for _, c, _ in codes)} times")
    assert [c for c in codes if c[1] == 1] == []
    assert sum(c == 0 for _, c, _ in codes) >= len(codes) // 2, codes


def test_two_keepalived_on_one_host_never_read_each_others_dump(lab: Lab) -> None:
    """Both nodes' keepalived 2.2.7 write the host's /tmp/keepalived.data; askers on both
    nodes at once, 20 rounds: each answer is its own node's, exit 3 at most rarely."""
    daemons = {n: lab.keepalived_parent(n) for n in PRIORITY}
    tmps = {os.stat(f"/proc/{pid}/root/tmp").st_ino for pid in daemons.values()}
    assert tmps == {os.stat("/tmp").st_ino}, "the nodes no longer share the host's /tmp"
    for node in PRIORITY:
        settled(lab, node)
    start = threading.Barrier(2)

    def together(node: str) -> Answer:
        start.wait(timeout=10)
        return ask(lab, node)

    seen: Counter[tuple[str, int]] = Counter()
    refused: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(ROUNDS):
            for node, answer in zip(PRIORITY, pool.map(together, PRIORITY), strict=True):
                seen[(node, answer.code)] += 1
                if answer.code == 3:
                    refused.append(f"{node}: {answer.doc.get('error')}")
                    continue
                assert answer.code == 0, answer
                assert answer.doc["keepalived"]["data_dump"] == SHARED_DUMP
                assert instance(answer)["priority"]["base"] == PRIORITY[node], answer
    print(f"\nconcurrent askers, {ROUNDS} rounds x 2 nodes: {dict(seen)}; refused: {refused}")
    assert len(refused) <= 2, refused


# nobody's process for the "held" case: creates the dump path, keeps it open for writing and,
# once keepalived has chowned *that* file to root and filled it, writes the fake through its
# descriptor (permissions are checked at open only). Defeated when keepalived writes a new
# file rather than the one it found: then the fake never reaches the path, and nobody gives up.
HOLDER = r"""
import os, sys, time
path, fake = sys.argv[1], sys.stdin.buffer.read()
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
ours = os.fstat(fd).st_ino
print("planted", flush=True)
end, last = time.monotonic() + 3.0, None
while time.monotonic() < end:
    try:
        if os.lstat(path).st_ino != ours:
            break  # keepalived wrote a file of its own there: the fake cannot reach it
    except FileNotFoundError:
        pass
    seen = os.fstat(fd)
    if seen.st_uid == 0 and seen.st_size > 0:
        if last == seen.st_size:
            os.ftruncate(fd, 0)
            os.pwrite(fd, fake, 0)
            break
        last = seen.st_size
    time.sleep(0.0005)
"""
PLANTS = ["regular", "symlink", "fifo", "directory", "held"]


def _temporaries() -> set[Path]:
    return set(Path(SHARED_DUMP).parent.glob(Path(SHARED_DUMP).name + "?*"))


def _plant(kind: str, fake: str) -> subprocess.Popen[str] | None:
    """As nobody, put ``kind`` at the shared dump path (removed first: it is root's); the
    "held" case returns nobody's process, which must be waited for."""
    Path(SHARED_DUMP).unlink(missing_ok=True)
    nobody = ["runuser", "-u", "nobody", "--"]
    if kind == "regular":
        subprocess.run([*nobody, "sh", "-c", f"cat > {SHARED_DUMP}"], input=fake, text=True,
                       check=True, timeout=10)
    elif kind == "symlink":
        subprocess.run([*nobody, "ln", "-s", "/etc/shadow", SHARED_DUMP], check=True,
                       timeout=10)
    elif kind == "fifo":
        subprocess.run([*nobody, "mkfifo", SHARED_DUMP], check=True, timeout=10)
    elif kind == "directory":
        subprocess.run([*nobody, "mkdir", SHARED_DUMP], check=True, timeout=10)
    else:
        holder = subprocess.Popen([*nobody, "python3", "-c", HOLDER, SHARED_DUMP],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  cwd="/")
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write(fake)
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "planted"
        return holder
    return None


def _unplant(before: set[Path]) -> None:
    """Remove what is at the dump path; a FIFO is opened for reading first (non-blocking)
    and drained, so a keepalived that did open it for writing is never left blocked. Also
    the temporary files keepalived left beside it (it writes keepalived.dataXXXXXX and
    renames it over the path: over a directory that fails, and the temporary stays)."""
    for left in _temporaries() - before:
        left.unlink(missing_ok=True)
    try:
        mode = os.lstat(SHARED_DUMP).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        os.rmdir(SHARED_DUMP)
        return
    if stat.S_ISFIFO(mode):
        fd = os.open(SHARED_DUMP, os.O_RDONLY | os.O_NONBLOCK)
        try:
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                try:
                    if not os.read(fd, 1 << 16):
                        time.sleep(0.05)
                except BlockingIOError:
                    time.sleep(0.05)
        finally:
            os.close(fd)
    Path(SHARED_DUMP).unlink(missing_ok=True)


@pytest.mark.parametrize("kind", PLANTS)
def test_a_planted_dump_is_never_believed(lab: Lab, kind: str) -> None:
    """nobody plants /tmp/keepalived.data (a fake dump claiming priority 222, a symlink to
    /etc/shadow, a FIFO, a directory, a file it keeps open to rewrite after keepalived):
    each node shows its real daemon's numbers or exits 3 with one line, within 3 s — never
    the planted numbers, never a hang, /etc/shadow untouched.

    (keepalived 2.2.7 replaces what it finds there with a root-owned file of its own and
    opens with O_NOFOLLOW since 2.0.11, so the symlink cannot make it write /etc/shadow; the
    assertion on /etc/shadow's identity keeps that a checked fact.)"""
    for node in PRIORITY:
        settled(lab, node)
    real = Path(SHARED_DUMP).read_text()
    fake = re.sub(r"(?m)^(\s+(?:Priority|Effective priority|Total priority) = )\d+",
                  rf"\g<1>{FAKE_PRIORITY}", real)
    assert fake != real, "the .data dump no longer has Priority lines: update the test"
    shadow = os.stat("/etc/shadow")
    for node in PRIORITY:
        before = _temporaries()
        holder = _plant(kind, fake)
        try:
            answer = ask(lab, node, timeout=HOSTILE_BOUND + 5)
        finally:
            if holder is not None:
                try:
                    holder.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    holder.kill()
                    holder.wait(timeout=5)
            _unplant(before)
        assert answer.wall <= HOSTILE_BOUND, answer
        assert "Traceback" not in answer.err, answer
        if answer.code == 3:
            assert answer.doc["ok"] is False and answer.doc["error"], answer
            assert len(answer.err.strip().splitlines()) <= 1, answer
        else:
            assert answer.code == 0, answer
            priority = instance(answer)["priority"]
            assert priority["base"] == PRIORITY[node] != FAKE_PRIORITY, answer
            assert priority["effective"] != FAKE_PRIORITY, answer
        print(f"\nplanted {kind}, {node}: exit {answer.code} in {answer.wall:.2f} s "
              f"{answer.doc.get('error') or ''}")
    after = os.stat("/etc/shadow")
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        shadow.st_ino, shadow.st_size, shadow.st_mtime_ns)


def test_the_exit_3_line_states_the_wait_as_given(lab: Lab) -> None:
    """The one line of exit 3 is read by a person at 3 am: it names the bound they set."""
    settled(lab, "n1")
    before = _temporaries()
    _plant("directory", "")
    try:
        answer = ask(lab, "n1", timeout=HOSTILE_BOUND + 5)
    finally:
        _unplant(before)
    assert answer.code == 3, answer
    error = answer.doc["error"]
    assert error.startswith("/tmp/keepalived.data: not rewritten within 1 s"), error
    assert "a directory owned by uid 65534 is in the way (planted?)" in error, error


def test_keepalived_stopped(lab: Lab, tmp_path: Path) -> None:
    """keepalived stopped on n2 (the rest of the node runs on): exit 3 with one line on
    stderr and no traceback; --json {"ok": false, "error": …}; --textfile: up 0 alone."""
    settled(lab, "n2")
    lab.stop_keepalived("n2")
    try:
        text = ask(lab, "n2", json_out=False)
        print(f"\nkeepalived stopped: {text.err.strip()}")
        assert text.code == 3, text
        assert len(text.err.strip().splitlines()) == 1 and "Traceback" not in text.err, text
        assert "keepalived" in text.err, text
        as_json = ask(lab, "n2")
        assert as_json.code == 3, as_json
        assert as_json.doc["ok"] is False and as_json.doc["error"], as_json
        assert set(as_json.doc) == {"schema", "ok", "error"}, as_json.doc
        prom = tmp_path / "status.prom"  # tmp_path is seen at the same path in the node
        metrics = ask(lab, "n2", "--textfile", str(prom), json_out=False)
        assert metrics.code == 3, metrics
        series = [ln for ln in prom.read_text().splitlines() if not ln.startswith("#")]
        assert any(re.fullmatch(r"lbcheck_keepalived_up 0(\.0)?", ln) for ln in series), series
        assert not any(ln.startswith("lbcheck_keepalived_vrrp_state") for ln in series), series
    finally:
        lab.start_keepalived("n2")
    back = settled(lab, "n2")
    assert back.code == 0, back


def test_weight_0_check_faults_the_master(lab: Lab) -> None:
    """Conservative profile, haproxy killed on n1: chk_haproxy (weight 0) puts VI_1 in
    FAULT; the tracker says it faults, the explanation names the weight 0; exit 1."""
    lab.wait_for_master("n1", 25)
    lab.inject("n1", "killed")
    try:
        n1 = eventually(lambda: ask(lab, "n1"), lambda a: state_of(a) == "FAULT", SETTLE,
                        interval=0.2)
        first = instance(n1)
        assert n1.code == 1 and n1.doc["ok"] is False, n1
        assert first["state"] == "FAULT" and not first["as_intended"], first
        tracker = next(t for t in first["trackers"] if t["name"] == "chk_haproxy")
        assert tracker["faults"] is True and tracker["ok"] is False, tracker
        assert tracker["weight"] == 0 and tracker["contribution"] is None, tracker
        assert "weight 0" in first["explanation"], first["explanation"]
    finally:
        lab.start_haproxy("n1")
    lab.wait_for_master("n1", 25)
    for node in PRIORITY:
        assert settled(lab, node).code == 0, node


def test_sync_group(lab: Lab) -> None:
    """examples/keepalived-sync-group.conf: VG_1 (VI_4, VI_6) MASTER on n1, BACKUP on n2;
    each member in the group's state and naming it."""
    lab.configure(variant="keepalived-sync-group.conf")
    for node, state in (("n1", "MASTER"), ("n2", "BACKUP")):
        answer = settled(lab, node)
        assert answer.code == 0, answer
        assert answer.doc["sync_groups"] == [
            {"name": "VG_1", "state": state, "members": ["VI_4", "VI_6"]}], answer.doc
        members = {i["name"]: (i["state"], i["sync_group"]) for i in answer.doc["instances"]}
        assert members == {"VI_4": (state, "VG_1"), "VI_6": (state, "VG_1")}, members


# -- the fast profile (examples/fast/): weight -20 on the watcher's track file -----------------

def _fast_killed(lab: Lab) -> None:
    """haproxy killed on n1: n1 BACKUP at 250 − 20 hearing n2's 249, the track file named,
    exit 1; n2 MASTER, exit 0. Recovered: both exit 0 again (no false NOT OK)."""
    high, low = PRIORITIES["fast"]["n1"], PRIORITIES["fast"]["n2"]
    for node in PRIORITY:
        assert settled(lab, node).code == 0, node
    lab.inject("n1", "killed")
    try:
        n1 = eventually(lambda: ask(lab, "n1"),
                        lambda a: state_of(a) == "BACKUP"
                        and instance(a)["priority"]["effective"] == high - 20, SETTLE,
                        interval=0.2)
        first = instance(n1)
        assert n1.code == 1, n1
        assert first["priority"] == {"base": high, "effective": high - 20}, first
        assert first["master"] == {"router": host("n2").v4, "priority": low}, first
        tracker = next(t for t in first["trackers"] if t["kind"] == "file")
        assert tracker["name"] == "haproxy_watch" and tracker["weight"] == -20, tracker
        assert tracker["ok"] is False and tracker["contribution"] == -20, tracker
        assert "haproxy_watch" in first["explanation"], first["explanation"]
        assert f"advertises {low} > our {high - 20} = {high}" in first["explanation"], first
        n2 = eventually(lambda: ask(lab, "n2"),
                        lambda a: a.code == 0 and state_of(a) == "MASTER", SETTLE, 0.2)
        assert n2.code == 0 and state_of(n2) == "MASTER", n2
    finally:
        lab.start_haproxy("n1")
    lab.wait_for_master("n1", 25)
    for node in PRIORITY:
        back = settled(lab, node)
        assert back.code == 0, back


def test_fast_profile_killed_haproxy_lowers_the_priority(lab: Lab) -> None:
    lab.configure(variant="keepalived.conf", profile="fast", check="watch")
    _fast_killed(lab)


# -- keepalived 2.3.x (a Debian root, under chroot in each node) ----------------------------------

@pytest.fixture
def root_23() -> str:
    try:
        return str(debian_root.root(SUITE_23))
    except debian_root.RootUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run {SUITE_23}'s keepalived, but its root is unavailable: "
                        f"{exc}")
        pytest.skip(f"no Debian {SUITE_23} root: {exc}")


def test_keepalived_23_healthy_pair(lab: Lab, root_23: str) -> None:
    """keepalived 2.3 (fast profile, chrooted, its /tmp private to the root): n1 MASTER
    250, n2 BACKUP hearing 250 > 249; both exit 0; dumps read through /proc/PID/root."""
    lab.configure(variant="keepalived.conf", profile="fast", check="watch",
                  keepalived_root=root_23)
    high, low = PRIORITIES["fast"]["n1"], PRIORITIES["fast"]["n2"]
    log = (lab.workdir / "n1" / "keepalived.log").read_text()
    assert re.search(r"Starting Keepalived v2\.3\.", log), log[-500:]
    n1, n2 = settled(lab, "n1"), settled(lab, "n2")
    assert n1.code == 0 and state_of(n1) == "MASTER", n1
    assert instance(n1)["priority"] == {"base": high, "effective": high}
    assert n2.code == 0 and state_of(n2) == "BACKUP", n2
    assert instance(n2)["master"] == {"router": host("n1").v4, "priority": high}
    assert instance(n2)["priority"]["effective"] == low
    assert n1.doc["keepalived"]["json_dump"] is not None, n1.doc


def test_keepalived_23_killed_haproxy_lowers_the_priority(lab: Lab, root_23: str) -> None:
    lab.configure(variant="keepalived.conf", profile="fast", check="watch",
                  keepalived_root=root_23)
    _fast_killed(lab)
