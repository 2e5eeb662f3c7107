"""The stats socket misbehaving in every way we know, each with a precise reason."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Checker

REAL_INFO = ("Name: HAProxy\nVersion: 2.6.12\nPid: 4242\nUptime_sec: 12\nIdle_pct: 99\n"
             "Stopping: 0\n\n")
# Whole `show info` replies captured from haproxy 2.6, 3.0 and 3.2 (tests/unit/data/README.md).
CAPTURED_INFO = [pytest.param(path.read_text(), id=f"haproxy{path.name[10:-4]}") for path in
                 sorted((Path(__file__).parents[1] / "unit" / "data").glob("show_info.*.*.txt"))]


class FakeSocket:
    """A unix socket server that answers every connection with ``behaviour``."""

    def __init__(self, path: Path, reply: bytes | None, hang: float = 0.0,
                 swallow: int = 0) -> None:
        self.path = str(path)
        self.reply = reply
        self.hang = hang
        self.swallow = swallow  # the first N connections are kept open and never answered
        self.swallowed: list[socket.socket] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            if len(self.swallowed) < self.swallow:  # an old worker stopping mid-reload
                self.swallowed.append(conn)
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1024)
                    if self.hang:
                        self.stopping.wait(self.hang)
                    if self.reply is not None:
                        conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=3)
        self.server.close()
        for conn in self.swallowed:
            conn.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[callable]:
    made: list[FakeSocket] = []

    def make(reply: bytes | None, hang: float = 0.0, swallow: int = 0) -> FakeSocket:
        made.append(FakeSocket(tmp_path / f"fake{len(made)}.sock", reply, hang, swallow))
        return made[-1]

    try:
        yield make
    finally:
        for server in made:
            server.close()


def run_socket(check: Checker, path: str, *extra: str) -> tuple[int, dict, float]:
    result, took = check.timed("--json", *extra, "socket", "--socket", path)
    assert "" == result.stderr
    return result.returncode, json.loads(result.stdout), took


def test_a_real_looking_reply_is_healthy(fake, check: Checker) -> None:
    """The fake itself is sound: a proper `show info` reply is OK."""
    code, out, _ = run_socket(check, fake(REAL_INFO.encode()).path)
    assert (0, "OK") == (code, out["state"])


@pytest.mark.parametrize("info", CAPTURED_INFO)
def test_every_versions_real_reply_is_healthy(fake, check: Checker, info: str) -> None:
    """Each version's whole `show info`, byte for byte, is OK; Stopping: 1 in it is exit 1."""
    code, out, _ = run_socket(check, fake(info.encode()).path)
    assert (0, "OK") == (code, out["state"]), out["reason"]
    stopping = info.replace("Stopping: 0", "Stopping: 1").encode()
    code, out, _ = run_socket(check, fake(stopping).path)
    assert (1, "CRITICAL") == (code, out["state"])
    assert "Stopping: 1" in out["reason"]


def test_socket_that_accepts_and_never_answers(fake, check: Checker) -> None:
    """The hung-haproxy signature: connected, then silence. Exit 1 within the deadline."""
    code, out, took = run_socket(check, fake(None, hang=5).path, "--deadline", "0.5")
    assert 1 == code
    assert "accepted the connection but did not answer" in out["reason"]
    assert out["elapsed_ms"] < 500 + 50
    assert took < 0.5 + 0.2 + 0.5  # deadline + 0.2 s, plus interpreter start on a busy box


def test_a_connection_swallowed_once_is_asked_again(fake, check: Checker) -> None:
    """An old worker can accept a connection as it stops and never answer it (seen once in
    27,472 checks through 2 Hz reloads): a fresh connection within the deadline answers."""
    code, out, _ = run_socket(check, fake(REAL_INFO.encode(), swallow=1).path)
    assert (0, "OK") == (code, out["state"])
    assert "(attempt 2 after " in out["reason"]
    assert out["elapsed_ms"] < 800


def test_garbage_reply(fake, check: Checker) -> None:
    """Another daemon behind the path: exit 3, quoting what it said."""
    code, out, _ = run_socket(check, fake(b"HTTP/1.1 400 Bad Request\r\n\r\n").path)
    assert 3 == code
    assert "not a HAProxy `show info` reply: 'HTTP/1.1 400 Bad Request'" in out["reason"]


def test_half_answer_then_eof(fake, check: Checker) -> None:
    """A reply cut mid-way (no terminating empty line) is not trusted."""
    code, out, _ = run_socket(check, fake(REAL_INFO[:40].encode()).path)
    assert 3 == code
    assert "cut short" in out["reason"] or "lacks" in out["reason"]


def test_immediate_eof(fake, check: Checker) -> None:
    """Accept and close without a byte: the process behind it is not serving."""
    code, out, _ = run_socket(check, fake(b"").path)
    assert 1 == code
    assert "closed the connection without a reply" in out["reason"]


def test_stopping_process_is_unhealthy(fake, check: Checker) -> None:
    """`Stopping: 1` is a process on its way out (soft-stop), not one to keep the VIP for."""
    code, out, _ = run_socket(check, fake(REAL_INFO.replace("Stopping: 0",
                                                            "Stopping: 1").encode()).path)
    assert 1 == code
    assert "Stopping: 1" in out["reason"]


def test_missing_socket(tmp_path: Path, check: Checker) -> None:
    """ENOENT: we cannot tell (exit 3), and say what to configure."""
    code, out, _ = run_socket(check, str(tmp_path / "nope.sock"))
    assert 3 == code
    assert "does not exist" in out["reason"] and "stats socket" in out["reason"]


def test_stale_socket_nobody_listening(tmp_path: Path, check: Checker) -> None:
    """A socket file left by a dead haproxy refuses connections: unhealthy."""
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    code, out, _ = run_socket(check, str(path))
    assert 1 == code
    assert "refused" in out["reason"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_permission_denied(fake, tmp_path: Path, check: Checker) -> None:
    """EACCES (check run as an unprivileged user): exit 3 and a hint, never a traceback."""
    server = fake(REAL_INFO.encode())
    os.chmod(server.path, 0o600)
    tmp_path.chmod(0o755)
    check.env["LBCHECK_STATE_DIR"] = str(tmp_path / "unwritable")
    del check.env["LBCHECK_CONFIG"]  # root-only, like the socket
    result = check("-v", "socket", "--socket", server.path, user="65534")
    assert 3 == result.returncode, result.stderr
    assert "permission denied" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_sigterm_ends_a_check_at_once_with_3(fake, check: Checker) -> None:
    """keepalived's timeout sends SIGTERM: we exit 3 immediately."""
    import subprocess

    from tests.conftest import BIN

    server = fake(None, hang=5)
    proc = subprocess.Popen([str(BIN / "lbcheck"), "--deadline", "5", "socket", "--socket",
                             server.path], env=check.env)
    time.sleep(0.4)
    proc.terminate()
    started = time.monotonic()
    assert 3 == proc.wait(timeout=5)
    assert time.monotonic() - started < 0.5
