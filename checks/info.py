"""`show info`: is this haproxy the current, serving process?

Parsing is pure and strict about shape: the socket may hand us garbage (a different daemon
behind the path), a half answer (EOF mid-reply) or nothing. HAProxy ends every reply with an
empty line, so a reply without one was cut short.
"""

from __future__ import annotations

from lbcheck.outcome import ProbeError, Sample, State

REQUIRED = ("Name", "Pid")


def parse_info(reply: str) -> dict[str, str]:
    """``Key: value`` lines → dict; raises ProbeError for anything that is not `show info`."""
    if not reply.strip():
        raise ProbeError(State.CRITICAL, "stats socket closed the connection without a reply",
                         transient=True)
    fields: dict[str, str] = {}
    for line in reply.splitlines():
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or not key[0].isalpha():
            raise ProbeError(State.UNKNOWN, f"not a HAProxy `show info` reply: {line[:60]!r}")
        fields[key.strip()] = value.strip()
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        raise ProbeError(State.UNKNOWN, f"`show info` reply lacks {', '.join(missing)}: "
                         "not HAProxy, or the reply was cut short")
    if not reply.endswith("\n\n"):  # a process exiting mid-reply: asked again
        raise ProbeError(State.UNKNOWN, f"`show info` reply was cut short after {len(reply)} "
                         "bytes (no terminating empty line)", transient=True)
    return fields


def judge_info(info: dict[str, str]) -> Sample:
    """A soft-stopping process is not serving; it is transient because, during a reload, the
    old worker can still accept a connection while the new one serves: asking again on a fresh
    connection reaches the new worker. A haproxy really stopping answers the same every time.
    """
    pid = info.get("Pid", "?")
    version = info.get("Version", "?")
    if info.get("Stopping", "0") not in ("0", ""):
        raise ProbeError(State.CRITICAL, f"haproxy {pid} reports Stopping: {info['Stopping']} "
                         "(soft-stop in progress, and no other process answered)",
                         transient=True)
    metrics: list[tuple[str, float]] = []
    for key, name in (("Uptime_sec", "uptime_s"), ("Idle_pct", "idle_pct"),
                      ("CurrConns", "conns")):
        value = info.get(key, "")
        if value.isdecimal():  # not isdigit: '²' is a digit int() refuses
            metrics.append((name, float(value)))
    idle = info.get("Idle_pct", "")
    reason = f"haproxy {version} pid {pid} answers (idle {idle or '?'}%)"
    return Sample("socket", State.OK, reason, metrics=tuple(metrics))
