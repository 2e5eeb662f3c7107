"""keepalived's notifications → Event: exact on what keepalived sends, and no input raises
anything but BadEvent (which lbnotify turns into one line and exit 2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.notify.events import BadEvent, from_fifo_line, from_notify_args, from_state_hook


def test_fifo_line_with_quoted_name() -> None:
    """`INSTANCE "VI_1" MASTER 100`, as the notify FIFO writes it."""
    event = from_fifo_line('INSTANCE "VI 1" MASTER_RX_LOWER_PRI 100\n')
    assert ("INSTANCE", "VI 1", "MASTER_RX_LOWER_PRI", 100, "fifo") == (
        event.kind, event.name, event.state, event.priority, event.source)


def test_notify_args_and_state_hooks() -> None:
    """`notify` appends four args; notify_master gets what the operator wrote."""
    group = from_notify_args(["GROUP", "G", "FAULT", "0"])
    hook = from_state_hook("backup", "VI_1")
    assert ("GROUP", "G", "FAULT", 0) == (group.kind, group.name, group.state, group.priority)
    assert ("INSTANCE", "VI_1", "BACKUP", None) == (hook.kind, hook.name, hook.state,
                                                    hook.priority)


@pytest.mark.parametrize("args", [
    ["INSTANCE", "VI_1", "MASTER_PRIORITY", "100"],  # FIFO-only state via argv
    ["INSTANCE", "VI_1", "MASTER", "300"],
    ["INSTANCE", "../x", "MASTER", "100"],
    ["INSTANCE"],
])
def test_bad_argv_is_a_bad_event(args: list[str]) -> None:
    """States only the FIFO carries, out-of-range priorities, path-like names, short input."""
    with pytest.raises(BadEvent):
        from_notify_args(args)


WORDS = st.sampled_from(["INSTANCE", "GROUP", '"VI_1"', "VI_1", "MASTER", "BACKUP", "FAULT",
                         "STOP", "MASTER_RX_LOWER_PRI", "100", "-1", "256", '"', "'", "\\",
                         "\x00", "é", " ", "/"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(WORDS, max_size=6).map(" ".join), st.text(max_size=120)))
def test_any_fifo_line_is_an_event_or_bad_event(line: str) -> None:
    """Whatever reaches the FIFO, the reader gets an Event or BadEvent."""
    try:
        from_fifo_line(line)
    except BadEvent:
        pass


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=20)), max_size=6))
def test_any_argv_is_an_event_or_bad_event(args: list[str]) -> None:
    """Whatever keepalived (or a human) passes, an Event or BadEvent."""
    try:
        from_notify_args(args)
    except BadEvent:
        pass
    try:
        from_state_hook(args[0] if args else "", args[1] if len(args) > 1 else None)
    except BadEvent:
        pass
