"""Credentials never printed: lbcheck.redact on the messages requests and pagers produce."""

from __future__ import annotations

import pytest

from lbcheck.redact import redact, redact_url, url_secrets


@pytest.mark.parametrize("message", [
    # urllib3's error for a port out of range quotes the URL, password and all; the fuzz
    # test found it with a 2-character password, shorter than a secret masked everywhere.
    "Failed to parse: http://admin:pw@127.0.0.1:65536/",
    "Failed to parse: http://***:pw@127.0.0.1:65536/",
    "HTTPConnectionPool(host='x'): http://u:p@x/ failed",
])
def test_the_userinfo_of_any_url_in_a_message_is_masked(message: str) -> None:
    url = "http://admin:pw@127.0.0.1:65536/"
    shown = redact(message, url_secrets(url))
    assert "pw@" not in shown and ":p@" not in shown
    assert "***@" in shown


def test_short_secrets_elsewhere_in_a_message_stay_readable() -> None:
    """A short password is not hunted through the whole text: 'pw' may be part of a word."""
    assert redact("upward progress", ["pw"]) == "upward progress"


def test_redact_url_keeps_the_host_for_on_call() -> None:
    assert redact_url("https://u:secret@hooks.example:8443/T024BE7LDXXXXXXXXXXX?token=abc"
                      ) == "https://***@hooks.example:8443/***?token=***"
