"""The lab's client and its outage arithmetic: the ruler every failover figure is read with.

The poller runs here against a real HTTP server on 127.0.0.1 that stops answering for a while,
as a hung haproxy does: requests must keep starting on schedule through the hang (open loop),
and the outage must be the hang, not the hang plus a client timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise

import pytest

from tests.lab import poller
from tests.lab.lab import outage


def rows(*spec: tuple[float, float, bool]) -> list[dict]:
    return [{"t": t, "done": done, "family": "ipv4", "ok": ok} for t, done, ok in spec]


def test_outage_is_the_longest_gap_between_answers_across_the_fault() -> None:
    seen = rows((0.0, 0.001, True), (0.02, 0.021, True), (0.04, 2.04, False),
                (0.30, 0.301, True), (0.32, 0.321, True))
    assert outage(seen, "ipv4", 0.03) == pytest.approx(0.28)


def test_a_late_success_started_before_the_move_does_not_shorten_the_outage() -> None:
    """A SYN retransmitted after the VIPs moved succeeds a second late; by its start time it
    would seem to answer in the middle of the outage."""
    seen = rows((0.0, 0.001, True), (0.04, 1.04, True),
                *((0.5 + i * 0.02, 0.501 + i * 0.02, True) for i in range(40)))
    assert outage(seen, "ipv4", 0.02) == pytest.approx(0.5)


def test_no_answer_after_the_fault_is_an_endless_outage() -> None:
    assert outage(rows((0.0, 0.001, True), (0.1, 2.1, False)), "ipv4", 0.05) == float("inf")


class Stallable(BaseHTTPRequestHandler):
    """Answers 200 "n1", or holds the request while the server's ``stalled`` event is set."""

    def do_GET(self) -> None:
        while self.server.stalled.is_set():  # type: ignore[attr-defined]
            time.sleep(0.005)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"n1\n")

    def log_message(self, *args: object) -> None:
        pass


def test_requests_keep_their_schedule_while_the_server_hangs() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stallable)
    server.daemon_threads = True
    server.stalled = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        def stall() -> None:
            time.sleep(0.3)
            server.stalled.set()  # type: ignore[attr-defined]
            time.sleep(0.4)
            server.stalled.clear()  # type: ignore[attr-defined]
        started = time.time()
        threading.Thread(target=stall, daemon=True).start()
        seen = asyncio.run(poller.main_async("127.0.0.1", "127.0.0.1", 1.2,
                                             port=server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
    v4 = sorted((r for r in seen if r["family"] == "ipv4"), key=lambda r: r["t"])
    assert all(r["ok"] and r["node"] == "n1" for r in v4)  # held, then answered: none failed
    starts = [r["t"] - started for r in v4]
    # Never waited for an answer: requests kept starting through the 0.4 s hang (a client
    # waiting for each answer would show one gap of 0.4 s and none inside it). The bounds
    # leave room for a loaded 2-core machine's scheduling; the property does not need tight
    # timing, and timing itself is bin/bench's job.
    assert max(b - a for a, b in pairwise(starts)) < 0.25
    assert sum(1 for t in starts if 0.35 <= t <= 0.65) >= 5
    gap = outage(v4, "ipv4", started + 0.3)
    assert 0.3 <= gap < 0.8, gap  # the 0.4 s hang, within scheduling slack
