"""A stand-in for PagerDuty, Opsgenie and webhooks: a real HTTP server that records requests.

Tests start it in-process (:class:`Receiver`, port 0 → a free port on 127.0.0.1) and read
``.requests``; a lab in another network namespace runs it as a script::

    python tests/receiver.py --port 8080 --record /tmp/pages.jsonl [--mode ok]

Behaviour is switchable while running, in-process with :meth:`Receiver.set_mode` or over
HTTP with ``POST /_receiver/mode {"mode": "429", "retry_after": 2}``; control requests are
not recorded. Modes: ok (202), 500, 429 (+ Retry-After), 400, 401/403/404 (a refused key),
slow (sleep ``delay`` s, then 202), trickle (a 202 one byte every 0.2 s), huge (a 400 with a
1 GiB body). "Down" is :meth:`Receiver.down` (the socket closes: connection refused) and
:meth:`Receiver.up` (listen again on the same port).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MODES = ("ok", "500", "429", "400", "401", "403", "404", "slow", "trickle", "huge")
TRICKLE_STEP = 0.2  # trickle: one byte of the answer this often (a hostile or broken pager)
HUGE_BODY = 1 << 30  # huge: an error body of 1 GiB, for as long as the client reads
CONTROL = "/_receiver/"
MAX_BODY = 1 << 20
MAX_DELAY = 30.0  # a slow answer never holds a handler thread longer than this


@dataclass
class Behaviour:
    mode: str = "ok"
    retry_after: str = "1"
    delay: float = 1.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, receiver: Receiver) -> None:
        super().__init__((host, port), _Handler)
        self.receiver = receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the record is the log

    def _handle(self) -> None:
        receiver = self.server.receiver
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path.startswith(CONTROL):
            self._control(receiver, path[len(CONTROL) :], raw)
            return
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        behaviour = receiver.behaviour
        receiver.record(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "json": body,
                "body": raw.decode("utf-8", "replace"),
                "mode": behaviour.mode,
                "at": time.time(),
            }
        )
        if behaviour.mode == "slow":
            time.sleep(min(behaviour.delay, MAX_DELAY))
        if behaviour.mode == "trickle":
            self._trickle()
            return
        if behaviour.mode == "huge":
            self._huge()
            return
        if behaviour.mode in ("401", "403", "404"):
            self._answer(int(behaviour.mode), {"message": "Invalid API key or integration"})
            return
        if behaviour.mode == "500":
            self._answer(500, {"status": "error", "message": "internal error"})
        elif behaviour.mode == "429":
            self._answer(429, {"status": "throttled"}, {"Retry-After": behaviour.retry_after})
        elif behaviour.mode == "400":
            self._answer(400, {"status": "invalid event", "errors": ["rejected by receiver"]})
        else:
            self._answer(202, {"status": "success", "message": "Event processed"})

    def _control(self, receiver: Receiver, what: str, raw: bytes) -> None:
        if what == "mode" and self.command == "POST":
            try:
                wanted = json.loads(raw or b"{}")
                receiver.set_mode(
                    wanted["mode"],
                    retry_after=str(wanted.get("retry_after", "1")),
                    delay=float(wanted.get("delay", 1.0)),
                )
            except (ValueError, KeyError, TypeError) as exc:
                self._answer(400, {"error": str(exc)})
                return
            self._answer(200, {"mode": receiver.behaviour.mode})
        elif what == "requests":
            self._answer(200, receiver.requests)
        else:
            self._answer(404, {"error": f"unknown control {what!r}"})

    def _trickle(self) -> None:
        """A 202 one byte every TRICKLE_STEP s: no single read ever times out."""
        answer = (b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 64\r\n\r\n" + b" " * 64)
        end = time.monotonic() + MAX_DELAY
        try:
            for byte in answer:
                if time.monotonic() > end:
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TRICKLE_STEP)
        except OSError:
            pass
        self.close_connection = True

    def _huge(self) -> None:
        """A 400 whose body is 1 GiB: a client that reads it whole pays in time and memory."""
        chunk = b"x" * 65536
        end = time.monotonic() + MAX_DELAY
        try:
            self.send_response(400)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(HUGE_BODY))
            self.end_headers()
            for _ in range(HUGE_BODY // len(chunk)):
                if time.monotonic() > end:
                    break
                self.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading: what we wanted
        self.close_connection = True

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (its timeout): what it sent is already recorded


class Receiver:
    """The HTTP stand-in; records every non-control request in arrival order."""

    def __init__(
        self, port: int = 0, record_path: str | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = port
        self.record_path = record_path
        self.behaviour = Behaviour()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Receiver:
        self.up()
        return self

    def up(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        if self._server is not None:
            return
        self._server = _Server(self.host, self.port, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop listening: senders now get "connection refused"."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    stop = down

    def set_mode(self, mode: str, retry_after: str = "1", delay: float = 1.0) -> None:
        """Switch what the next requests get (see MODES)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        self.behaviour = Behaviour(mode, retry_after, delay)

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)
            if self.record_path:
                with open(self.record_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(request, sort_keys=True) + "\n")

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The requests once ``count`` have arrived, or as many as came within ``timeout``."""
        give_up = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < give_up:
            time.sleep(0.01)
        return list(self.requests)


@contextmanager
def running(port: int = 0, record_path: str | None = None) -> Iterator[Receiver]:
    """A started receiver that is stopped however the block ends."""
    receiver = Receiver(port, record_path).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", metavar="FILE.jsonl", help="append one JSON line per request")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args(argv)
    receiver = Receiver(args.port, args.record, args.host)
    receiver.set_mode(args.mode, args.retry_after, args.delay)
    try:
        receiver.start()
    except OSError as exc:
        print(
            f"receiver: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 2
    print(f"receiver listening on {receiver.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
