"""Who is behind a socket we are about to believe: the stats socket's or master CLI's owner.

`show info` proves nothing about who answers it: ``nobody``'s listener on a TCP stats port
(or on a UNIX socket path it may create) can reply ``Name: HAProxy`` / ``Pid: 1``. So before
a command is sent, the listener's owner must be one lbcheck.procs trusts (root, the uid
running this check, or the ``haproxy`` user):

- UNIX sockets: ``SO_PEERCRED`` of the connection is the uid of the process that called
  listen() — root for a socket haproxy binds before dropping privileges — read from the
  connected socket itself, so no path can be swapped between a check and the connect.
- TCP: the uid the kernel lists for the LISTEN socket on the connected address and port (or
  the wildcard) in /proc/net/tcp (tcp6 for a dual-stack wildcard). Listening sockets come
  first in that file, so the read stops at the first other state: one bounded read, however
  many connections the load balancer carries.

Stdlib only (``_socket``), no forks: the every-second check imports it.
"""

from __future__ import annotations

import _socket
import os
import sys

from lbcheck.procs import service_ids, trusted_uid

SERVICE = "haproxy"
CHUNK = 16 * 1024  # a few hundred listeners per read
TABLE_LIMIT = 1024 * 1024  # never more of /proc/net/tcp than this
_LISTEN = b"0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


def owner_problem(sock: _socket.socket) -> str | None:
    """Why the peer of connected ``sock`` must not be believed, or None (see module doc)."""
    if sock.family == _socket.AF_UNIX:
        raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        uid = int.from_bytes(raw[4:8], sys.byteorder)  # struct ucred {pid, uid, gid}
        return None if trusted_uid(uid, SERVICE) else f"served by uid {uid}, not {_allowed()}"
    host, port = sock.getpeername()[:2]
    found = tcp_listener_uids(host, port)
    if not found:
        return None if found is None else f"no listening socket owns {host}:{port}"
    strangers = sorted({uid for uid in found if not trusted_uid(uid, SERVICE)})
    if strangers:
        return f"{host}:{port} is listened on by uid {strangers[0]}, not {_allowed()}"
    return None


def _allowed() -> str:
    return "root or haproxy" if service_ids(SERVICE) else "root"


def tcp_listener_uids(host: str, port: int) -> list[int] | None:
    """uids of the LISTEN sockets that may have accepted a connection to ``host``:``port``:
    bound to that address or to the wildcard; None when /proc/net/tcp cannot be read."""
    v4 = _socket.inet_pton(_socket.AF_INET, host)
    found = _listeners("/proc/net/tcp", port, {_hex(v4), _hex(bytes(4))})
    if found:
        return found
    mapped = bytes(10) + b"\xff\xff" + v4  # ::ffff:a.b.c.d on a dual-stack socket
    again = _listeners("/proc/net/tcp6", port, {_hex(mapped), _hex(bytes(16))})
    if found is None and again is None:
        return None
    return again or []


def _hex(address: bytes) -> bytes:
    """The kernel prints each 32-bit word of an address as %08X in host byte order."""
    words = (address[i:i + 4] for i in range(0, len(address), 4))
    return b"".join(b"%08X" % int.from_bytes(word, sys.byteorder) for word in words)


def _listeners(path: str, port: int, addresses: set[bytes]) -> list[int] | None:
    """uids of the LISTEN lines of ``path`` bound to one of ``addresses`` on ``port``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    wanted = {address + b":%04X" % port for address in addresses}
    uids: list[int] = []
    try:
        pending, read = b"", 0
        while read < TABLE_LIMIT:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            read += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                fields = line.split()
                if len(fields) < 8 or fields[0] == b"sl":
                    continue
                if fields[3] != _LISTEN:
                    return uids  # listening sockets are listed first: the rest is traffic
                if fields[1] in wanted and fields[7].isdigit():
                    uids.append(int(fields[7]))
    except OSError:
        return None
    finally:
        os.close(fd)
    return uids
