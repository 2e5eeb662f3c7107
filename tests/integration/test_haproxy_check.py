"""`lbcheck haproxy` against a real haproxy: healthy, killed, hung, zombie, worker-less.

The tests marked MATRIX run against every haproxy of the version matrix (the host's 2.6 and
Debian trixie's and sid's packages under chroot); rendering and logging tests, which do not
depend on what haproxy answers, run once on the host's.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import BIN
from tests.integration.conftest import MATRIX, Checker, HaproxyVersion
from tests.support.haproxy import Haproxy, free_port
from tests.support.waiting import eventually


def args(proxy: Haproxy, *extra: str) -> list[str]:
    return ["haproxy", "--socket", proxy.socket, "--pidfile", proxy.pidfile, *extra]


def verdict(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout)


def comm(pid: int) -> str:
    """The process's name, "" once /proc has no such process."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def proc_state(pid: int) -> str:
    """The state letter of /proc/PID/stat (Z: a zombie), "" once there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def kill(proxy: Haproxy) -> None:
    """SIGKILL a standalone haproxy and reap it, leaving a chroot's workdir mounted for reuse."""
    proxy.signal(signal.SIGKILL)
    proxy.process.wait(timeout=5)  # type: ignore[union-attr]


@MATRIX
def test_healthy_haproxy_exits_0_and_prints_nothing(haproxy: Haproxy, check: Checker) -> None:
    """keepalived discards output: a healthy check is silent and exits 0."""
    result = check(*args(haproxy))
    assert (0, "", "") == (result.returncode, result.stdout, result.stderr)


@MATRIX
def test_killed_haproxy_is_unhealthy(haproxy: Haproxy, check: Checker) -> None:
    """A SIGKILLed haproxy leaves a stale pidfile and socket: exit 1, saying it is not running."""
    haproxy.signal(signal.SIGKILL)
    haproxy.process.wait(timeout=5)  # type: ignore[union-attr]
    result = check("--json", *args(haproxy))
    assert 1 == result.returncode
    assert "haproxy is not running" in verdict(result)["reason"]


@MATRIX
def test_hung_haproxy_fails_fast(haproxy: Haproxy, check: Checker) -> None:
    """A SIGSTOPped haproxy passes `killall -0` forever; lbcheck fails it within the deadline."""
    haproxy.signal(signal.SIGSTOP)
    result, took = check.timed("--json", "--deadline", "0.8", *args(haproxy))
    assert 1 == result.returncode
    assert "SIGSTOP" in verdict(result)["reason"]
    assert took < 0.8 + 0.2 + 0.5  # deadline + 0.2 s, plus interpreter start on a busy box
    assert verdict(result)["elapsed_ms"] < 800


@MATRIX
def test_zombie_haproxy_is_not_running(tmp_path: Path, haproxy: Haproxy, check: Checker) -> None:
    """A dead haproxy whose parent never reaps it stays a zombie: `killall -0` passes, we fail."""
    parent = subprocess.Popen(
        [sys.executable, "-c",
         ("import subprocess, sys, time\n"
         f"p = subprocess.Popen({haproxy.argv()!r})\n"  # the same haproxy, chroot or not
         "print(p.pid, flush=True)\n"
         "time.sleep(30)\n")],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        kill(haproxy)  # free the ports/socket for the child haproxy
        zombie = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert "haproxy" == eventually(lambda: comm(zombie), lambda c: c == "haproxy", 5)
        subprocess.run(["kill", "-9", str(zombie)], check=True)
        assert "Z" == eventually(lambda: proc_state(zombie), lambda s: s == "Z", 5)
        # what killall sees
        assert 0 == subprocess.run(["kill", "-0", str(zombie)], check=False).returncode
        Path(haproxy.pidfile).write_text(f"{zombie}\n")
        result = check("--json", *args(haproxy))
        assert 1 == result.returncode
        assert "zombie" in verdict(result)["reason"]
    finally:
        parent.kill()
        parent.wait(timeout=5)


@MATRIX
def test_zombie_found_by_name_in_own_pid_namespace(tmp_path: Path, haproxy: Haproxy) -> None:
    """Without a pidfile, a by-name scan of /proc still tells a zombie from a live haproxy."""
    script = tmp_path / "zombie.py"
    script.write_text(
        "import subprocess, time, os, signal\n"
        "def until(done):  # a bounded wait for a condition, never a fixed moment\n"
        "    end = time.monotonic() + 5\n"
        "    while not done() and time.monotonic() < end:\n"
        "        time.sleep(0.02)\n"
        f"p = subprocess.Popen({haproxy.argv()!r})\n"
        "until(lambda: open(f'/proc/{p.pid}/comm').read().strip() == 'haproxy')\n"
        f"ok = subprocess.run([{str(BIN / 'lbcheck')!r}, 'process'], check=False).returncode\n"
        "os.kill(p.pid, signal.SIGKILL)\n"
        "until(lambda: open(f'/proc/{p.pid}/stat').read().rpartition(')')[2].split()[0] == 'Z')\n"
        f"dead = subprocess.run([{str(BIN / 'lbcheck')!r}, '-v', 'process'],"
        " check=False).returncode\n"
        "print(ok, dead)\n"
    )
    kill(haproxy)
    result = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(script)],
        capture_output=True, text=True, timeout=20,
        env={"LBCHECK_STATE_DIR": str(tmp_path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        check=False)
    assert "0 1" == result.stdout.strip().splitlines()[-1], result.stdout + result.stderr
    assert "zombie" in result.stdout


@MATRIX
def test_master_with_hung_worker_is_unhealthy(haproxy_mw: Haproxy, check: Checker) -> None:
    """A live master whose only worker is stopped serves nothing: exit 1, naming the worker."""
    assert 0 == check(*args(haproxy_mw, "--master-socket", haproxy_mw.master_socket)).returncode
    workers = haproxy_mw.workers()
    for worker in workers:
        haproxy_mw.signal(signal.SIGSTOP, worker)
    result = check("--json", *args(haproxy_mw))
    assert 1 == result.returncode
    assert f"master {haproxy_mw.pid} has no live worker ({workers[0]} T)" == (
        verdict(result)["reason"].removeprefix("process: "))


@MATRIX
def test_master_whose_worker_died_is_unhealthy(haproxy_mw: Haproxy, check: Checker) -> None:
    """haproxy 2.6, 3.0 and 3.2 end the master with its last worker (even with
    no-exit-on-failure, measured); left unreaped it is a zombie that `kill -0` accepts.
    lbcheck says not running."""
    for worker in haproxy_mw.workers():
        haproxy_mw.signal(signal.SIGKILL, worker)
    # The master ends a moment after its last worker: ask until it has (bounded).
    result = eventually(lambda: check("--json", "process", "--pidfile", haproxy_mw.pidfile),
                        lambda r: r.returncode != 0, 5)
    assert 1 == result.returncode
    assert "zombie" in verdict(result)["reason"] or "not running" in verdict(result)["reason"]


@MATRIX
def test_master_cli_reports_workers(haproxy_mw: Haproxy, check: Checker) -> None:
    """With --master-socket the master's own `show proc` is consulted too."""
    result = check("--json", *args(haproxy_mw, "--master-socket", haproxy_mw.master_socket))
    probes = {p["name"]: p for p in verdict(result)["probes"]}
    assert (0, "OK") == (result.returncode, probes["master"]["state"])
    assert 1.0 == probes["master"]["metrics"]["workers"]


@MATRIX
def test_failed_reload_is_a_warning_not_a_failover(haproxy_mw: Haproxy, check: Checker) -> None:
    """A broken config on reload leaves the old worker serving: WARN, exit 0."""
    good = haproxy_mw.config.read_text()
    haproxy_mw.config.write_text(good + "\nthis is not haproxy syntax\n")
    reply = ""
    for _ in range(10):  # a USR2 that lands while the master starts up is lost: resend
        haproxy_mw.signal(signal.SIGUSR2)
        for _ in range(10):
            time.sleep(0.1)
            reply = haproxy_mw.query("show proc;quit", haproxy_mw.master_socket)
            if "failed: 1" in reply:
                break
        if "failed: 1" in reply:
            break
    result = check("--json", *args(haproxy_mw, "--master-socket", haproxy_mw.master_socket))
    probes = {p["name"]: p for p in verdict(result)["probes"]}
    assert 0 == result.returncode, result.stdout
    assert "WARN" == probes["master"]["state"], reply
    assert "reload(s) failed" in probes["master"]["reason"]


@MATRIX
def test_backends_in_maintenance(haproxy: Haproxy, check: Checker) -> None:
    """MAINT servers do not serve; the backup counts once no active server is left."""
    assert 0 == check(*args(haproxy, "--backend", "app:2")).returncode
    haproxy.query("disable server app/web1")
    short = check("--json", *args(haproxy, "--backend", "app:2"))
    assert 1 == short.returncode
    assert "app: 1/2 UP, need 2" in verdict(short)["reason"]
    haproxy.query("disable server app/web2")
    on_backup = check("-v", *args(haproxy, "--backend", "app"))
    assert 0 == on_backup.returncode
    assert "no active server left: counting 1 backup(s)" in on_backup.stdout
    haproxy.query("disable server app/spare1")
    assert 1 == check(*args(haproxy, "--backend", "app:50%")).returncode


@MATRIX
def test_unknown_backend_cannot_be_judged(haproxy: Haproxy, check: Checker) -> None:
    """A --backend the config does not have means check and config disagree: exit 3."""
    result = check("--json", *args(haproxy, "--backend", "nosuch"))
    assert (3, "backends: backend nosuch not found in haproxy") == (
        result.returncode, verdict(result)["reason"])


def test_verbose_table_shows_probes_times_and_thresholds(haproxy: Haproxy, check: Checker) -> None:
    """The human view: verdict line, a row per probe with its time, then the thresholds."""
    out = check("--verbose", *args(haproxy, "--backend", "app:50%")).stdout
    assert out.startswith("lbcheck haproxy: OK (exit 0)")
    for needle in ("process", "socket", "backends", " ms ", "app ≥ 50% UP", "deadline"):
        assert needle in out


def test_nagios_output_and_codes(haproxy: Haproxy, check: Checker) -> None:
    """--nagios follows the plugin convention: one line with perfdata, CRITICAL is 2."""
    healthy = check("--nagios", *args(haproxy, "--backend", "app"))
    assert 0 == healthy.returncode
    assert healthy.stdout.startswith("HAPROXY OK - ") and "| process_time=" in healthy.stdout
    haproxy.signal(signal.SIGSTOP)
    assert 2 == check("--nagios", *args(haproxy)).returncode


def test_transitions_are_logged_once(haproxy: Haproxy, check: Checker) -> None:
    """Three healthy runs and two failing ones log exactly two transitions, with reasons."""
    for _ in range(3):
        check(*args(haproxy))
    haproxy.signal(signal.SIGSTOP)
    for _ in range(2):
        check(*args(haproxy))
    lines = [json.loads(line) for line in check.log_file.read_text().splitlines()]
    assert [(None, "OK"), ("OK", "CRITICAL")] == [(e["previous"], e["state"]) for e in lines]
    assert "SIGSTOP" in lines[1]["reason"] and "process" in lines[1]["probes"]


@MATRIX
def test_a_backend_sharing_its_name_with_a_frontend_is_judged(
        tmp_path: Path, haproxy_version: HaproxyVersion, check: Checker) -> None:
    """`frontend dup` declared before `backend dup`: `show stat dup 6 -1` picks the frontend and
    lists no backend row (seen on 2.6). The check still finds and judges backend dup."""
    proxy = Haproxy(tmp_path, [9], root=haproxy_version.root)
    proxy.config.write_text(proxy.config.read_text() + (
        f"frontend dup\n    bind 127.0.0.1:{free_port()}\n    default_backend dup\n"
        "backend dup\n    server d1 127.0.0.1:9\n    server d2 127.0.0.1:9 disabled\n"))
    try:
        proxy.start()
        result = check("--json", *args(proxy, "--backend", "dup:2"))
    finally:
        proxy.stop()
    probes = {p["name"]: p for p in verdict(result)["probes"]}
    assert (1, "CRITICAL") == (result.returncode, probes["backends"]["state"]), result.stdout
    assert "dup: 1/2 UP, need 2" == probes["backends"]["reason"]
