"""`lbnotify`: what keepalived runs on every VRRP transition (docs/notify.md).

Exit codes: 0 the event was recorded and its pages queued (a pager that is down is not an
error: the page waits in the outbox), 1 a handler failed (announce, lock, outbox), 2 bad
input or config — always one line, also written to the log, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from lbcheck import entry
from lbcheck.config import Config, LogSection, check_secret_permissions, load
from lbcheck.exits import EXIT_FAILED
from lbcheck.notify.events import KINDS, BadEvent, Event, from_notify_args, from_state_hook
from lbcheck.notify.handlers import Context, handle, write_metrics
from lbcheck.params import NAME, PATH, Seconds, Text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="Log to stderr instead of the configured target.")
@click.option("--config", "config_path", metavar="PATH", type=PATH,
              help="TOML config (default $LBCHECK_CONFIG or /etc/lbcheck/lbcheck.toml).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, config_path: str | None) -> None:
    """keepalived notify hooks: log, announce the VIPs, page on-call.

    Exit codes: 0 recorded (pages queued), 1 a handler failed, 2 bad input or config.
    """
    config = load(config_path)
    check_secret_permissions(config)
    if verbose:
        config = config._replace(log=LogSection(target="stderr", format=config.log.format))
    ctx.obj = _context(config)
    for warning in config.warnings:  # once per run: hooks and the FIFO reader alike
        ctx.obj.log.warning("config_warning", message=warning, config=config.path)


def _context(config: Config) -> Context:
    from lbcheck.log import get_logger
    from lbcheck.notify.paging import router_name

    return Context(config, get_logger(config.log, "lbnotify"), router_name())


def _run(ctx: Context, event: Event) -> int:
    """Exit 1 with one line on stderr naming each failed step (the log has the details)."""
    report = handle(event, ctx)
    for step, warning in report.config_warnings():  # the config was read around: say so
        click.echo(f"lbnotify: warning: {step}: {' '.join(warning.split())}"[:1000], err=True)
    failed = [f"{step}: {error}" for step, error in report.failed_steps().items()]
    if failed:
        line = " ".join("; ".join(failed).split())  # one line, whatever the messages hold
        click.echo(f"lbnotify: error: {line}"[:1000], err=True)
        return EXIT_FAILED
    return 0


def _state_command(state: str) -> click.Command:
    @click.command(name=state.lower(), help=f"notify_{state.lower()} hook: the instance is now "
                   f"{state} (e.g. notify_{state.lower()} \"/usr/bin/lbnotify {state.lower()} "
                   "VI_1\").")
    @click.argument("name", required=False, type=NAME)
    @click.pass_obj
    def command(ctx: Context, name: str | None) -> int:
        return _run(ctx, _parse(ctx, lambda: from_state_hook(state, name)))

    return command


for _state in ("MASTER", "BACKUP", "FAULT", "STOP"):
    cli.add_command(_state_command(_state))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("fields", nargs=-1, required=True, type=Text("field"))
@click.pass_obj
def event(ctx: Context, fields: tuple[str, ...]) -> int:
    """INSTANCE|GROUP NAME STATE PRIORITY — what `notify "/usr/bin/lbnotify event"` passes."""
    return _run(ctx, _parse(ctx, lambda: from_notify_args(list(fields))))


@cli.command()
@click.argument("path", type=PATH)
@click.pass_obj
def fifo(ctx: Context, path: str) -> int:
    """Read keepalived's notify FIFO (vrrp_notify_fifo_script "/usr/bin/lbnotify fifo")."""
    from lbcheck.notify.fifo import FifoError, FifoReader

    try:
        FifoReader(path, ctx).run()
    except FifoError as exc:
        raise click.UsageError(str(exc)) from None
    return 0


@cli.command()
@click.option("--dev", metavar="IF", type=Text("interface name"),
              help="Interface holding the addresses [the one that does].")
@click.option("--count", type=click.IntRange(1, 100), help="Bursts per address [config: 3].")
@click.option("--interval", type=Seconds(0, 60), help="Seconds between bursts [0.5].")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR…", type=Text("address"))
@click.pass_obj
def announce(ctx: Context, dev: str | None, count: int | None, interval: float | None,
             addresses: tuple[str, ...]) -> int:
    """Send gratuitous ARP / unsolicited NA for addresses held here, now."""
    from lbcheck.notify.handlers import announce_addresses

    configured = ctx.config.announce
    section = configured._replace(
        count=configured.count if count is None else count,
        interval=configured.interval if interval is None else interval)
    ctx = ctx._replace(config=ctx.config._replace(announce=section))
    result = announce_addresses([(a, dev) for a in addresses], ctx)
    ctx.log.info("announce", dev=dev, **result.as_log())
    for line in result.lines():
        click.echo(line)
    if result.error is not None and not result.failed:
        raise click.ClickException(result.error)
    return 0 if result.sent and result.error is None else EXIT_FAILED


@cli.command()
@click.option("--force", is_flag=True, help="Release even while a keepalived process runs.")
@click.pass_obj
def release(ctx: Context, force: bool) -> int:
    """Delete the VIPs keepalived left behind (ExecStopPost: keepalived died uncleanly)."""
    from lbcheck.notify.release import ReleaseError
    from lbcheck.notify.release import release as release_vips

    try:
        done = release_vips(ctx.config.keepalived.config, force=force)
    except ReleaseError as exc:
        ctx.log.error("release", error=str(exc))
        raise click.ClickException(str(exc)) from None
    ctx.log.info("release", released=done.released,
                 **({"config_warnings": done.warnings} if done.warnings else {}))
    for warning in done.warnings:
        click.echo(f"lbnotify: warning: release: {warning}", err=True)
    for line in done.released:
        click.echo(f"released {line}")
    return 0


@cli.command()
@click.option("--budget", type=Seconds(0.1, 600), default=10.0, show_default=True,
              help="Seconds to spend sending (and waiting for a sender that is mid-request).")
@click.option("--due-only", is_flag=True,
              help="Only pages whose retry time has come (for timers); exit 1 only if one "
              "of them failed.")
@click.pass_obj
def flush(ctx: Context, budget: float, due_only: bool) -> int:
    """Deliver every page waiting in the outbox now, backoff or not (exit 1: some still wait)."""
    from lbcheck.notify import paging
    from lbcheck.notify.paging.outbox import OutboxError

    try:
        paging.queue_summaries(ctx.config.page, ctx.config.notify.state_dir, ctx.router, ctx.log)
        paging.queue_resends(ctx.config.page, ctx.config.notify.state_dir, ctx.router, ctx.log)
        report = paging.flush(ctx.config.page, ctx.log, budget=budget, due_only=due_only,
                              lock_wait=0.0 if due_only else budget)
    except OutboxError as exc:
        raise click.ClickException(str(exc)) from None
    busy = " (another lbnotify held the outbox throughout)" if report.busy else ""
    rejected = (f", refused {report.rejected} (fix the target's key or URL: see the log)"
                if report.rejected else "")
    click.echo(f"sent {report.sent}, waiting {report.waiting}, failed {report.failed}, "
               f"dead-lettered {report.dead}{rejected}{busy}")
    metrics = write_metrics(ctx) if ctx.config.notify.metrics_file else None
    ctx.log.info("flush", due_only=due_only, sent=report.sent, waiting=report.waiting,
                 failed=report.failed, rejected=report.rejected, dead=report.dead,
                 busy=report.busy,
                 ms=round(report.elapsed * 1000, 2),
                 **({"metrics": metrics.as_log()} if metrics is not None else {}))
    if metrics is not None and metrics.error is not None:
        click.echo(f"lbnotify: error: {metrics.error}", err=True)
        return EXIT_FAILED
    if due_only:
        return EXIT_FAILED if report.failed or report.rejected else 0
    return 0 if report.waiting == 0 else EXIT_FAILED


def _parse(ctx: Context, parse: Callable[[], Event]) -> Event:
    try:
        return parse()
    except BadEvent as exc:
        ctx.log.error("bad_event", reason=str(exc), argv=sys.argv[1:])
        raise click.UsageError(str(exc)) from None


def with_event_command(argv: list[str]) -> list[str]:
    """`lbnotify [opts] INSTANCE VI_1 MASTER 100` (keepalived's `notify`) means `event …`."""
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        index += 2 if argv[index] == "--config" else 1
    if index < len(argv) and argv[index].upper() in KINDS:
        return [*argv[:index], "event", *argv[index:]]
    return argv


# lbnotify documents 0/1/2 only: a bug, an interrupt or a command's own click error is a
# handler that failed (1).
_POLICY = entry.Policy(broken=EXIT_FAILED, click_error=EXIT_FAILED)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error is one line on stderr and a documented exit code."""
    entry.run(cli, with_event_command(list(sys.argv[1:] if argv is None else argv)), "lbnotify",
              _POLICY)
