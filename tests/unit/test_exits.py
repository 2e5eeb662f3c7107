"""One exit-code table (lbcheck.exits) and one top-level guard (lbcheck.entry) for both CLIs.

keepalived sees nothing but the code, so the numbers are the contract: defined once, each
command's help names exactly the codes the table gives it, and the guard turns every error
into one line and the code the command's policy says — as the two main()s did by hand.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from lbcheck import exits
from lbcheck.cli import _POLICY as LBCHECK_POLICY
from lbcheck.cli import cli as lbcheck_cli
from lbcheck.cli import init, lint, status
from lbcheck.config import ConfigError
from lbcheck.entry import Policy, run
from lbcheck.notify.cli import _POLICY as LBNOTIFY_POLICY
from lbcheck.notify.cli import cli as lbnotify_cli
from lbcheck.outcome import State

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "lbcheck" / "exits.py"
EXIT_NAME = re.compile(r"_*EXIT_")


def assigned(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, name) of every name or attribute bound by an assignment, at any depth."""
    def names(target: ast.expr) -> Iterator[str]:
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, ast.Attribute):
            yield target.attr
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                yield from names(element)
        elif isinstance(target, ast.Starred):
            yield from names(target.value)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for name in names(target):
                yield node.lineno, name


def exit_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.relative_to(REPO)}:{line} {name}" for line, name in assigned(tree)
            if EXIT_NAME.match(name)]


def test_no_module_but_the_table_defines_an_exit_code() -> None:
    """An EXIT_ (or _EXIT_) name bound anywhere in lbcheck/, checks/ or notify/ outside
    lbcheck/exits.py is a second table in the making: import the constant instead."""
    paths = [path for top in ("lbcheck", "checks", "notify")
             for path in sorted((REPO / top).rglob("*.py"))]
    assert len(paths) > 50 and TABLE in paths  # the walk found the package
    assert {"EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_UNKNOWN"} <= {
        hit.rpartition(" ")[2] for hit in exit_constants(TABLE)}
    assert [] == [hit for path in paths if path != TABLE for hit in exit_constants(path)]


def test_the_walk_sees_every_way_to_bind_a_name() -> None:
    source = ("EXIT_A = 1\n_EXIT_CODES = {}\nEXIT_B: int = 2\nx, (EXIT_C, *EXIT_D) = 1, (2, 3)\n"
              "class C:\n    EXIT_E = 5\n    def f(self):\n        self.EXIT_F = 6\n"
              "if (EXIT_G := 7):\n    pass\nEXIT_H += 1\nNOT_AN_EXIT_CODE = 9\n")
    assert ["EXIT_A", "_EXIT_CODES", "EXIT_B", "EXIT_C", "EXIT_D", "EXIT_E", "EXIT_F", "EXIT_G",
            "EXIT_H"] == [name for _, name in sorted(assigned(ast.parse(source)))
                          if EXIT_NAME.match(name)]


def documented(help_text: str | None) -> set[int]:
    """The codes an "Exit codes: 0 …, 1 …, 2 …." sentence of a help text names."""
    assert help_text is not None
    sentence = " ".join(help_text.split()).partition("Exit codes: ")[2]
    return {int(code) for code in re.findall(r"(?:^|, )(\d+) ", sentence)}


@pytest.mark.parametrize(("command", "help_text"), [
    ("lbcheck", lbcheck_cli.help), ("lbcheck lint", lint.help),
    ("lbcheck status", status.help), ("lbcheck init", init.help),
    ("lbnotify", lbnotify_cli.help)])
def test_each_help_names_the_codes_of_the_table(command: str, help_text: str | None) -> None:
    """`--help` is what an operator reads: the codes it lists are the table's, no more."""
    assert exits.CODES[command] == documented(help_text)


def test_every_state_maps_into_the_table() -> None:
    """A verdict's code is one lbcheck documents, in either convention."""
    assert {s.exit_code for s in State} <= exits.CODES["lbcheck"]
    assert {s.nagios_code for s in State} == exits.CODES["lbcheck --nagios"]


class Refused(click.ClickException):
    """A click error with a code of its own (click's default is 1)."""

    exit_code = 3


def _fail(kind: str) -> object:
    if kind == "usage":
        raise click.UsageError("bad value")
    if kind == "config":
        raise ConfigError("/etc/x.toml: not TOML")
    if kind == "abort":
        raise click.Abort()
    if kind == "click":
        raise Refused("cannot do that")
    if kind == "bug":
        raise RuntimeError("a\nb")
    return {"one": 1, "none": None}[kind]


@click.group()
def group() -> None:
    """A stand-in CLI whose commands end each way a real one can."""


for _kind in ("usage", "config", "abort", "click", "bug", "one", "none"):
    group.add_command(click.Command(_kind, callback=lambda kind=_kind: _fail(kind)))

# (argv, lbcheck's stderr and code, lbnotify's stderr and code), as the two main()s had them.
CASES = [
    (["usage"], "prog usage: error: bad value (see `prog usage --help`)\n", 2,
     "prog usage: error: bad value\n", 2),
    (["config"], "prog: config error: /etc/x.toml: not TOML\n", 2,
     "prog: config error: /etc/x.toml: not TOML\n", 2),
    (["abort"], "", 3, "", 1),
    (["click"], "prog: error: cannot do that\n", 3, "prog: error: cannot do that\n", 1),
    (["bug"], "prog: internal error: RuntimeError: a\\nb\n", 3,
     "prog: internal error: RuntimeError: a\\nb\n", 1),
    (["one"], "", 1, "", 1),
    (["none"], "", 0, "", 0),
]


@pytest.mark.parametrize(("argv", "check_err", "check_code", "notify_err", "notify_code"), CASES,
                         ids=[case[0][0] for case in CASES])
@pytest.mark.parametrize("which", ["lbcheck", "lbnotify"])
def test_the_guard_gives_each_command_its_own_line_and_code(
        capsys: pytest.CaptureFixture[str], which: str, argv: list[str], check_err: str,
        check_code: int, notify_err: str, notify_code: int) -> None:
    """lbcheck: a bug or an interrupt could not tell (3), a click error keeps its code, usage
    errors point at --help; lbnotify: all of those are a handler that failed (1)."""
    policy: Policy = LBCHECK_POLICY if which == "lbcheck" else LBNOTIFY_POLICY
    with pytest.raises(SystemExit) as exited:
        run(group, argv, "prog", policy)
    err, code = (check_err, check_code) if which == "lbcheck" else (notify_err, notify_code)
    assert (code, err) == (exited.value.code, capsys.readouterr().err)
    assert exited.value.code in exits.CODES[which]
