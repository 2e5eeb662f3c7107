"""Tiny real web servers on 127.0.0.1 to stand behind haproxy as its backend servers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {self.server.server_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class WebServers:
    """N servers on ephemeral ports, each in its own thread; ``stop`` joins them all."""

    def __init__(self, count: int) -> None:
        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Hello) for _ in range(count)]
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                         daemon=True) for s in self.servers]
        for thread in self.threads:
            thread.start()

    @property
    def ports(self) -> list[int]:
        return [s.server_address[1] for s in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=2)
