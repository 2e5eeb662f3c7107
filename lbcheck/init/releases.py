"""What a keepalived release can be given, read from lint's keyword table.

The table (keepalived_conf/keywords.json) knows a keyword per *scanned* release: its first and
last. A release between two scanned ones is judged by both neighbours — known only when the
older one already had it and the newer one still has it — so a guess never writes a keyword
the operator's keepalived calls unknown. A release newer than the table is judged as the
newest scanned one; one older than the oldest knows nothing.
"""

from __future__ import annotations

import re

from lbcheck.init import InitError
from lbcheck.keepalived_conf.keywords import table

DEFAULT = "2.2.7"  # Debian 12's keepalived, which the e2e suite runs
_RELEASE = re.compile(r"\d{1,3}(\.\d{1,3}){1,2}")


def key(release: str) -> tuple[int, ...]:
    return tuple(int(p) for p in release.split("."))


def parse(text: str) -> str:
    """``X.Y[.Z]`` → the release, or InitError."""
    if not _RELEASE.fullmatch(text):
        raise InitError(f"--keepalived-version {text!r} is no release: X.Y.Z, e.g. 2.2.7")
    return text


def knows(release: str, block: str, keyword: str) -> bool:
    """Whether ``release`` has ``keyword`` in ``block`` ("" is the top level)."""
    span = table().blocks.get(block, {}).get(keyword)
    if span is None:
        return False
    first, last = key(span[0]), key(span[1])
    scanned = sorted(key(v) for v in table().versions)
    wanted = key(release)
    older = [v for v in scanned if v <= wanted]
    newer = [v for v in scanned if v >= wanted]
    if not older:
        return False
    if not newer:  # past the table: as the newest release scanned
        return first <= scanned[-1] <= last
    return first <= older[-1] and last >= newer[0]


def since(block: str, keyword: str) -> str:
    """The first scanned release knowing ``keyword``, for a refusal's alternative."""
    return table().blocks.get(block, {}).get(keyword, ("?", "?"))[0]


def require(release: str, block: str, keyword: str, alternative: str) -> None:
    """InitError naming the release and what to do instead when it lacks ``keyword``."""
    if not knows(release, block, keyword):
        raise InitError(f"keepalived {release} has no {keyword} (lint's keyword table knows it "
                        f"from {since(block, keyword)}): {alternative}")


def first_known(release: str, block: str, *keywords: str) -> str | None:
    """The first of ``keywords`` (the current name first) that ``release`` knows."""
    return next((k for k in keywords if knows(release, block, k)), None)
