"""keepalived's notifications, from argv or a FIFO line, as one Event type.

keepalived calls us three ways (docs/notify.md): per-state hooks (``lbnotify master VI_1``),
the generic ``notify`` hook (4 appended args) and the notify FIFO (one line per event). All
of them become an :class:`Event`; anything else is a :class:`BadEvent` with a one-line
reason, never a traceback.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field

from lbcheck.notify.names import encoded

KINDS = ("INSTANCE", "GROUP")
# States that change who holds the VIPs, and the FIFO-only priority notices.
STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
FIFO_ONLY_STATES = ("MASTER_RX_LOWER_PRI", "MASTER_PRIORITY", "BACKUP_PRIORITY")
# keepalived takes any whitespace-free token as a vrrp_instance / vrrp_sync_group name: "/", "..",
# CJK, emoji. Its config reader's 1024-byte line buffer is the only bound, so no name it can
# notify about is longer. Names are bounded in bytes, like the files named after them.
MAX_NAME_BYTES = 1024


class BadEvent(ValueError):
    """Input that is not a keepalived notification."""


@dataclass(frozen=True)
class Event:
    kind: str  # INSTANCE | GROUP
    name: str  # vrrp_instance or vrrp_sync_group name
    state: str  # one of STATES or FIFO_ONLY_STATES
    priority: int | None = None
    source: str = "argv"  # argv | fifo
    received: float = field(default_factory=time.time, compare=False)

    @property
    def changes_state(self) -> bool:
        """Priority notices report on a state, they do not move to one."""
        return self.state in STATES


def from_notify_args(args: list[str], source: str = "argv") -> Event:
    """``INSTANCE|GROUP NAME STATE PRIORITY`` (what ``notify`` and the FIFO carry)."""
    if len(args) not in (3, 4):
        raise BadEvent(
            f"expected INSTANCE|GROUP NAME STATE [PRIORITY], got {len(args)} field(s): "
            f"{' '.join(args)[:120]!r}"
        )
    kind, name, state = args[0].upper(), args[1], args[2].upper()
    if kind not in KINDS:
        raise BadEvent(f"first field must be INSTANCE or GROUP, not {args[0][:40]!r}")
    _check_name(name)
    allowed = STATES + FIFO_ONLY_STATES if source == "fifo" else STATES
    if state not in allowed:
        raise BadEvent(f"unknown state {args[2][:40]!r}; expected one of {', '.join(allowed)}")
    priority: int | None = None
    if len(args) == 4:
        digits = args[3].removeprefix("-")
        if not (digits.isascii() and digits.isdecimal()):  # int() would take "1_0", "²"…
            raise BadEvent(f"priority must be an integer, not {args[3][:20]!r}")
        priority = int(args[3])
        if not 0 <= priority <= 255:
            raise BadEvent(f"priority {priority} is outside 0..255")
    return Event(kind=kind, name=name, state=state, priority=priority, source=source)


def from_state_hook(state: str, name: str | None) -> Event:
    """``notify_master "/usr/bin/lbnotify master VI_1"``: no kind, no priority given."""
    state = state.upper()
    if state not in STATES:
        raise BadEvent(f"unknown state {state!r}")
    if name is None:
        name = "-"  # keepalived gave us no name: a hook for one instance, by convention
    else:
        _check_name(name)
    return Event(kind="INSTANCE", name=name, state=state)


def from_fifo_line(line: str) -> Event:
    """One FIFO line: ``INSTANCE "VI_1" MASTER 100`` (the name is quoted)."""
    try:
        fields = shlex.split(line.strip())
    except ValueError as exc:
        raise BadEvent(f"unparsable FIFO line ({exc}): {line.strip()[:120]!r}") from None
    return from_notify_args(fields, source="fifo")


def is_checker_line(line: str) -> bool:
    """A checker line of keepalived's combined ``notify_fifo``: not a VRRP event, not garbage.

    keepalived's checker writes ``VS <vs> UP|DOWN`` and ``RS <rs> <vs> UP|DOWN`` (ipwrapper.c,
    ``notify_fifo_vs`` / ``notify_fifo_rs``); ``<vs>`` is ``[ADDR]:PROTO:PORT`` or ``FWM N``.
    """
    fields = line.split()
    return len(fields) >= 3 and fields[0] in ("VS", "RS") and fields[-1] in ("UP", "DOWN")


def _check_name(name: str) -> None:
    """Refuse only what keepalived cannot have sent; file names are made safe elsewhere.

    "/", "." and ".." were refused once because the name was used as a file name as is; a
    keepalived.conf using them lost its pages. :mod:`lbcheck.notify.names` now derives every
    file name, so the only limits left are keepalived's own: no NUL or line break (they would
    split its FIFO lines and argv) and its line length.
    """
    if not name or any(c in name for c in "\0\n\r") or len(encoded(name)) > MAX_NAME_BYTES:
        raise BadEvent(f"invalid instance/group name {name[:40]!r}")
