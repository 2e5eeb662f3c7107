"""Fitting page text into the pagers' length limits without losing what it says.

The vendors count limits in characters (Opsgenie ``message`` ≤ 130, PagerDuty ``summary`` ≤
1024, …) and neither says which characters. Opsgenie runs on the JVM, whose String counts UTF-16
code units, where an emoji is two; so every length here is counted in UTF-16 code units, which
is never less than the code points a Ruby or Python service would count: text that fits here
fits there. Cuts fall between code points, never inside a surrogate pair.

Cutting from the end (``summary[:130]``) dropped the very word that says what happened when the
host and instance names were long (``…fra1a ente``). :func:`fit` shortens the *names* inside a
text in their middle, keeping both ends of each (``VI_…_tail``, ``lb-…-fra1a``: the ends are
what tells instances and hosts apart), and the words around them whole.
"""

from __future__ import annotations

from collections.abc import Iterable

ELLIPSIS = "…"
MIN_PART = 9  # a shortened name keeps at least this much: "VI_…_tail"


def units(text: str) -> int:
    """Length in UTF-16 code units: the strictest "characters" a pager may count."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def head(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` units."""
    size = 0
    for i, char in enumerate(text):
        size += 2 if ord(char) > 0xFFFF else 1
        if size > limit:
            return text[:i]
    return text


def tail(text: str, limit: int) -> str:
    """The longest suffix of ``text`` within ``limit`` units."""
    return head(text[::-1], limit)[::-1]


def middle(text: str, limit: int) -> str:
    """``text`` within ``limit`` units, cut in the middle where an ellipsis marks the cut."""
    if units(text) <= limit:
        return text
    if limit < 3:
        return head(text, limit)
    keep = limit - units(ELLIPSIS)
    start = head(text, (keep + 1) // 2)
    return start + ELLIPSIS + tail(text, keep - units(start))


def fit(text: str, parts: Iterable[str], limit: int) -> str:
    """``text`` within ``limit`` units, shortening the ``parts`` (names) it contains first.

    Each part is shortened in its middle, the longest ones most (the room left by the fixed
    words is shared out so that short names stay whole); only when the fixed words alone do
    not fit is the whole text cut in its middle, which still keeps its first words (the state)
    and its last.
    """
    if units(text) <= limit:
        return text
    spans = _spans(text, parts)
    pieces: list[tuple[str, bool]] = []  # (text, is a part)
    at = 0
    for start, end in spans:
        pieces += [(text[at:start], False), (text[start:end], True)]
        at = end
    pieces.append((text[at:], False))
    names = [piece for piece, is_part in pieces if is_part]
    room = limit - sum(units(piece) for piece, is_part in pieces if not is_part)
    shares = iter(_share(room, [units(n) for n in names]) if names else [])
    rebuilt = "".join(middle(piece, next(shares)) if is_part else piece
                      for piece, is_part in pieces)
    return rebuilt if units(rebuilt) <= limit else middle(rebuilt, limit)


def _spans(text: str, parts: Iterable[str]) -> list[tuple[int, int]]:
    """First non-overlapping occurrence of each part, longest parts placed first."""
    spans: list[tuple[int, int]] = []
    for part in sorted({p for p in parts if p}, key=len, reverse=True):
        start = text.find(part)
        while start >= 0 and any(start < e and s < start + len(part) for s, e in spans):
            start = text.find(part, start + 1)
        if start >= 0:
            spans.append((start, start + len(part)))
    return sorted(spans)


def _share(room: int, sizes: list[int]) -> list[int]:
    """Split ``room`` units among parts of ``sizes``: small ones whole, the rest equally."""
    shares = [0] * len(sizes)
    left, count = room, len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        shares[i] = max(MIN_PART, min(sizes[i], left // count))
        left -= shares[i]
        count -= 1
    return shares
