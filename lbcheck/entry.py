"""The one top-level guard of both commands: every error is one line and a documented code.

keepalived keeps a script's exit code and at most a line of its stderr, so neither `lbcheck`
nor `lbnotify` may end in a traceback or in click's own usage screen. The two commands catch
the same errors in the same order and print them alike; they differ only in what an error the
user did not make means to them — the :class:`Policy` each entry point passes.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from lbcheck.config import ConfigError
from lbcheck.exits import EXIT_USAGE
from lbcheck.params import escape_unprintable, one_line


class Policy:
    """What a command's exit code is for the errors it does not raise on purpose.

    ``broken``: an internal error (a bug) or an interrupt (click.Abort). ``click_error``: a
    ClickException a command raised (None keeps the exception's own code). ``help_hint``:
    usage errors end with "(see `COMMAND --help`)". A slotted class, not a NamedTuple: defining
    a NamedTuple compiles its constructor (~1.3 M instructions, callgrind), and every spawned
    check defines this class.
    """

    __slots__ = ("broken", "click_error", "help_hint")

    def __init__(self, broken: int, click_error: int | None = None,
                 help_hint: bool = False) -> None:
        self.broken = broken
        self.click_error = click_error
        self.help_hint = help_hint


def run(cli: click.Group, argv: list[str] | None, prog_name: str, policy: Policy) -> NoReturn:
    """Run ``cli`` as ``prog_name`` and exit with its code, or with the one its error means."""
    escape_unprintable()
    try:
        code = cli.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else prog_name
        hint = f" (see `{where} --help`)" if policy.help_hint else ""
        _say(f"{where}: error: {exc.format_message()}{hint}")
        code = EXIT_USAGE
    except ConfigError as exc:
        _say(f"{prog_name}: config error: {exc}")
        code = EXIT_USAGE
    except click.Abort:
        code = policy.broken
    except click.ClickException as exc:
        _say(f"{prog_name}: error: {exc.format_message()}")
        code = exc.exit_code if policy.click_error is None else policy.click_error
    except Exception as exc:  # noqa: BLE001 - the one catch-all: a bug is one line, one code
        _say(f"{prog_name}: internal error: {type(exc).__name__}: {exc}")
        code = policy.broken
    sys.exit(code if isinstance(code, int) else 0)


def _say(message: str) -> None:
    click.echo(one_line(message), err=True)
