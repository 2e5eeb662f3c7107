"""keepalived notifications → Event: argv hooks, the generic notify hook, and FIFO lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbcheck.notify.events import (
    FIFO_ONLY_STATES,
    STATES,
    BadEvent,
    Event,
    from_fifo_line,
    from_notify_args,
    from_state_hook,
    is_checker_line,
)


def test_notify_args_with_priority() -> None:
    """`notify` appends INSTANCE|GROUP NAME STATE PRIORITY; case of kind/state is normalised."""
    event = from_notify_args(["instance", "VI_1", "master", "100"])
    assert Event("INSTANCE", "VI_1", "MASTER", 100, "argv") == event
    assert event.changes_state


def test_notify_args_without_priority() -> None:
    """A group has no priority: three fields are enough."""
    assert Event("GROUP", "G1", "FAULT", None) == from_notify_args(["GROUP", "G1", "FAULT"])


@pytest.mark.parametrize("state", STATES)
def test_every_state_is_accepted_from_argv(state: str) -> None:
    """MASTER, BACKUP, FAULT, STOP and DELETED come through the notify hook."""
    assert state == from_notify_args(["INSTANCE", "VI_1", state, "0"]).state


@pytest.mark.parametrize("state", FIFO_ONLY_STATES)
def test_fifo_only_states_are_refused_from_argv(state: str) -> None:
    """Priority notices exist only on the FIFO; on argv they are a BadEvent."""
    with pytest.raises(BadEvent, match="unknown state"):
        from_notify_args(["INSTANCE", "VI_1", state, "100"])


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ([], "got 0 field(s)"),
        (["INSTANCE", "VI_1"], "got 2 field(s)"),
        (["INSTANCE", "VI_1", "MASTER", "100", "extra"], "got 5 field(s)"),
        (["VRRP", "VI_1", "MASTER", "100"], "first field must be INSTANCE or GROUP"),
        (["INSTANCE", "VI_1", "PRIMARY", "100"], "unknown state 'PRIMARY'"),
        (["INSTANCE", "VI_1", "MASTER", "high"], "priority must be an integer, not 'high'"),
        (["INSTANCE", "VI_1", "MASTER", "256"], "priority 256 is outside 0..255"),
        (["INSTANCE", "VI_1", "MASTER", "-1"], "priority -1 is outside 0..255"),
        (["INSTANCE", "VI_1", "MASTER", ""], "priority must be an integer"),
        (["INSTANCE", "", "MASTER", "100"], "invalid instance/group name"),
        (["INSTANCE", "a\nb", "MASTER", "100"], "invalid instance/group name"),
        (["INSTANCE", "a\0b", "MASTER", "100"], "invalid instance/group name"),
        (["INSTANCE", "x" * 1025, "MASTER", "100"], "invalid instance/group name"),
        (["INSTANCE", "数" * 342, "MASTER", "100"], "invalid instance/group name"),
    ],
)
def test_bad_notify_args(args: list[str], why: str) -> None:
    """Wrong field count, kind, state, priority or name: BadEvent with a one-line reason."""
    with pytest.raises(BadEvent) as caught:
        from_notify_args(args)
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("priority", ["0", "255"])
def test_priority_bounds(priority: str) -> None:
    """0 (the FAULT advert) and 255 (address owner) are both valid priorities."""
    assert int(priority) == from_notify_args(["INSTANCE", "VI_1", "BACKUP", priority]).priority


@pytest.mark.parametrize(
    ("state", "name", "expected"),
    [
        ("master", "VI_1", Event("INSTANCE", "VI_1", "MASTER")),
        ("BACKUP", "VI_2", Event("INSTANCE", "VI_2", "BACKUP")),
        ("fault", None, Event("INSTANCE", "-", "FAULT")),
        ("stop", "web 6", Event("INSTANCE", "web 6", "STOP")),
    ],
)
def test_state_hooks(state: str, name: str | None, expected: Event) -> None:
    """`lbnotify master VI_1`: an INSTANCE event without priority; no name reads as '-'."""
    assert expected == from_state_hook(state, name)


@pytest.mark.parametrize(("state", "name"), [("primary", "VI_1"), ("MASTER_PRIORITY", "VI_1"),
                                             ("master", "a\nb"), ("master", "")])
def test_bad_state_hooks(state: str, name: str) -> None:
    """An unknown or FIFO-only state, or a name keepalived cannot have sent, is a BadEvent."""
    with pytest.raises(BadEvent):
        from_state_hook(state, name)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('INSTANCE "VI_1" MASTER 100\n', Event("INSTANCE", "VI_1", "MASTER", 100, "fifo")),
        ('GROUP "G1" BACKUP 0', Event("GROUP", "G1", "BACKUP", 0, "fifo")),
        ('INSTANCE "web 6 v6" FAULT 0', Event("INSTANCE", "web 6 v6", "FAULT", 0, "fifo")),
        ("INSTANCE VI_1 STOP 0", Event("INSTANCE", "VI_1", "STOP", 0, "fifo")),
        ('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100',
         Event("INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI", 100, "fifo")),
        ('INSTANCE "VI_1" MASTER_PRIORITY 150',
         Event("INSTANCE", "VI_1", "MASTER_PRIORITY", 150, "fifo")),
        ('INSTANCE "VI_1" BACKUP_PRIORITY 90',
         Event("INSTANCE", "VI_1", "BACKUP_PRIORITY", 90, "fifo")),
    ],
)
def test_fifo_lines(line: str, expected: Event) -> None:
    """FIFO lines carry a quoted name and may carry the FIFO-only priority notices."""
    assert expected == from_fifo_line(line)


def test_priority_notices_do_not_change_state() -> None:
    """MASTER_PRIORITY reports on the current state; it moves no VIP."""
    assert not from_fifo_line('INSTANCE "VI_1" MASTER_PRIORITY 150').changes_state


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("", "got 0 field(s)"),
        ('INSTANCE "VI_1 MASTER 100', "unparsable FIFO line"),
        ('INSTANCE "VI_1"', "got 2 field(s)"),
        ('INSTANCE "VI_1" MASTER 100 extra', "got 5 field(s)"),
        ('INSTANCE "VI_1" MASTER x', "priority must be an integer"),
        ('INSTANCE "a\rb" MASTER 100', "invalid instance/group name"),
        ('INSTANCE "" MASTER 100', "invalid instance/group name"),
    ],
)
def test_bad_fifo_lines(line: str, why: str) -> None:
    """Unbalanced quotes, wrong field counts and bad values are BadEvents, never tracebacks."""
    with pytest.raises(BadEvent, match=why.replace("(", r"\(").replace(")", r"\)")):
        from_fifo_line(line)


def test_received_time_does_not_affect_equality() -> None:
    """Two events for the same notification compare equal whenever they were received."""
    assert Event("INSTANCE", "VI_1", "MASTER", received=1.0) == Event(
        "INSTANCE", "VI_1", "MASTER", received=2.0)


WORDS = st.one_of(
    st.sampled_from(["INSTANCE", "GROUP", "instance", "VI_1", '"VI_1"', '"web 6"', "MASTER",
                     "BACKUP", "FAULT", "STOP", "DELETED", *FIFO_ONLY_STATES, "100", "0", "256",
                     "-1", '"', "'", "\\", "", "..", "a/b"]),
    st.text(max_size=12),
)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.lists(WORDS, max_size=6).map(" ".join)))
def test_any_fifo_line_is_an_event_or_bad_event(line: str) -> None:
    """Whatever arrives on the FIFO becomes an Event or a BadEvent, nothing else."""
    try:
        assert isinstance(from_fifo_line(line), Event)
    except BadEvent:
        pass


@settings(max_examples=300)
@given(st.lists(WORDS, max_size=6), st.sampled_from(["argv", "fifo"]))
def test_any_notify_args_are_an_event_or_bad_event(args: list[str], source: str) -> None:
    """Whatever keepalived (or a person) passes on argv becomes an Event or a BadEvent."""
    try:
        event = from_notify_args(args, source)
    except BadEvent:
        return
    assert event.state in (STATES + FIFO_ONLY_STATES if source == "fifo" else STATES)


@pytest.mark.parametrize("line", [
    "VS [192.0.2.10]:tcp:80 UP",
    "VS [2001:db8::10]:tcp:443 DOWN",
    "VS FWM 7 UP",
    "RS [10.0.0.2]:tcp:8080 [192.0.2.10]:tcp:80 DOWN",
])
def test_checker_lines_of_the_combined_fifo_are_recognised(line: str) -> None:
    """keepalived's checker writes VS/RS lines into a combined notify_fifo: known, not bad."""
    assert is_checker_line(line)


@pytest.mark.parametrize("line", [
    'INSTANCE "VI_1" MASTER 100',
    "VS",
    "VS [192.0.2.10]:tcp:80 SIDEWAYS",
    "RSX [10.0.0.2]:tcp:8080 UP",
])
def test_other_lines_are_not_checker_lines(line: str) -> None:
    """VRRP events, truncated and unknown lines are not swallowed as checker lines."""
    assert not is_checker_line(line)
