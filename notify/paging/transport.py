"""One HTTP POST that ends when its deadline does, whatever the server does.

``requests``' timeout bounds each socket operation, not the request: a pager (or anything
in between) that answers one byte every 0.2 s never trips a 0.5 s read timeout, and kept a
hook with a 0.5 s budget running for 45 s; a 1 GiB error body was read whole (3.1 GB of
RSS). Here every socket a request opens or reuses is registered with a :class:`_Watch`, and a
timer shuts them down when the wall-clock deadline passes, which wakes whatever ``recv`` is
blocked on them — headers, body or TLS handshake alike. The reply body is streamed and only
its first :data:`MAX_REPLY` bytes are kept: enough to tell a bad key from a bad payload.

What the watch cannot cut: name resolution (``getaddrinfo`` runs before there is a socket),
bounded by the resolver's own timeouts (resolv.conf: 5 s × attempts by default).

``requests`` and ``urllib3`` are imported only by :func:`new_session`, which the sending
path calls: a hook that delivers nothing never pays for them.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

MAX_REPLY = 16 * 1024  # bytes of a reply body kept; the rest is never read
_local = threading.local()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class DeadlinePassed(Exception):
    """The wall-clock deadline passed before the reply was read."""


class _Watch:
    """The sockets of one request, shut down together when its deadline passes."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.expired = False
        self._lock = threading.Lock()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self.sockets.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self.sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _register(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_local, "watch", None)
    if watch is not None:
        watch.add(sock)


def new_session() -> Any:
    """A ``requests.Session`` whose connections report their sockets to the current watch."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class WatchedHTTP(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            _register(sock)  # before the TLS handshake: a stalled handshake is cut too
            return sock

        def request(self, *args: Any, **kwargs: Any) -> None:
            _register(self.sock)  # a kept-alive connection has no new socket
            super().request(*args, **kwargs)

    class WatchedHTTPS(HTTPSConnection):
        _new_conn = WatchedHTTP._new_conn
        request = WatchedHTTP.request

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPS

    def watched(manager: Any) -> Any:
        manager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}
        return manager

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            watched(self.poolmanager)

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            return watched(super().proxy_manager_for(*args, **kwargs))

    session = requests.Session()
    session.mount("http://", Adapter())
    session.mount("https://", Adapter())
    return session


def post(session: Any, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
    """POST ``body``; the whole exchange ends within ``timeout`` seconds of wall clock.

    Raises :class:`DeadlinePassed` when the deadline cut it, ``requests.RequestException``
    for any other network trouble.
    """
    import requests
    from urllib3.util import Timeout

    watch = _Watch()
    timer = threading.Timer(timeout, watch.expire)
    timer.daemon = True
    _local.watch = watch
    timer.start()
    try:
        response = session.request(
            "POST", url, data=body,
            headers={"Accept-Encoding": "identity", **headers},
            # total= bounds connect + read together; the watch bounds the wall clock.
            timeout=Timeout(total=timeout), allow_redirects=False, stream=True,
        )
        try:
            kept = _read_capped(response)
        finally:
            response.close()
    except (requests.RequestException, OSError):
        if watch.expired:
            raise DeadlinePassed from None
        raise
    finally:
        timer.cancel()
        _local.watch = None
    # A status line read is an answer, even if the deadline cut the rest of the body.
    return Reply(response.status_code, dict(response.headers), kept)


def _read_capped(response: Any) -> bytes:
    """The first MAX_REPLY bytes of the body; the rest is never read.

    We ask for identity; a body compressed anyway decodes 4 KiB of input at a time, so even
    a compression bomb costs a few MB at most before the cap stops it.
    """
    kept = bytearray()
    for chunk in response.iter_content(4096):
        kept += chunk
        if len(kept) >= MAX_REPLY:
            break
    return bytes(kept[:MAX_REPLY])
