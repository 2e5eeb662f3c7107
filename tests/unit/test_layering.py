"""The trunk (lbcheck/) does not import the halves (checks/, notify/): they import it.

README's Layout calls lbcheck/ the trunk both halves share. If a trunk module imports
lbcheck.checks or lbcheck.notify, the dependency runs both ways and the rooms stop saying what
they hold (issue 18). The composition root, lbcheck/cli.py, is the one trunk module that may:
it wires the check half's probes into the `lbcheck` command.

Imports are read with ast from the checkout's source (what people edit), every form and
every depth: `import x`, `from x import y`, `from . import y`, inside functions and
TYPE_CHECKING blocks alike. A lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRUNK = REPO / "lbcheck"
HALVES = ("lbcheck.checks", "lbcheck.notify")
COMPOSITION_ROOT = "lbcheck.cli"

# Where each package's source lives in the checkout (pyproject's package-dir).
SOURCES = {"lbcheck": REPO / "lbcheck", "lbcheck.checks": REPO / "checks",
           "lbcheck.notify": REPO / "notify"}


def module_name(path: Path, package: str = "lbcheck") -> str:
    """``lbcheck/keepalived_conf/model.py`` → ``lbcheck.keepalived_conf.model``;
    ``checks/watch/watcher.py`` (package ``lbcheck.checks``) → ``lbcheck.checks.watch.watcher``."""
    parts = [package, *path.relative_to(SOURCES[package]).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything ``tree`` imports, relative imports made absolute.

    ``from a import b`` yields ``a.b`` as well as ``a``: b may be a submodule (``from lbcheck
    import checks``), and a prefix test on the longer name catches that case too.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}"


def in_a_half(name: str, halves: tuple[str, ...] = HALVES) -> bool:
    """Whether ``name`` is one of ``halves`` or inside one (not merely sharing a prefix)."""
    return any(name == half or name.startswith(half + ".") for half in halves)


def half_imports(path: Path, package: str = "lbcheck",
                 halves: tuple[str, ...] = HALVES) -> list[str]:
    """``file:line name`` for each import of one of ``halves`` in the module at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = {(line, name) for line, name in
             imported(tree, module_name(path, package), path.name == "__init__.py")
             if in_a_half(name, halves)}
    return [f"{path.relative_to(REPO)}:{line} {name}" for line, name in sorted(found)]


def trunk_modules() -> dict[str, Path]:
    """Every module of the checkout's trunk, by dotted name."""
    return {module_name(path): path for path in sorted(TRUNK.rglob("*.py"))}


def test_the_trunk_imports_no_half() -> None:
    """No trunk module but the composition root imports checks/ or notify/."""
    modules = trunk_modules()
    assert COMPOSITION_ROOT in modules and len(modules) > 20  # the walk found the trunk
    violations = [hit for name, path in modules.items() if name != COMPOSITION_ROOT
                  for hit in half_imports(path)]
    assert [] == violations, (
        "the trunk (lbcheck/) must not import checks/ or notify/ (only lbcheck/cli.py wires "
        "them): move the code to the half that uses it, or pass it in from the CLI")


@pytest.mark.parametrize(("half", "other"), [("lbcheck.checks", "lbcheck.notify"),
                                             ("lbcheck.notify", "lbcheck.checks")])
def test_the_halves_do_not_import_each_other(half: str, other: str) -> None:
    """checks/ and notify/ meet only in the trunk: what both need lives there."""
    paths = sorted(SOURCES[half].rglob("*.py"))
    assert len(paths) > 10  # the walk found the half
    violations = [hit for path in paths for hit in half_imports(path, half, (other,))]
    assert [] == violations, f"{half} imports {other}: move what both use to the trunk"


TOP_LEVEL = """\
import lbcheck.checks.haproxy
from lbcheck.notify import cli
from lbcheck import checks as probes
from . import notify
from .checks.tcp import probe
import lbcheck.checksum, lbcheck.config
from lbcheck import config, notifying
from .outcome import Outcome
from lbcheck.lint import *

def late() -> None:
    from lbcheck.notify.paging import outbox
"""

NESTED = """\
from . import checks
from ..notify.events import Event
if TYPE_CHECKING:
    from ..checks import haproxy
"""


def half_hits(source: str, module: str) -> list[tuple[int, str]]:
    """(line, name) of the imports of a half in ``source`` read as ``module``."""
    return sorted({hit for hit in imported(ast.parse(source), module) if in_a_half(hit[1])})


def test_the_reader_sees_every_import_form() -> None:
    """Absolute, relative, aliased, function-level and TYPE_CHECKING imports of a half are
    found; a name that only shares a prefix with one (lbcheck.checksum) is not."""
    assert [
        (1, "lbcheck.checks.haproxy"),
        (2, "lbcheck.notify"), (2, "lbcheck.notify.cli"),
        (3, "lbcheck.checks"),
        (4, "lbcheck.notify"),
        (5, "lbcheck.checks.tcp"), (5, "lbcheck.checks.tcp.probe"),
        (12, "lbcheck.notify.paging"), (12, "lbcheck.notify.paging.outbox"),
    ] == half_hits(TOP_LEVEL, "lbcheck.outcome")
    assert [  # `.` is lbcheck.keepalived_conf, so `from . import checks` is not a half
        (2, "lbcheck.notify.events"), (2, "lbcheck.notify.events.Event"),
        (4, "lbcheck.checks"), (4, "lbcheck.checks.haproxy"),
    ] == half_hits(NESTED, "lbcheck.keepalived_conf.model")
    # lbcheck/__init__.py: `.` is lbcheck itself, so there it is a half.
    assert [(1, "lbcheck.checks")] == sorted(
        hit for hit in imported(ast.parse("from . import checks\n"), "lbcheck", is_package=True)
        if in_a_half(hit[1]))
