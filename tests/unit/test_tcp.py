"""TCP probe targets: HOST:PORT and [IPv6]:PORT, and what is refused before any connect."""

from __future__ import annotations

import pytest

from lbcheck.checks.tcp import parse_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("lb1.example.net:443", ("lb1.example.net", 443)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:8080", ("::1", 8080)),
        ("[2001:db8::10]:65535", ("2001:db8::10", 65535)),
        ("[fe80::1%eth0]:22", ("fe80::1%eth0", 22)),
        ("10.0.0.1:0080", ("10.0.0.1", 80)),
    ],
)
def test_valid_targets(target: str, expected: tuple[str, int]) -> None:
    """A host or bracketed IPv6 address, then a port 1..65535."""
    assert expected == parse_target(target)


@pytest.mark.parametrize(
    "target",
    ["", "localhost", "localhost:", ":80", "[::1]", "host:0", "host:65536", "host:-1",
     "host:http", "host:80 ", "host:8.0"],
)
def test_invalid_targets_raise_value_error_naming_the_target(target: str) -> None:
    """No port, no host, a port out of range or not a number: ValueError quoting the input."""
    with pytest.raises(ValueError, match="expected HOST:PORT or \\[IPv6\\]:PORT") as caught:
        parse_target(target)
    assert repr(target) in str(caught.value)


def test_empty_brackets_are_not_a_host() -> None:
    """'[]:80' names no host: rejected like ':80', before any resolving."""
    with pytest.raises(ValueError):
        parse_target("[]:80")
