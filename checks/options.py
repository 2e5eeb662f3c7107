"""The check half's command-line options (`lbcheck haproxy`, `lbcheck watch haproxy`, …).

Click types and decorators for what only the check half knows (a stats-socket address, a
backend limit, where haproxy's files are), so the trunk's :mod:`lbcheck.params` stays free
of the halves. Stdlib and click at import time: the every-second check builds its options
from these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from lbcheck.config import Config
from lbcheck.params import PATH, Text

if TYPE_CHECKING:
    from lbcheck.checks.backends import Limit
    from lbcheck.checks.haproxy import HaproxyTarget


class SocketAddress(Text):
    """A UNIX socket path, or HOST:PORT / ipv4@HOST:PORT with an IPv4 host and a real port."""

    name = "socket"

    def __init__(self) -> None:
        super().__init__("socket address")

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        value = super().convert(value, param, ctx)
        from lbcheck.checks.stats_socket import parse_address

        try:
            parse_address(value)
        except ValueError as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)
        return value


def socket_option(fn: Callable[..., object]) -> Callable[..., object]:
    return click.option("--socket", "socket_path", metavar="PATH", type=SocketAddress(),
                        help="HAProxy stats socket [config, else /run/haproxy/admin.sock].")(fn)


def backend_option(fn: Callable[..., object]) -> Callable[..., object]:
    return click.option("--backend", "limits", multiple=True, metavar="NAME[:MIN|:PCT%]",
                        type=Text("backend limit"),
                        callback=parse_limits,
                        help="Minimum UP servers (repeatable; default: every backend ≥ 1).")(fn)


def parse_limits(ctx: click.Context, param: click.Parameter,
                 values: tuple[str, ...]) -> tuple[Limit, ...]:
    if not values:
        return ()
    from lbcheck.checks.backends import LimitError, parse_limit

    try:
        return tuple(parse_limit(v) for v in values)
    except LimitError as exc:
        raise click.BadParameter(str(exc)) from None


def haproxy_options(fn: Callable[..., object]) -> Callable[..., object]:
    """The options `lbcheck haproxy` and `lbcheck watch … haproxy` share."""
    fn = backend_option(fn)
    fn = click.option("--pidfile", metavar="PATH", type=PATH,
                      help="HAProxy pidfile [/run/haproxy.pid if present].")(fn)
    fn = click.option("--master-socket", metavar="PATH", type=SocketAddress(),
                      help="Master CLI (haproxy -S) to ask for workers.")(fn)
    return socket_option(fn)


def haproxy_target(config: Config, socket_path: str | None, master_socket: str | None,
                   pidfile: str | None, limits: tuple[Limit, ...]) -> HaproxyTarget:
    """CLI flags win over the config file, which wins over Debian's defaults."""
    from lbcheck.checks.haproxy import HaproxyTarget

    section = config.haproxy
    return HaproxyTarget(socket=socket_path or section.socket, pidfile=pidfile or section.pidfile,
                         master_socket=master_socket or section.master_socket, limits=limits,
                         check_backends=bool(limits))
