"""Option types that refuse at the edge what would otherwise fail deep inside as a bug.

click's ``FloatRange`` lets ``nan`` through (every comparison with it is false): a
``--deadline nan`` check then "timed out after 0 s". A NUL byte in a path makes ``open``
raise ValueError, a TCP port past 65535 makes ``connect`` raise OverflowError: neither is an
OSError the probes expect, so each surfaced as "internal error". Every option a user can type
goes through one of these types and is refused in one line with exit 2 (usage) instead.

Stdlib + click only: the every-second check builds its options from these.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import click


class Seconds(click.FloatRange):
    """A finite number of seconds in [low, high]: no nan, no inf."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__(low, high)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return number


class Text(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A string that can reach the OS: no NUL byte (and, unless ``empty``, not empty)."""

    name = "text"

    def __init__(self, what: str = "value", empty: bool = False,
                 shown: Callable[[str], str] = repr) -> None:
        self.what = what
        self.empty = empty
        self.shown = shown  # a URL's credentials must not reach the error line

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if "\0" in value:
            self.fail(f"a {self.what} cannot hold a NUL byte: {self.shown(value)}", param, ctx)
        if not value and not self.empty:
            self.fail(f"an empty {self.what}", param, ctx)
        return value


def _redacted(url: str) -> str:
    from lbcheck.redact import redact_url

    return repr(redact_url(url))


PATH = Text("path")
NAME = Text("name")
URL = Text("URL", shown=_redacted)


def escape_unprintable() -> None:
    """A non-UTF-8 argument (``lbcheck process $'\\xff'``) comes back in a reason; printing
    it to a UTF-8 terminal must escape it, not raise UnicodeEncodeError mid-verdict."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def one_line(text: str) -> str:
    """An error message as the one line the exit-code contract promises: a newline (or any
    other control character: a terminal escape, U+2028) that came in with a user's value is
    shown escaped, not obeyed."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace")
                   .decode("ascii") for c in text)
