"""The README stays a front door and the manual in docs/ stays whole.

Why: the README grew into a 900-line manual, code comments pointed at a design file outside
the repository and at a docs/lint.md that did not exist, and a moved section silently broke
every "see …" that named it. These tests make each of those a failure naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
README_LIMIT = 250  # lines
# The pages whose relative links must resolve: the front door, the manual, the examples'.
PAGES = sorted([README, *(REPO / "docs").glob("*.md"), *(REPO / "examples").rglob("*.md")])
# Where code and packaging may name a page of the manual.
SOURCES = ("lbcheck", "checks", "notify", "tests", "bin", "debian", "examples")
# Other projects' keepalived.conf files, whose source notes name *their* docs/ pages.
THIRD_PARTY = REPO / "tests" / "integration" / "realworld"

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_DOCS_PATH = re.compile(r"\bdocs/([\w.-]+\.md)\b")


def prose(text: str) -> str:
    """The Markdown without code: a `#` or `[x](y)` inside a code block is neither."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (but - and _), spaces → -."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")  # ` and * go too


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2… as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    return [target for target in _LINK.findall(prose(page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, mailto: … are not ours


def test_the_readme_is_a_front_door() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_LIMIT, f"README.md has {lines} lines: move the detail to docs/"


def test_the_manual_has_its_pages() -> None:
    """The pages code and other pages name exist (the link test below only sees links)."""
    names = {p.name for p in (REPO / "docs").glob("*.md")}
    assert {"checks.md", "notify.md", "lint.md", "watch.md", "security.md", "profiles.md",
            "measurements.md", "architecture.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    """A link names an existing file, and an #anchor a heading in it."""
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(REPO)}")
    assert [] == broken


def test_every_docs_page_named_in_code_exists() -> None:
    """A comment or docstring naming a page of the manual sends its reader somewhere real."""
    missing = []
    for top in SOURCES:
        for path in sorted((REPO / top).rglob("*")):
            if (not path.is_file() or "__pycache__" in path.parts
                    or path.is_relative_to(THIRD_PARTY)):
                continue
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue  # captured binary fixtures
            missing += [f"{path.relative_to(REPO)}: docs/{name}"
                        for name in _DOCS_PATH.findall(text)
                        if not (REPO / "docs" / name).is_file()]
    assert [] == missing


@pytest.mark.parametrize(("heading", "expected"), [
    ("keepalived.conf", "keepalivedconf"),
    ("Lint: `lbcheck lint`", "lint-lbcheck-lint"),
    ("Reloads, restarts and big configs are not failures",
     "reloads-restarts-and-big-configs-are-not-failures"),
    ("Notify: event → handlers, in order", "notify-event--handlers-in-order"),
    ("track_file and **metrics**", "track_file-and-metrics"),
])
def test_slug_follows_github(heading: str, expected: str) -> None:
    assert expected == slug(heading)
