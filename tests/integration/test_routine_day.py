"""A load balancer's ordinary day must not look like a failure: every false failure is a failover.

haproxy runs as Debian's unit runs it (`-Ws -p PIDFILE -S MASTER_SOCKET`, `expose-fd
listeners`) and is reloaded the way `systemctl reload haproxy` does it (SIGUSR2), twice a
second, while `lbcheck haproxy` runs back to back with every probe enabled. Each non-zero exit
would have been a VIP failover under the README's `fall 1`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import MATRIX, MATRIX_IDS, Checker, HaproxyVersion
from tests.lab.render import fast_deadline
from tests.support.haproxy import Haproxy
from tests.support.web import WebServers

STORM_SECONDS = float(os.environ.get("LBCHECK_STORM_SECONDS", "10"))
RELOAD_EVERY = 0.5  # seconds: 2 Hz, far more often than any deploy pipeline reloads


def every_probe(proxy: Haproxy, deadline: str | None = None) -> list[str]:
    head = ["--deadline", deadline] if deadline else []
    return [*head, "--json", "haproxy", "--socket", proxy.socket, "--pidfile", proxy.pidfile,
            "--master-socket", proxy.master_socket, "--backend", "app"]


@pytest.fixture(params=[True, False], ids=["expose-fd", "no-expose-fd"])
def debian_haproxy(request: pytest.FixtureRequest, tmp_path: Path, web: WebServers,
                   haproxy_version: HaproxyVersion) -> Iterator[Haproxy]:
    """haproxy as Debian's unit runs it, on the host or (with @MATRIX) in a suite's chroot."""
    proxy = Haproxy(tmp_path, web.ports[:2], web.ports[2:], debian_unit=True,
                    expose_fd=request.param, root=haproxy_version.root)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


def reload_storm(proxy: Haproxy, seconds: float, stop: threading.Event) -> list[float]:
    """SIGUSR2 to the master every RELOAD_EVERY s; returns when each reload was sent."""
    sent: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        proxy.reload()
        sent.append(time.monotonic())
        stop.wait(RELOAD_EVERY)
    return sent


# The storm is the suite's slowest integration test (STORM_SECONDS each), so it runs a pairwise
# design rather than the full product of version × fd mode × deadline (12 storms, 3 minutes of
# a 2-core CI): every version meets both fd modes and both deadlines, and each fd mode meets
# each deadline. What differs between the versions is how they reload, which each pair covers.
STORMS = [  # (suite, expose-fd, the fast profile's deadline)
    ("host", False, False), ("host", True, True),
    ("trixie", True, False), ("trixie", False, True),
    ("sid", False, True), ("sid", True, False),
]


@pytest.mark.parametrize(
    ("haproxy_version", "debian_haproxy", "deadline"),
    [pytest.param(suite, expose, fast_deadline() if fast else None,
                  id=f"{'expose-fd' if expose else 'no-expose-fd'}-"
                     f"{'fast' if fast else 'default'}-{MATRIX_IDS[suite]}")
     for suite, expose, fast in STORMS],
    indirect=["haproxy_version", "debian_haproxy"])
def test_reload_storm_never_fails_a_healthy_node(check: Checker, debian_haproxy: Haproxy,
                                                 haproxy_version: HaproxyVersion,
                                                 deadline: str | None) -> None:
    """2 Hz reloads: 0 non-zero exits, though haproxy really re-executed every time — at the
    default deadline and at the fast profile's shorter one (examples/fast/)."""
    stop = threading.Event()
    reloads: list[float] = []
    storm = threading.Thread(target=lambda: reloads.extend(
        reload_storm(debian_haproxy, STORM_SECONDS, stop)))
    storm.start()
    failures: list[str] = []
    retried = checks = 0
    try:
        while storm.is_alive() and checks < 2000:
            result = check(*every_probe(debian_haproxy, deadline))
            checks += 1
            if result.returncode != 0:
                failures.append(f"exit {result.returncode}: {result.stdout}{result.stderr}")
            elif "(attempt " in result.stdout:
                retried += 1
    finally:
        stop.set()
        storm.join(timeout=10)
    done = reload_count(debian_haproxy)
    print(f"\nreload storm on haproxy {haproxy_version.version}, deadline "
          f"{deadline or 'default'}: {len(reloads)} reloads "
          f"({done} counted by the master), "
          f"{checks} checks, {len(failures)} non-zero, {retried} rode out a reload by asking "
          "again")
    for failure in failures:
        print(failure)
    assert [] == failures
    assert done >= 0.8 * len(reloads) >= 0.8 * STORM_SECONDS / RELOAD_EVERY - 1
    assert checks >= 2 * len(reloads)  # the checks really ran through the storm


def reload_count(proxy: Haproxy) -> int:
    """The master's own count of reloads, from `show proc` (bounded wait for it to answer)."""
    end = time.monotonic() + 5
    while time.monotonic() < end:
        reply = proxy.query("show proc;quit", proxy.master_socket)
        for line in reply.splitlines():
            words = line.split()
            if len(words) > 2 and words[1] == "master" and words[2].isdecimal():
                return int(words[2])
        time.sleep(0.05)
    raise AssertionError("the master CLI did not answer `show proc` within 5 s")


@MATRIX
def test_a_haproxy_really_stopping_still_fails_within_the_deadline(
        check: Checker, tmp_path: Path, haproxy_version: HaproxyVersion) -> None:
    """Soft-stop without a new worker (SIGUSR1, a request still in flight keeps the worker
    alive): asking again finds no serving process, so the check fails — within its deadline."""
    silent = socket.socket()  # a server that accepts (kernel backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    proxy = Haproxy(tmp_path, [silent.getsockname()[1]], debian_unit=True,
                    root=haproxy_version.root)
    client = socket.socket()
    try:
        proxy.start()
        client.connect(("127.0.0.1", proxy.port))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # in flight for `timeout server`
        time.sleep(0.2)
        proxy.signal(signal.SIGUSR1)  # soft-stop: finish what is in flight, accept nothing new
        time.sleep(0.3)
        assert proxy.workers(), "the worker should still be draining the request"
        result, took = check.timed("--deadline", "0.8", *every_probe(proxy))
    finally:
        client.close()
        silent.close()
        proxy.stop()
    assert 1 == result.returncode, result.stdout
    verdict = json.loads(result.stdout)
    assert "socket" in verdict["reason"], verdict["reason"]
    assert took < 1.5, f"took {took:.2f} s"


def test_a_master_cli_refusing_while_the_worker_serves_is_a_warning(
        check: Checker, debian_haproxy: Haproxy, tmp_path: Path) -> None:
    """A master CLI that refuses for longer than the deadline (a master re-executing a big
    config) while process and stats socket show a serving worker: WARN and exit 0, said."""
    stale = tmp_path / "stale-master.sock"  # bound, never listened: connect() is refused
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))
    args = every_probe(debian_haproxy)
    args[args.index("--master-socket") + 1] = str(stale)
    result, took = check.timed(*args)
    verdict = json.loads(result.stdout)
    master = next(p for p in verdict["probes"] if p["name"] == "master")
    assert (0, "WARN") == (result.returncode, master["state"]), result.stdout
    assert "refused the connection" in master["reason"]
    assert "re-executing for a reload" in master["reason"]
    assert took < 1.5


def test_a_silent_master_cli_is_still_a_failure(check: Checker, debian_haproxy: Haproxy,
                                                tmp_path: Path) -> None:
    """Refusing is a re-exec; silence (accepted, never answered) is a hung master: exit 1."""
    silent = tmp_path / "silent-master.sock"
    with socket.socket(socket.AF_UNIX) as sock:  # listening, never accepting: the kernel
        sock.bind(str(silent))                  # completes connections nobody reads
        sock.listen(8)
        args = every_probe(debian_haproxy)
        args[args.index("--master-socket") + 1] = str(silent)
        result, took = check.timed(*args)
    verdict = json.loads(result.stdout)
    assert 1 == result.returncode, result.stdout
    assert verdict["reason"].startswith("master: master CLI"), verdict["reason"]
    assert "did not answer" in verdict["reason"]
    assert took < 1.5
