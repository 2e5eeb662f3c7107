"""Issue 17, process discovery: what another local user (``nobody``) can plant is not believed.

Each attack runs as the hostile user for real: a python process that renames itself (writes
/proc/self/comm) to ``haproxy`` or ``keepalived``, a listener answering `show info`. Where a
real haproxy or keepalived on this box would hide the point (a by-name scan finds both), the
attack runs in its own PID namespace (``unshare --pid --fork --kill-child --mount-proc``: its
every process dies with it) and, for `lbnotify release`, its own network namespace.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, REPO
from tests.integration.conftest import Checker
from tests.support.haproxy import Haproxy, free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as nobody")

PYTHON = "/usr/bin/python3"  # root-owned, in root-owned directories: only the owner differs
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
AS_HAPROXY = ["setpriv", "--reuid=haproxy", "--regid=haproxy", "--clear-groups"]
# argv[1] is the name to take; with argv[2] a port, it also answers `show info` there.
RENAMED = """
import socket, sys, time
open('/proc/self/comm', 'w').write(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2].isdigit():
    server = socket.create_server(('127.0.0.1', int(sys.argv[2])))
    print('ready', flush=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b'Name: HAProxy\\nPid: 1\\nStopping: 0\\nIdle_pct: 100\\n\\n')
        conn.close()
print('ready', flush=True)
time.sleep(60)
"""
MAX_RSS_KB = 80_000  # a check is ~25 MB; reading /dev/zero would be gigabytes


def renamed(name: str, *args: str, user: list[str] = AS_NOBODY) -> list[str]:
    """argv of a process that calls itself ``name`` (as ``user``), prints `ready`, sleeps."""
    return [*user, PYTHON, "-c", RENAMED, name, *args]


# Runs as PID 1 of a fresh PID namespace: starts the planted processes, waits until each
# says `ready`, runs the command under /usr/bin/time and a 1 GiB address-space cap (the old
# unbounded reads fail fast instead of eating the box), prints one JSON line.
DRIVER = """
import json, subprocess, sys
plants, command = json.loads(sys.argv[1])
started = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for argv in plants]
for process in started:
    assert process.stdout.readline().strip() == 'ready'
result = subprocess.run(['/usr/bin/time', '-f', 'maxrss=%M', 'prlimit', '--as=1073741824',
                         *command], capture_output=True, text=True, timeout=20)
rss = [l for l in result.stderr.splitlines() if l.startswith('maxrss=')]
print(json.dumps({'code': result.returncode, 'out': result.stdout,
                  'err': '\\n'.join(l for l in result.stderr.splitlines()
                                   if not l.startswith(('maxrss=', 'Command exited'))),
                  'rss': int(rss[-1].split('=')[1]) if rss else None,
                  'pids': [p.pid for p in started]}))
"""


def in_pid_namespace(plants: list[list[str]], command: list[str], env: dict[str, str],
                     netns: str | None = None) -> dict:
    """``command`` with only ``plants`` (and no haproxy or keepalived) in sight."""
    argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
            sys.executable, "-c", DRIVER, json.dumps([plants, command])]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=40, env=env,
                            cwd="/", check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def lbcheck(*args: str) -> list[str]:
    return [str(BIN / "lbcheck"), *args]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory nobody can reach (pytest's tmp_path sits under root's 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="lbcheck-hostile-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_nobody_haproxy_with_f_dev_zero_is_neither_believed_nor_read(check: Checker) -> None:
    """Issue 17 §1: `nobody`'s process renamed haproxy with `-f /dev/zero` used to be
    trusted and its config read as root without bound (24 GB; the watcher OOM-killed). Now
    it is ignored, by name in the reason, and the check stays small and fast."""
    started = time.monotonic()
    found = in_pid_namespace([renamed("haproxy", "-f", "/dev/zero")],
                             lbcheck("--json", "process"), check.env)
    assert 1 == found["code"], found
    reason = json.loads(found["out"])["reason"]
    assert "no process named haproxy is running" in reason
    assert f"ignored: pid {found['pids'][0]} (owned by uid 65534" in reason
    assert found["rss"] is not None and found["rss"] < MAX_RSS_KB, found
    assert time.monotonic() - started < 15


def test_the_watcher_does_not_believe_a_nobody_haproxy(check: Checker, tmp_path: Path) -> None:
    """The watcher (64 MB MemoryMax in its unit) runs the same probes: the fake leaves the
    track file failed (1), the failover keepalived must make, at a bounded size."""
    track = tmp_path / "haproxy.track"
    found = in_pid_namespace(
        [renamed("haproxy", "-f", "/dev/zero")],
        lbcheck("watch", "--track-file", str(track), "--once", "haproxy",
                "--socket", str(tmp_path / "admin.sock")), check.env)
    assert (1, "1") == (found["code"], track.read_text().strip()), found
    assert found["rss"] is not None and found["rss"] < MAX_RSS_KB, found


@pytest.mark.parametrize("user", ["nobody", "root-in-nobody-dir"])
def test_a_copy_of_sleep_named_haproxy_is_not_haproxy(check: Checker, open_dir: Path,
                                                      user: str) -> None:
    """A copy of /bin/sleep at DIR/haproxy: run by nobody (owner), or even by root from a
    directory nobody owns (the executable rule: root's binary in root's directories)."""
    place = open_dir / "bin"
    place.mkdir()
    fake = place / "haproxy"
    shutil.copy("/bin/sleep", fake)
    os.chown(place, 65534, 65534)
    if user == "nobody":
        os.chown(fake, 65534, 65534)
    argv = [str(fake), "60"] if user != "nobody" else [*AS_NOBODY, str(fake), "60"]
    # sleep says nothing: `ready` comes from a shell that starts it in the background.
    plant = ["sh", "-c", f'{" ".join(argv)} & echo ready; wait']
    found = in_pid_namespace([plant], lbcheck("--json", "process"), check.env)
    reason = json.loads(found["out"])["reason"]
    assert 1 == found["code"], found
    expected = "owned by uid 65534" if user == "nobody" else f"directory {place} is owned by uid"
    assert expected in reason, reason


def test_a_root_process_named_haproxy_is_still_believed(check: Checker) -> None:
    """The control: root's process with a root-owned executable is believed (by name), so
    the rule refuses the planted one above for its owner, not for being a python."""
    found = in_pid_namespace([renamed("haproxy", user=[])], lbcheck("--json", "process"),
                             check.env)
    assert 0 == found["code"], found
    assert f"running (pid {found['pids'][0]}; found by name haproxy)" in json.loads(
        found["out"])["reason"]


def test_pidfile_dev_zero_is_one_line_and_bounded(check: Checker) -> None:
    """Issue 17 §1: `lbcheck process --pidfile /dev/zero` grew to 24 GB. Now one line."""
    result = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", "prlimit", "--as=1073741824",
                             *lbcheck("--json", "process", "--pidfile", "/dev/zero")],
                            capture_output=True, text=True, timeout=20, env=check.env,
                            check=False)
    assert 3 == result.returncode, result.stderr
    assert "pidfile /dev/zero is not a regular file" in json.loads(result.stdout)["reason"]
    rss = int(result.stderr.rpartition("maxrss=")[2])
    assert rss < MAX_RSS_KB


def test_a_pidfile_nobody_wrote_is_not_believed(check: Checker, open_dir: Path) -> None:
    """A pidfile in a sticky world-writable directory, written by nobody, naming a live root
    process (this test): UNKNOWN saying whose it is, not `running`."""
    shared = open_dir / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    pidfile = shared / "haproxy.pid"
    subprocess.run([*AS_NOBODY, "sh", "-c", f"echo {os.getpid()} > {pidfile}"], check=True,
                   timeout=10)
    result = check("--json", "process", "--pidfile", str(pidfile))
    assert 3 == result.returncode, result.stdout + result.stderr
    assert f"pidfile {pidfile} is owned by uid 65534" in json.loads(result.stdout)["reason"]


def test_a_pidfile_in_a_directory_others_may_write_is_not_believed(check: Checker,
                                                                   tmp_path: Path) -> None:
    """Root's own pidfile, but in a directory everyone may write (not sticky): anyone could
    have swapped it. One UNKNOWN line naming the directory."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    pidfile = shared / "haproxy.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    result = check("--json", "process", "--pidfile", str(pidfile))
    assert 3 == result.returncode
    assert f"directory {shared} is writable by everyone" in json.loads(result.stdout)["reason"]


def _fake_info_server(user: list[str], port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen([*user, PYTHON, "-c", RENAMED, "fakeinfo", str(port)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert server.stdout is not None
    assert "ready" == server.stdout.readline().strip()
    return server


@pytest.mark.parametrize(("user", "code"), [("nobody", 3), ("haproxy", 0), ("root", 0)])
def test_a_tcp_stats_listener_of_another_user_is_refused(check: Checker, user: str,
                                                         code: int) -> None:
    """Issue 17 §1: nobody's TCP listener answering `Name:`/`Pid:` made the socket probe say
    OK. The LISTEN socket's owner (/proc/net/tcp) must be root or haproxy."""
    port = free_port()
    who = {"nobody": AS_NOBODY, "haproxy": AS_HAPROXY, "root": []}[user]
    server = _fake_info_server(who, port)
    try:
        result = check("--json", "socket", "--socket", f"127.0.0.1:{port}")
    finally:
        server.kill()
        server.wait(timeout=5)
    assert code == result.returncode, result.stdout + result.stderr
    if code:
        assert (f"127.0.0.1:{port} is listened on by uid 65534, not root or haproxy"
                in json.loads(result.stdout)["reason"])


def test_a_unix_stats_socket_of_another_user_is_refused(check: Checker, open_dir: Path) -> None:
    """The same for a UNIX socket path: the listener's SO_PEERCRED uid decides."""
    place = open_dir / "nobody"
    place.mkdir()
    os.chown(place, 65534, 65534)
    path = place / "admin.sock"
    serve = ("import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\n"
             "print('ready', flush=True)\n"
             "c, _ = s.accept(); c.recv(64)\n"
             "c.sendall(b'Name: HAProxy\\nPid: 1\\nStopping: 0\\n\\n')\n")
    server = subprocess.Popen([*AS_NOBODY, PYTHON, "-c", serve, str(path)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert server.stdout is not None and "ready" == server.stdout.readline().strip()
        result = check("--json", "socket", "--socket", str(path))
    finally:
        server.kill()
        server.wait(timeout=5)
    assert 3 == result.returncode, result.stdout
    assert "served by uid 65534" in json.loads(result.stdout)["reason"]


def test_a_fake_haproxy_with_a_fake_tcp_stats_endpoint_is_not_ok(check: Checker) -> None:
    """The whole issue-17 scenario in a PID namespace without haproxy: nobody's process named
    haproxy that also answers `show info` on the TCP stats address. `lbcheck haproxy` used to
    say OK; now the process probe fails (and the socket probe would refuse it)."""
    port = free_port()
    found = in_pid_namespace([renamed("haproxy", str(port))],
                             lbcheck("--json", "haproxy", "--socket", f"127.0.0.1:{port}"),
                             check.env)
    assert 1 == found["code"], found
    assert "owned by uid 65534" in json.loads(found["out"])["reason"]


def test_haproxy_workers_dropped_to_the_haproxy_user_are_believed(
        tmp_path: Path, web, check: Checker) -> None:
    """Debian's haproxy: master root, workers `haproxy` (`user haproxy` in global). Workers
    are believed as the believed master's children; the check is healthy by pidfile."""
    proxy = Haproxy(tmp_path, web.ports[:2], master_worker=True)
    config = proxy.config.read_text().replace("global\n", "global\n    user haproxy\n"
                                              "    group haproxy\n", 1)
    proxy.config.write_text(config)
    tmp_path.chmod(0o755)
    try:
        proxy.start()
        workers = proxy.workers()
        haproxy_uid = pwd.getpwnam("haproxy").pw_uid
        assert workers and all(_uid(w) == haproxy_uid for w in workers), workers
        result = check("--json", "haproxy", "--socket", proxy.socket,
                       "--pidfile", proxy.pidfile, "--master-socket", proxy.master_socket)
        assert 0 == result.returncode, result.stdout + result.stderr
        verdict = json.loads(result.stdout)
        process = next(p for p in verdict["probes"] if p["name"] == "process")
        assert f"master {proxy.pid} with worker(s) {workers[0]}" in process["reason"]
    finally:
        proxy.stop()


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


# --- lbnotify release ----------------------------------------------------------------------

def test_keepalived_detection_ignores_a_nobody_keepalived(check: Checker) -> None:
    """Issue 17 §2, the detection itself: nobody's process named keepalived is not a
    keepalived; root's (a root-owned python renamed so) still is, as a real one would be."""
    probe = [sys.executable, "-c",
             "from lbcheck.notify.release import keepalived_running as k; print(k())"]
    alone = in_pid_namespace([renamed("keepalived")], probe, check.env)
    assert "[]" == alone["out"].strip(), alone
    both = in_pid_namespace([renamed("keepalived"), renamed("keepalived", user=[])], probe,
                            check.env)
    assert f"[{both['pids'][1]}]" == both["out"].strip(), both


# --- lbcheck status ---------------------------------------------------------------------------

def test_status_neither_believes_nor_signals_a_nobody_keepalived(check: Checker) -> None:
    """Issue 20: a root tool that signals "keepalived" must not be pointed at another user's
    process — nor believe what it would write."""
    found = in_pid_namespace([renamed("keepalived")], lbcheck("status"), check.env)
    assert (found["code"], found["out"]) == (3, "")
    assert found["err"] == "lbcheck status: cannot ask keepalived: keepalived is not running"


def test_status_never_sends_a_signal_that_would_end_keepalived(check: Checker) -> None:
    """A keepalived still starting has not set up its signal handling yet: SIGUSR1's default
    action would end it. Root's process named keepalived that neither blocks nor catches it
    is not asked, and so survives; the answer is one line, exit 3."""
    survives = ("import subprocess, sys, os; r = subprocess.run(sys.argv[1:]); "
                "print(r.returncode, sorted(os.listdir('/proc')).count('2'))")
    config = str(REPO / "examples" / "keepalived.conf")
    probe = [sys.executable, "-c", survives,
             *lbcheck("status", "--keepalived-config", config)]
    found = in_pid_namespace([renamed("keepalived", user=[])], probe, check.env)
    assert "does not handle signal 10 (yet): not asked" in found["err"], found
    assert found["out"].split() == ["3", "1"], found  # exit 3, and pid 2 (the plant) lives


@pytest.mark.parametrize("pidfile", ["/dev/zero", "/proc/self/status"])
def test_status_with_a_pidfile_that_is_not_one_is_one_line(check: Checker,
                                                           pidfile: str) -> None:
    found = in_pid_namespace([], lbcheck("status", "--pidfile", pidfile), check.env)
    assert found["code"] == 3 and len(found["err"].splitlines()) == 1, found
    assert "not a pidfile" in found["err"] or "not a running keepalived" in found["err"]


@pytest.fixture
def vip_lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A network namespace holding examples/fast/keepalived-lb1.conf's VIPs on eth0 (a veth,
    as no dummy module may be loaded), and an lbnotify config pointing at that keepalived.conf;
    the namespace (and the veth pair in it) goes even on failure."""
    namespace = f"lbrel-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=10)
    try:
        for argv in (["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
                     ["addr", "add", "192.0.2.10/24", "dev", "eth0"],
                     ["addr", "add", "2001:db8:1::10/64", "dev", "eth0", "nodad"],
                     ["link", "set", "eth0", "up"]):
            subprocess.run(["ip", "-n", namespace, *argv], check=True, timeout=10)
        config = tmp_path / "lbnotify.toml"
        keepalived = REPO / "examples" / "fast" / "keepalived-lb1.conf"
        config.write_text(f'[keepalived]\nconfig = "{keepalived}"\n'
                          f'[log]\ntarget = "{tmp_path / "lbnotify.jsonl"}"\n'
                          f'[notify]\nstate_dir = "{tmp_path / "notify"}"\n')
        config.chmod(0o600)
        yield namespace, config
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10,
                       check=False)


def test_a_nobody_keepalived_does_not_block_release(vip_lab: tuple[str, Path],
                                                    check: Checker) -> None:
    """Issue 17 §2: `lbnotify release` (ExecStopPost) refused with "keepalived is running
    (pid 4)" for nobody's renamed process, and the dead keepalived's VIPs stayed."""
    namespace, config = vip_lab
    found = in_pid_namespace([renamed("keepalived")],
                             [str(BIN / "lbnotify"), "--config", str(config), "release"],
                             check.env, netns=namespace)
    assert 0 == found["code"], found
    assert {"released 192.0.2.10/24 dev eth0", "released 2001:db8:1::10/64 dev eth0"} == set(
        found["out"].splitlines())
    held = subprocess.run(["ip", "-n", namespace, "-o", "addr", "show", "dev", "eth0"],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    assert "192.0.2.10" not in held and "2001:db8:1::10" not in held


def test_release_still_waits_for_a_root_keepalived(vip_lab: tuple[str, Path],
                                                   check: Checker) -> None:
    """The control: a keepalived root runs still owns its addresses; nothing is released."""
    namespace, config = vip_lab
    found = in_pid_namespace([renamed("keepalived", user=[])],
                             [str(BIN / "lbnotify"), "--config", str(config), "release"],
                             check.env, netns=namespace)
    assert 1 == found["code"], found
    assert f"keepalived is running (pid {found['pids'][0]}): not releasing" in found["err"]


def test_stats_socket_probe_still_answers_for_a_real_haproxy(haproxy: Haproxy,
                                                             check: Checker) -> None:
    """Owner checks cost nothing on the real thing: root's haproxy socket is believed."""
    result = check("socket", "--socket", haproxy.socket)
    assert (0, "") == (result.returncode, result.stderr)
