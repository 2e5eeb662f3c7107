"""Active TCP probe: can a client complete a handshake with HOST:PORT right now?"""

from __future__ import annotations

import socket

from lbcheck.deadline import Deadline
from lbcheck.outcome import ProbeError, Sample, State


def parse_target(target: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``; raises ValueError with the reason."""
    host, sep, port = target.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if (not sep or not port.isascii() or not port.isdecimal() or not host or "[" in host
            or "]" in host or "\0" in host
            or (":" in host and not bracketed) or not 0 < int(port) < 65536):
        raise ValueError(f"{target!r}: expected HOST:PORT or [IPv6]:PORT")
    return host, int(port)


def probe(target: str, deadline: Deadline) -> Sample:
    host, port = parse_target(target)
    try:
        with socket.create_connection((host, port), timeout=deadline.timeout()):
            pass
    except ConnectionRefusedError:
        raise ProbeError(State.CRITICAL, f"{target}: connection refused") from None
    except TimeoutError:
        raise ProbeError(State.CRITICAL, f"{target}: no answer within "
                         f"{deadline.seconds:g} s") from None
    except socket.gaierror as exc:
        raise ProbeError(State.UNKNOWN,
                         f"{target}: cannot resolve {host}: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:  # IDNA refuses the name ("a..b", 64+ chars)
        raise ProbeError(State.UNKNOWN, f"{target}: not a host name: {exc}") from None
    except OSError as exc:
        raise ProbeError(State.CRITICAL, f"{target}: {exc.strerror or exc}") from None
    return Sample("tcp", State.OK, f"{target} accepts connections")
