"""Talk to HAProxy's stats socket (or master CLI): one command per connection, bounded.

A socket that accepts but never answers is the signature of a hung haproxy (the kernel
completes the connection; nobody reads it). Every failure becomes a :class:`ProbeError`
whose reason says exactly what happened, because this text is what the on-call reads. A
refused or reset connection is also what a reload looks like for a moment, and so is, rarely,
silence (an old worker that accepted the connection as it stopped): all are marked transient
and asked again while the deadline allows (lbcheck.checks.retry). A really hung haproxy stays
silent on every attempt and fails at the deadline, as it did with one attempt.

An answer is believed only from a listener root (or the haproxy user) owns
(lbcheck.checks.listeners): ``nobody``'s fake on a TCP stats port is refused before it is asked.
"""

from __future__ import annotations

# The C module, not `socket`: socket.py converts its constants to IntEnums on import, which
# costs ~2.5 ms (measured) — a tenth of the check's budget over the click floor.
import _socket
import errno

from lbcheck.checks.listeners import owner_problem
from lbcheck.deadline import Deadline, DeadlineExceeded
from lbcheck.outcome import ProbeError, State


class NoAnswer(ProbeError):
    """Accepted and silent (or a full backlog): what a hung haproxy looks like."""

    def __init__(self, reason: str) -> None:
        super().__init__(State.CRITICAL, reason, transient=True)


MAX_REPLY = 16 * 1024 * 1024  # `show stat` of a very large config; anything bigger is garbage


def query(path: str, command: str, deadline: Deadline, what: str = "stats socket") -> str:
    """Send ``command`` and return the full reply (HAProxy closes after answering)."""
    sock = _connect(path, deadline, what)
    chunks: list[bytes] = []
    size = 0
    try:
        try:
            sock.settimeout(deadline.timeout())
            sock.sendall(command.encode() + b"\n")
            while True:
                sock.settimeout(deadline.timeout())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_REPLY:
                    raise ProbeError(State.UNKNOWN, f"{what} {path}: reply to {command!r} "
                                     f"exceeds {MAX_REPLY} bytes")
        except (TimeoutError, DeadlineExceeded):  # transient while there is time to ask again:
            raise NoAnswer(  # an old worker can swallow a connection during a reload
                f"{what} {path} accepted the connection but "
                f"{f'sent only {size} bytes' if size else 'did not answer'} "
                f"to {command!r} within {deadline.seconds:.2g} s: haproxy is hung or overloaded",
            ) from None
        except ConnectionError:  # reset, broken pipe: the listener went away (a reload)
            raise ProbeError(State.CRITICAL, f"{what} {path}: connection reset during "
                             f"{command!r}", transient=True) from None
        except OSError as exc:
            raise ProbeError(State.UNKNOWN, f"{what} {path}: {exc.strerror or exc} "
                             f"during {command!r}") from None
    finally:
        sock.close()
    if not size:  # a listener closing mid-reload (seen on 3.2's master CLI): ask again
        raise ProbeError(State.CRITICAL, f"{what} {path} closed the connection without a reply "
                         f"to {command!r}", transient=True)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _connect(path: str, deadline: Deadline, what: str) -> _socket.socket:
    try:
        family, address = parse_address(path)
    except ValueError as exc:  # from a config file: the CLI refuses it before (exit 2)
        raise ProbeError(State.UNKNOWN, f"{what} {path!r}: {exc}") from None
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline.timeout())
        sock.connect(address)
    except FileNotFoundError:
        sock.close()
        raise ProbeError(State.UNKNOWN, f"{what} {path} does not exist (is haproxy running "
                         f"with `stats socket {path}` in its global section?)") from None
    except PermissionError:
        sock.close()
        raise ProbeError(State.UNKNOWN, f"permission denied connecting to {what} {path} "
                         "(run as root or a member of the socket's group)") from None
    except ConnectionRefusedError:
        sock.close()
        raise ProbeError(State.CRITICAL, f"{what} {path} refused the connection: nothing is "
                         "listening (haproxy dead, socket file stale)", transient=True) from None
    except ConnectionError:  # reset while the listener is closed and re-created (a reload)
        sock.close()
        raise ProbeError(State.CRITICAL, f"{what} {path} reset the connection",
                         transient=True) from None
    except (TimeoutError, DeadlineExceeded):
        sock.close()
        raise NoAnswer(f"connecting to {what} {path} timed out after "
                       f"{deadline.seconds:.2g} s (listen backlog full: haproxy hung?)") from None
    except OSError as exc:
        sock.close()
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise ProbeError(State.UNKNOWN, f"cannot connect to {what} {path}: {reason}") from None
    try:
        problem = owner_problem(sock)
    except OSError as exc:
        problem = f"cannot tell who listens ({exc.strerror or exc})"
    if problem is not None:
        sock.close()
        raise ProbeError(State.UNKNOWN, f"{what} {path} is not haproxy's: {problem}; "
                         "not believing its answer")
    return sock


def parse_address(path: str) -> tuple[int, str | tuple[str, int]]:
    """A filesystem path, or ``ipv4@HOST:PORT`` / ``HOST:PORT`` as HAProxy spells TCP sockets.

    Raises ValueError for what cannot be a socket address: a NUL byte, a port out of range, a
    host that is not an IPv4 address (no name lookup on the every-second path: it can block
    past the deadline, and the stats socket is local).
    """
    if "\0" in path:
        raise ValueError("a socket path cannot hold a NUL byte")
    spec = path.removeprefix("ipv4@").removeprefix("tcp@").removeprefix("unix@")
    if "/" not in spec and spec.count(":") == 1:
        host, _, port = spec.partition(":")
        if port.isascii() and port.isdigit():
            if not 0 < int(port) < 65536:
                raise ValueError(f"port {port} is out of range (1-65535)")
            host = {"": "127.0.0.1", "localhost": "127.0.0.1"}.get(host, host)
            try:
                _socket.inet_pton(_socket.AF_INET, host)
            except (OSError, ValueError):  # UnicodeEncodeError: a non-UTF-8 argv byte
                raise ValueError(f"{host!r} is not an IPv4 address") from None
            return _socket.AF_INET, (host, int(port))
    if not spec:
        raise ValueError("empty socket path")
    return _socket.AF_UNIX, spec
