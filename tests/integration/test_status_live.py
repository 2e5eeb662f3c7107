"""`lbcheck status` against one real keepalived: where it writes its dumps, seen from outside.

keepalived 2.2.7 (the host's) and 2.3.x (the trixie / sid roots, chroot) each run in a network
namespace of their own (lbt-1) and a private mount namespace whose /tmp is a fresh tmpfs —
as systemd's PrivateTmp, a chroot or a container would have it — so `lbcheck status`, run in
the same network namespace but another mount namespace, only finds the dump by reading it
where keepalived wrote it (/proc/PID/root). Each case moves the dump another way keepalived
allows: the default path, TMPDIR, ``instance`` + ``data_use_instance``, and (2.3 on)
``state_dump_file``. The pair, the faults and the routine day are tests/e2e/test_status.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN
from tests.support import debian_root
from tests.support.waiting import eventually

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("keepalived") is None,
                                reason="needs root and keepalived (bin/setup installs it)")

NETNS = "lbt-1"
CONFIG = """\
{top}
global_defs {{
    router_id lbt-node
    script_user root
    enable_script_security
{globals}
}}
vrrp_script chk_ok {{
    script "/usr/bin/true"
    interval 1
    weight 0
}}
vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 61
    priority 200
    advert_int 1
    virtual_ipaddress {{
        192.0.2.61/24
    }}
    virtual_ipaddress_excluded {{
        2001:db8::61/64
    }}
    track_script {{
        chk_ok
    }}
}}
"""
# name → (root-level lines, global_defs lines, environment, where the .data dump lands, the
# oldest keepalived that knows it)
CASES = {
    "default": ("", "", {}, "/tmp/keepalived.data", "2.2"),
    "tmpdir": ("", "", {"TMPDIR": "/run/ka-tmp"}, "/run/ka-tmp/keepalived.data", "2.2"),
    "instance": ("instance lb1", "    data_use_instance", {}, "/tmp/keepalived.lb1.data",
                 "2.2"),
    "state_dump_file": ("", "    state_dump_file /run/ka-dumps/state.dump", {},
                        "/run/ka-dumps/state.dump", "2.3"),
}


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=check)


@contextlib.contextmanager
def namespace() -> Iterator[None]:
    run("ip", "netns", "del", NETNS, check=False)
    try:
        run("ip", "netns", "add", NETNS)
        for argv in (("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"),
                     ("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"),
                     ("ip", "addr", "add", "192.0.2.60/24", "dev", "eth0"),
                     ("ip", "link", "set", "eth0p", "up"), ("ip", "link", "set", "eth0", "up"),
                     ("ip", "link", "set", "lo", "up")):
            run("ip", "netns", "exec", NETNS, *argv)
        yield None
    finally:
        run("ip", "netns", "del", NETNS, check=False)


# Each keepalived meets one or two of the ways, each way one keepalived (~5 s a case).
MATRIX = [("default", "host"), ("tmpdir", "host"), ("instance", "trixie"),
          ("state_dump_file", "sid")]


def root_of(suite: str) -> Path | None:
    if suite == "host":
        return None
    try:
        return debian_root.root(suite)
    except debian_root.RootUnavailable as exc:
        pytest.skip(f"no {suite} root: {exc}")


def release(root: Path | None) -> str:
    binary = ["keepalived"] if root is None else ["chroot", str(root), "/usr/sbin/keepalived"]
    out = run(*binary, "--version", check=False)
    words = (out.stdout + out.stderr).split()
    return next((w[1:] for w in words if w.startswith("v2.")), "0")


@contextlib.contextmanager
def keepalived(root: Path | None, node: Path, config: str, env: dict[str, str]
               ) -> Iterator[Path]:
    """keepalived in lbt-1, in a mount namespace of its own with a fresh /tmp; yields the
    pidfile as seen from here."""
    for sub in ("run", "run/ka-tmp", "run/ka-dumps"):
        (node / sub).mkdir(parents=True, exist_ok=True)
    (node / "run" / "keepalived.conf").write_text(config)
    target = "" if root is None else str(root)
    mounts = ["mount --make-rprivate /", f"mount --bind {node}/run {target}/run",
              f"mount -t tmpfs tmpfs {target}/tmp"]  # after: node/ itself is under /tmp
    if root is not None:
        mounts.append(f"mount -t proc proc {target}/proc")
    binary = "keepalived" if root is None else f"chroot {root} /usr/sbin/keepalived"
    script = " && ".join(mounts) + f" && exec {binary} --dont-fork --log-console --vrrp " \
        "-f /run/keepalived.conf -p /run/keepalived.pid"
    log = open(node / "keepalived.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(["ip", "netns", "exec", NETNS, "unshare", "--mount", "sh", "-c",
                                script], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, **env})
    pidfile = node / "run" / "keepalived.pid"
    try:
        yield pidfile
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def status(pidfile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`lbcheck status` in lbt-1 (its own mount namespace: not keepalived's)."""
    return run("ip", "netns", "exec", NETNS, str(BIN / "lbcheck"), "status", "--pidfile",
               str(pidfile), *args, check=False)


@pytest.mark.parametrize(("case", "suite"), MATRIX)
def test_status_finds_the_dump_where_keepalived_wrote_it(suite: str, case: str,
                                                         tmp_path: Path) -> None:
    root = root_of(suite)
    top, globals_, env, where, since = CASES[case]
    version = release(root)
    if tuple(int(p) for p in version.split(".")[:2]) < tuple(int(p) for p in since.split(".")):
        pytest.skip(f"keepalived {version} has no {case}")
    config = CONFIG.format(top=top, globals=globals_)
    with namespace(), keepalived(root, tmp_path, config, env) as pidfile:

        def asked() -> subprocess.CompletedProcess[str]:
            return status(pidfile, "--json")

        def master(result: subprocess.CompletedProcess[str]) -> bool:
            return result.returncode == 0 and '"state": "MASTER"' in result.stdout

        result = eventually(asked, master, timeout=15.0, interval=0.3)
        assert result.returncode == 0, (result.stdout, result.stderr,
                                        (tmp_path / "keepalived.log").read_text()[-2000:])
        document = json.loads(result.stdout)
        assert document["keepalived"]["data_dump"] == where
        [instance] = document["instances"]
        assert (instance["name"], instance["state"], instance["priority"]) == (
            "VI_1", "MASTER", {"base": 200, "effective": 200})
        assert [(v["address"], v["here"]) for v in instance["vips"]] == [
            ("192.0.2.61/24", True), ("2001:db8::61/64", True)]
        assert [(t["name"], t["ok"], t["weight"]) for t in instance["trackers"]] == [
            ("chk_ok", True, 0)]
        # The dump read is the file keepalived wrote in its own /tmp or /run, not ours.
        pid = document["keepalived"]["pid"]
        theirs = os.stat(f"/proc/{pid}/root{where}")
        assert not Path(where).exists() or os.stat(where).st_ino != theirs.st_ino
        text = status(pidfile)
        assert text.returncode == 0
        assert "VI_1 MASTER for " in text.stdout and ": our 200 = 200" in text.stdout
        metrics = tmp_path / "status.prom"
        written = status(pidfile, "--textfile", str(metrics))
        assert (written.returncode, written.stdout) == (0, "")
        body = metrics.read_text()
        assert 'lbcheck_keepalived_effective_priority{instance="VI_1"} 200.0' in body
        assert 'lbcheck_keepalived_vrrp_state{instance="VI_1",state="MASTER"} 1.0' in body


def test_a_stopped_keepalived_is_exit_3_and_one_line(tmp_path: Path) -> None:
    with namespace():
        with keepalived(None, tmp_path, CONFIG.format(top="", globals=""), {}) as pidfile:
            eventually(lambda: pidfile.exists(), bool, timeout=10.0, interval=0.1)
        result = status(pidfile)
        assert result.returncode == 3
        assert result.stdout == ""
        assert result.stderr.startswith("lbcheck status: cannot ask keepalived: ")
        assert len(result.stderr.splitlines()) == 1
        as_json = json.loads(status(pidfile, "--json").stdout)
        assert as_json["ok"] is False and "error" in as_json
        metrics = tmp_path / "status.prom"
        assert status(pidfile, "--textfile", str(metrics)).returncode == 3
        assert "lbcheck_keepalived_up 0.0" in metrics.read_text()
