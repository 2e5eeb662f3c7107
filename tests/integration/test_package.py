"""The .deb, not the venv: `bin/package` builds it once per session, `apt-get install ./…deb`
puts it into fresh Debian bookworm and trixie root filesystems, and there it runs with
Debian's own python3 and python3-* packages: --help, a check of a haproxy started in that
root, lint on the article's first config, lbnotify paging through Debian's requests.

Each suite gets a throw-away copy of a cached debootstrap root (tests/support/debian_root.py:
minbase + haproxy + keepalived), with /proc mounted (and no /dev/pts, as in containers). The copies
are unmounted and deleted, and every process left in them killed, whatever happens. Without
root or network the tests skip, saying why; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import REPO
from tests.receiver import Receiver, running
from tests.support import debian_root
from tests.support.haproxy import Haproxy
from tests.support.notify import ROUTING_KEY

SUITES = ("bookworm", "trixie")
ARTICLE = REPO.parent / "shared" / "corpus" / "seed" / "1-mixed-families.conf"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8",
              "DEBIAN_FRONTEND": "noninteractive"}
APT_TIMEOUT = 600.0  # a hung mirror, not a slow one
LIBRARIES = ("python3", "python3-click", "python3-requests", "python3-structlog", "python3-sh",
             "python3-prometheus-client")


class Unavailable(Exception):
    """What the test needs is missing here (not root, no network): skip, or fail in CI."""


class Box(NamedTuple):
    suite: str
    root: Path  # the throw-away copy, lbcheck installed in it
    versions: dict[str, str]  # Debian package → installed version


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must prove the package: {why}")
    pytest.skip(why)


def chroot(root: Path, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside ``root`` with a plain Debian environment (no venv, no PYTHONPATH)."""
    return subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True,
                          timeout=timeout, env=CHROOT_ENV, check=False, cwd="/")


def build_deb(outdir: Path) -> Path:
    started = time.monotonic()
    done = subprocess.run([str(REPO / "bin" / "package"), "--outdir", str(outdir)],
                          capture_output=True, text=True, timeout=1200, check=False)
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
    if done.returncode == 3:
        raise Unavailable(f"bin/package could not install its build dependencies: {tail}")
    assert 0 == done.returncode, f"bin/package failed:\n{tail}"
    [deb] = outdir.glob("lbcheck_*_all.deb")
    print(f"bin/package built {deb.name} in {time.monotonic() - started:.0f} s")
    return deb


def install(suite: str, cached: Path, deb: Path, copy: Path) -> Box:
    """A copy of ``cached`` with /proc mounted and the .deb installed by apt-get."""
    subprocess.run(["cp", "-a", "--reflink=auto", str(cached), str(copy)], check=True,
                   timeout=300)
    # apt inside needs a resolver; nothing in the copy may start a service.
    resolv = copy / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    policy = copy / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    # /proc for lbcheck's process probe. No /dev/pts, as in many containers: lint runs
    # keepalived -t on a pipe (it once asked sh for a pty and died "out of pty devices").
    subprocess.run(["mount", "-t", "proc", "proc", str(copy / "proc")], check=True, timeout=30)
    shutil.copy(deb, copy / "tmp" / deb.name)
    started = time.monotonic()
    update = chroot(copy, "apt-get", "-qq", "update", timeout=APT_TIMEOUT)
    if update.returncode != 0:
        raise Unavailable(f"apt-get update in the {suite} root failed (no network?): "
                          f"{update.stderr.strip()[-400:]}")
    # As an operator would: apt-get install ./lbcheck_…deb, from the directory holding it.
    command = f"cd /tmp && apt-get install -y --no-install-recommends ./{deb.name}"
    done = chroot(copy, "sh", "-c", command, timeout=APT_TIMEOUT)
    assert 0 == done.returncode, (f"{command} on {suite}:\n{done.stdout[-2000:]}\n"
                                  f"{done.stderr[-2000:]}")
    print(f"{suite}: apt-get update + install ./{deb.name} in "
          f"{time.monotonic() - started:.0f} s")
    query = chroot(copy, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *LIBRARIES)
    versions = dict(line.split() for line in query.stdout.splitlines())
    return Box(suite, copy, versions)


def remove(copy: Path) -> None:
    """Kill what runs in the copy, unmount /proc (and anything else), delete it."""
    for _ in range(50):  # bounded: a process forked while we kill is caught next round
        pids = debian_root.processes_in(copy)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    debian_root.remove_tree(copy)  # unmounts first; refuses while anything is still mounted


@pytest.fixture(scope="session")
def boxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Box | str]]:
    """suite → the installed copy, or why there is none. The .deb builds while a missing
    bookworm root is debootstrapped (about a minute each, side by side)."""
    if os.geteuid() != 0:
        yield dict.fromkeys(SUITES, "building and installing a .deb in a chroot needs root")
        return
    base = tmp_path_factory.mktemp("package")
    copies = [base / f"{suite}-root" for suite in SUITES]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            deb_future = pool.submit(build_deb, base)
            cached = debian_root.roots(SUITES)
            try:
                deb = deb_future.result()
            except Unavailable as exc:
                yield dict.fromkeys(SUITES, str(exc))
                return
            found: dict[str, Box | str] = {}
            futures = {}
            for suite, copy in zip(SUITES, copies, strict=True):
                root = cached[suite]
                if isinstance(root, debian_root.RootUnavailable):
                    found[suite] = f"no Debian {suite} root: {root}"
                else:
                    futures[suite] = pool.submit(install, suite, root, deb, copy)
            for suite, future in futures.items():
                try:
                    found[suite] = future.result()
                except Unavailable as exc:
                    found[suite] = str(exc)
        yield found
    finally:
        for copy in copies:
            if copy.exists():
                remove(copy)


@pytest.fixture(params=SUITES)
def box(request: pytest.FixtureRequest, boxes: dict[str, Box | str]) -> Box:
    found = boxes[request.param]
    if isinstance(found, str):
        unavailable(found)
    assert isinstance(found, Box)
    return found


def test_debians_own_libraries_are_what_it_runs_with(box: Box) -> None:
    """apt resolved every dependency from the suite itself; on bookworm these are the floors
    pyproject.toml names (click 8.1.3, structlog 22.3, sh 1.14, prometheus-client 0.16)."""
    print(f"{box.suite}: {box.versions}")
    assert set(LIBRARIES) == set(box.versions)
    if box.suite == "bookworm":
        wanted = {"python3-click": "8.1.3", "python3-structlog": "22.3", "python3-sh": "1.14",
                  "python3-prometheus-client": "0.16", "python3-requests": "2.28.1"}
        assert all(box.versions[name].startswith(v) for name, v in wanted.items()), box.versions
    assert "ii " == chroot(box.root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}",
                           "lbcheck").stdout


@pytest.mark.parametrize("program", ["lbcheck", "lbnotify"])
def test_help_runs_from_usr_bin(box: Box, program: str) -> None:
    """/usr/bin/PROGRAM is root's, runs Debian's /usr/bin/python3, and answers --help."""
    path = box.root / "usr" / "bin" / program
    info = path.stat()
    assert (0, 0o755) == (info.st_uid, stat.S_IMODE(info.st_mode))
    assert path.read_text().startswith("#!/usr/bin/python3\n")
    done = chroot(box.root, f"/usr/bin/{program}", "--help")
    assert (0, "") == (done.returncode, done.stderr)
    assert f"Usage: {program} [OPTIONS] COMMAND" in done.stdout


def test_installed_files(box: Box) -> None:
    """Man pages, the units (watcher not enabled, flush timer enabled), a 0600 conffile,
    /var/lib/lbcheck 0700, the examples and the manual (README.md's docs/ beside it)."""
    root = box.root
    for program in ("lbcheck", "lbnotify"):
        assert (root / f"usr/share/man/man1/{program}.1.gz").is_file()
    units = root / "lib" / "systemd" / "system"  # /usr/lib/… on trixie, through the symlink
    assert {"lbcheck-watch.service", "lbnotify-flush.service", "lbnotify-flush.timer",
            "lbcheck-status.service", "lbcheck-status.timer"} <= {
        p.name for p in units.iterdir()}
    wants = root / "etc" / "systemd" / "system"
    assert (wants / "timers.target.wants" / "lbnotify-flush.timer").is_symlink()
    assert not (wants / "multi-user.target.wants" / "lbcheck-watch.service").exists()
    assert not (wants / "timers.target.wants" / "lbcheck-status.timer").exists()
    config = (root / "etc/lbcheck/lbcheck.toml").stat()
    assert (0, 0, 0o600) == (config.st_uid, config.st_gid, stat.S_IMODE(config.st_mode))
    conffiles = chroot(root, "dpkg-query", "-W", "-f", "${Conffiles}", "lbcheck").stdout
    assert "/etc/lbcheck/lbcheck.toml" in conffiles
    state = (root / "var/lib/lbcheck").stat()
    assert (0, 0o700) == (state.st_uid, stat.S_IMODE(state.st_mode))
    assert (root / "usr/share/doc/lbcheck/examples/keepalived.conf").is_file()
    doc = root / "usr/share/doc/lbcheck"  # dh_compress gzips the bigger pages
    for page in ("README.md", "docs/lint.md", "docs/checks.md"):
        assert (doc / page).is_file() or (doc / f"{page}.gz").is_file(), page


def test_man_page_has_every_command(box: Box) -> None:
    """lbcheck(1) holds each command's own --help, down to `lbcheck watch haproxy`."""
    page = subprocess.run(["zcat", str(box.root / "usr/share/man/man1/lbcheck.1.gz")],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    for command in ("haproxy", "lint", "watch", "watch haproxy"):
        assert f'.SS "lbcheck {command}"' in page


def test_check_judges_a_haproxy_running_in_the_root(box: Box, tmp_path: Path) -> None:
    """The suite's own haproxy, chrooted; the packaged check, chrooted too: 0 while it
    serves, 1 once it is gone."""
    proxy = Haproxy(tmp_path, [9], root=box.root)
    argv = ["haproxy", "--socket", proxy.socket, "--pidfile", proxy.pidfile]
    try:
        proxy.start()
        healthy = chroot(box.root, "/usr/bin/lbcheck", "--verbose", *argv)
    finally:
        proxy.stop()
    assert 0 == healthy.returncode, healthy.stdout + healthy.stderr
    assert 1 == chroot(box.root, "/usr/bin/lbcheck", *argv).returncode


# The article's trap in brief, for a checkout without shared/ beside it (a newcomer's clone).
MIXED_FAMILIES = """vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  priority 101
  virtual_ipaddress {
    10.1.1.100
    0:0:0:0:0:FFFF:0A01:0164
  }
}
"""


def test_lint_flags_the_articles_first_config(box: Box) -> None:
    """The article's first keepalived.conf (IPv6 VIPs in an IPv4 instance): exit 1."""
    target = box.root / "tmp" / ARTICLE.name
    if ARTICLE.is_file():
        shutil.copy(ARTICLE, target)
    else:
        target.write_text(MIXED_FAMILIES)
    done = chroot(box.root, "/usr/bin/lbcheck", "lint", f"/tmp/{ARTICLE.name}")
    assert 1 == done.returncode, done.stdout + done.stderr
    assert "KA001 error" in done.stdout


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running() as server:
        yield server


def test_lbnotify_logs_pages_and_writes_metrics(box: Box, receiver: Receiver) -> None:
    """A FAULT event through the packaged lbnotify: structlog's JSON line, a page sent with
    Debian's requests to a receiver on 127.0.0.1, prometheus-client's textfile. (FAULT, not
    MASTER: a MASTER event would announce the VIPs on a real interface.)"""
    work = box.root / "srv" / f"lbnotify-{os.getpid()}"
    work.mkdir(parents=True)
    inside = Path("/") / work.relative_to(box.root)
    config = work / "lbcheck.toml"
    config.write_text(
        f'[log]\ntarget = "{inside}/lbnotify.jsonl"\n'
        f'[notify]\nstate_dir = "{inside}/state"\nmetrics_file = "{inside}/lbnotify.prom"\n'
        f'[page]\noutbox = "{inside}/outbox"\nflap_window = 0.0\nsender_give_up = 0\n'
        f'[[page.target]]\ntype = "pagerduty"\nurl = "{receiver.url}/v2/enqueue"\n'
        f'routing_key = "{ROUTING_KEY}"\n')
    config.chmod(0o600)
    try:
        done = chroot(box.root, "/usr/bin/lbnotify", "--config", f"{inside}/lbcheck.toml",
                      "event", "INSTANCE", "VI_1", "FAULT", "0")
        assert 0 == done.returncode, done.stdout + done.stderr
        [page] = receiver.wait_for(1)
        assert ROUTING_KEY == page["json"]["routing_key"], page
        lines = [json.loads(line) for line in (work / "lbnotify.jsonl").read_text().splitlines()]
        assert lines and all("event" in line for line in lines)
        assert "lbnotify_" in (work / "lbnotify.prom").read_text()
    finally:
        for pid in debian_root.processes_in(box.root, str(inside)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
