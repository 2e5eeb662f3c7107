"""Structured logging for transitions and notify events (structlog).

keepalived throws away script output, so logs go to syslog (journald picks it up), stderr,
or a JSON-lines file. Importing this module imports structlog: the healthy check path never
does.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import syslog
from functools import lru_cache, partialmethod
from typing import Any, TextIO

import structlog

from lbcheck.config import ConfigError, LogSection


class _SyslogSink:
    """Hands each rendered line to syslog(3); structlog calls the method named after the level."""

    def __init__(self, ident: str) -> None:
        syslog.openlog(ident, syslog.LOG_PID, syslog.LOG_DAEMON)

    def _emit(self, priority: int, message: str) -> None:
        # syslog(3) takes UTF-8; a name keepalived passed as undecodable bytes (surrogates
        # here) must not cost the line: it is written escaped (\udcff) instead.
        syslog.syslog(priority, message.encode("utf-8", "backslashreplace").decode())

    debug = partialmethod(_emit, syslog.LOG_DEBUG)
    info = msg = log = partialmethod(_emit, syslog.LOG_INFO)
    warning = partialmethod(_emit, syslog.LOG_WARNING)
    error = partialmethod(_emit, syslog.LOG_ERR)
    critical = partialmethod(_emit, syslog.LOG_CRIT)


class _LineSink:
    """Appends one line per event and flushes it, so a crash loses nothing already logged."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        self._stream.write(message + "\n")
        self._stream.flush()

    log = debug = info = warning = error = critical = msg


def _sink(target: str, ident: str) -> Any:
    if target == "syslog":
        return _SyslogSink(ident)
    if target == "stderr":
        return _LineSink(sys.stderr)
    # 0600: the lines name instances, routers and pagers' answers; no symlink followed (a
    # planted one would make root append to any file).
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        directory = os.path.dirname(target)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(target, flags, 0o600)
    except OSError as exc:
        reason = "is a symlink" if exc.errno == errno.ELOOP else exc.strerror
        raise ConfigError(f"[log] target {target}: cannot append to it: {reason}") from None
    return _LineSink(open(fd, "a", encoding="utf-8", errors="backslashreplace"))


@lru_cache(maxsize=8)
def get_logger(section: LogSection, ident: str) -> Any:
    """A bound logger writing one JSON (or logfmt) line per event to ``section.target``.

    Cached: long-running callers (the watcher, the FIFO reader) log many transitions, and
    each new file sink would otherwise open the log file again.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if section.format == "json"
        else structlog.processors.LogfmtRenderer(key_order=["event", "level"])
    )
    sink = _sink(section.target, ident)
    logger = structlog.wrap_logger(
        sink,
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.BoundLogger,
    )
    return logger.bind(host=socket.gethostname(), program=ident)
