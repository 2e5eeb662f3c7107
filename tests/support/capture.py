"""Capture real stats-socket and master-CLI replies from every haproxy of the matrix.

The unit tests parse these files with lbcheck's parsers, so a format change in a new haproxy
shows up as a failing unit test with the real bytes next to it, not as a surprise on a load
balancer. Run `bin/capture-fixtures` (root: it chroots into the Debian roots) to regenerate
tests/unit/data/*.<version>.*; the unit tests name the captured pids, so update them too.

One master-worker haproxy per version, one fixed configuration (below), captured in order:
`show info`, `show stat`, `show stat app 6 -1`, the master's `show proc`, `show proc` during
a reload (an old worker held by an unfinished request), and after a reload that failed.
"""

from __future__ import annotations

import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import debian_root
from tests.support.haproxy import Haproxy, free_port
from tests.support.web import WebServers

DATA = Path(__file__).resolve().parents[1] / "unit" / "data"
SUITES = ("host", "trixie", "sid")

# web1 UP (a live server), web2 DOWN (nothing listens), web3 MAINT (`disabled`), spare1 a
# backup without checks ("no check"); backend static: one unchecked server; backend empty.
CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    pidfile {pidfile}
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe_main
    bind 127.0.0.1:{port}
    default_backend app
backend app
    server web1 127.0.0.1:{live} check inter 100
    server web2 127.0.0.1:{closed} check inter 100
    server web3 127.0.0.1:{live} check inter 100 disabled
    server spare1 127.0.0.1:{live} backup
backend static
    server s1 127.0.0.1:{live}
backend empty
"""


def wait_for(what: str, probe: Callable[[], str], ready: Callable[[str], bool],
             timeout: float = 10.0) -> str:
    """Poll ``probe`` until ``ready`` accepts its reply (bounded); the accepted reply."""
    end = time.monotonic() + timeout
    reply = ""
    while time.monotonic() < end:
        reply = probe()
        if ready(reply):
            return reply
        time.sleep(0.02)
    raise RuntimeError(f"no {what} within {timeout:g} s; last reply: {reply[:300]!r}")


def capture(root: Path | None, workdir: Path, out: Path = DATA) -> list[Path]:
    """Every reply from the haproxy in ``root`` (None: the host's), written to ``out``."""
    web = WebServers(1)
    proxy = Haproxy(workdir, [], master_worker=True, root=root)
    good = CONFIG.format(socket=proxy.socket, pidfile=proxy.pidfile, port=proxy.port,
                         live=web.ports[0], closed=free_port())
    proxy.config.write_text(good)
    written: list[Path] = []
    try:
        proxy.start()

        def master() -> str:
            return proxy.query("show proc;quit", proxy.master_socket)

        stat = wait_for("settled server states", lambda: proxy.query("show stat"),
                        lambda r: ",web1," in r and _status(r, "web1") == "UP"
                        and _status(r, "web2") == "DOWN")
        info = proxy.query("show info")
        version = next(line.split(":", 1)[1].strip() for line in info.splitlines()
                       if line.startswith("Version:")).split("-")[0]

        def save(name: str, suffix: str, text: str) -> None:
            if not text.endswith("\n\n"):
                raise RuntimeError(f"{name} reply from {version} is cut short: {text[-80:]!r}")
            written.append(out / f"{name}.{version}.{suffix}")
            written[-1].write_text(text)

        save("show_info", "txt", info)
        save("show_stat", "csv", stat)
        save("show_stat_app", "csv", proxy.query("show stat app 6 -1"))
        save("show_proc", "txt", master())

        # A reload while a client holds the old worker (a request still being sent).
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: capture\r\n")
            time.sleep(0.2)
            proxy.signal(signal.SIGUSR2)
            save("show_proc_reload", "txt", wait_for(
                "old worker", master, lambda r: _listed(r, "# old workers")))
        wait_for("old worker gone", master, lambda r: r.endswith("\n\n")
                 and not _listed(r, "# old workers") and _listed(r, "# workers"))

        # A reload that fails: the previous worker keeps serving.
        proxy.config.write_text(good + "this is not haproxy syntax\n")
        proxy.signal(signal.SIGUSR2)
        save("show_proc_failed_reload", "txt",
             wait_for("failed reload", master, lambda r: "[failed: 1]" in r))
        proxy.config.write_text(good)
    finally:
        proxy.stop()
        web.stop()
    return written


def _status(stat: str, server: str) -> str:
    header = stat.splitlines()[0][2:].split(",")
    for line in stat.splitlines()[1:]:
        row = line.split(",")
        if len(row) > 1 and row[1] == server:
            return row[header.index("status")]
    return ""


def _listed(show_proc: str, section: str) -> bool:
    """Does ``section`` of a `show proc` reply list at least one process?"""
    lines = show_proc.splitlines()
    if section not in lines:
        return False
    rest = lines[lines.index(section) + 1:]
    return bool(rest) and rest[0][:1].isdigit()


def main(argv: list[str]) -> int:
    suites = argv or list(SUITES)
    for suite in suites:
        root = None if suite == "host" else debian_root.root(suite)
        with tempfile.TemporaryDirectory(prefix="lbcheck-capture-") as workdir:
            for path in capture(root, Path(workdir)):
                print(f"{suite}: {path.relative_to(DATA.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
