"""Credentials out of every line we print or log.

Webhook URLs are keys in disguise (``https://hooks.example/services/T0/B0/SECRET``,
``…?token=…``, ``https://user:pw@host/``), and an error message from ``requests`` or a
pager's reply quotes them, or the routing key, back at us. Logs go to syslog and files
other people read, so anything that may hold a secret passes through :func:`redact` first,
and a config whose URLs carry credentials must be root's alone, like one holding keys.

No third-party imports: the check path (``lbcheck http URL``) uses it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"
# A path segment that looks like a token: long, URL-safe, and not a plain lower-case word
# ("alerts-production" is a name; "T024BE7LD", "XXXXXXXXXXXXXXXXXXXXXXXX", a hex id are not).
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~+=]{16,}")
MIN_SECRET = 4  # shorter strings would mask ordinary words in a message
# The userinfo of any URL in a message (scheme://user:pw@host): masked whatever its length —
# "pw" is too short to mask everywhere, never too short to mask there.
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")


def _token_like(segment: str) -> bool:
    return bool(_TOKEN_CHARS.fullmatch(segment)) and any(
        c.isdigit() or c.isupper() for c in segment
    )


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that are credentials: userinfo, query values, token-like segments."""
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:
        return [url]  # not even a URL: all of it, to be safe
    found = [s for s in (username, password) if s]
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if value:
            found.append(value)
    found += [seg for seg in parts.path.split("/") if _token_like(seg)]
    return found


def url_has_credentials(url: str) -> bool:
    return bool(url_secrets(url))


def redact_url(url: str) -> str:
    """``url`` fit to print: credentials replaced by ``***``, the host kept for on-call."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    if parts.username or parts.password:
        netloc = f"{MASK}@{netloc}"
    path = "/".join(MASK if _token_like(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(
        f"{key}={MASK}" if sep else key
        for key, sep, _ in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (raw or percent-encoded) masked."""
    variants: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET:
            variants.update((secret, quote(secret, safe=""), quote(secret)))
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, MASK)
    return _USERINFO.sub(f"{MASK}@", text)
