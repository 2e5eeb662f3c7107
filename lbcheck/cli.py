"""`lbcheck`: the checks keepalived runs as a vrrp_script, and the debugging view for humans.

Commands stay thin: they build a :class:`~lbcheck.checks.pipeline.Check` (which probes, the
thresholds) and hand over to :func:`_finish`, which runs it through the pipeline the watcher
shares, shows the Outcome, remembers it and picks the exit code. Only stdlib and click are
imported on the check path; anything heavier is imported inside the command or probe that
needs it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import click

from lbcheck import entry
from lbcheck.checks.options import (
    backend_option,
    haproxy_options,
    haproxy_target,
    socket_option,
)
from lbcheck.checks.pipeline import Check, run_check
from lbcheck.config import Config, load
from lbcheck.deadline import Deadline
from lbcheck.exits import EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN
from lbcheck.params import NAME, PATH, URL, Seconds, Text

if TYPE_CHECKING:
    from lbcheck.checks.backends import Limit
    from lbcheck.checks.status.view import Recorded


class Options(NamedTuple):
    verbose: int
    as_json: bool
    nagios: bool
    deadline: float
    config: Config
    state_dir: str


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Print a table of probes (-vv: all details).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--nagios", is_flag=True, help="Monitoring-plugin output and exit codes 0/1/2/3.")
@click.option("--deadline", type=Seconds(0.01, 60), default=0.8, show_default=True,
              help="Seconds the whole check may take; keep it below keepalived's timeout.")
@click.option("--config", "config_path", metavar="PATH", type=PATH,
              help="TOML config (default $LBCHECK_CONFIG or /etc/lbcheck/lbcheck.toml).")
@click.option("--state-dir", metavar="DIR", envvar="LBCHECK_STATE_DIR", type=PATH,
              help="Where the last verdict is kept, to log transitions only [/run/lbcheck].")
@click.pass_context
def cli(ctx: click.Context, verbose: int, as_json: bool, nagios: bool, deadline: float,
        config_path: str | None, state_dir: str | None) -> None:
    """Health checks for keepalived + HAProxy.

    Exit codes: 0 healthy (WARN too), 1 unhealthy, 2 usage error, 3 could not tell.
    """
    if as_json and nagios:
        raise click.UsageError("--json and --nagios are mutually exclusive")
    config = load(config_path)
    ctx.obj = Options(verbose, as_json, nagios, deadline, config,
                      state_dir or config.check.state_dir)


@cli.command()
@haproxy_options
@click.pass_obj
def haproxy(opts: Options, socket_path: str | None, master_socket: str | None,
            pidfile: str | None, limits: tuple[Limit, ...]) -> int:
    """Process + stats socket (+ master CLI) (+ backends): what keepalived should run."""
    from lbcheck.checks.haproxy import check

    target = haproxy_target(opts.config, socket_path, master_socket, pidfile, limits)
    return _finish(opts, check(target), target)


@cli.command()
@click.argument("name", default="haproxy", type=NAME)
@click.option("--pidfile", metavar="PATH", type=PATH,
              help="Judge the pids in this file instead of by name.")
@click.pass_obj
def process(opts: Options, name: str, pidfile: str | None) -> int:
    """Is the process running (zombies, stopped and worker-less masters are not)?"""
    from lbcheck.checks.haproxy import process_sample

    return _finish(opts, Check("process", lambda d: [process_sample(pidfile, d, name)]),
                   (name, pidfile))


@cli.command(name="socket")
@socket_option
@click.pass_obj
def socket_command(opts: Options, socket_path: str | None) -> int:
    """Does the stats socket answer `show info`, from a process that is not stopping?"""
    from lbcheck.checks.haproxy import socket_sample

    path = socket_path or opts.config.haproxy.socket
    return _finish(opts, Check("socket", lambda d: [socket_sample(path, d)]), path)


@cli.command()
@socket_option
@backend_option
@click.pass_obj
def backends(opts: Options, socket_path: str | None, limits: tuple[Limit, ...]) -> int:
    """Enough UP servers in each backend (`show stat`)?"""
    from lbcheck.checks.backends import describe
    from lbcheck.checks.haproxy import backends_sample

    path = socket_path or opts.config.haproxy.socket
    return _finish(opts, Check("backends", lambda d: [backends_sample(path, list(limits), d)],
                               (describe(list(limits)),)), (path, limits))


@cli.command()
@click.argument("url", type=URL)
@click.option("--status", type=click.IntRange(100, 599), help="Exact status wanted [any < 400].")
@click.option("--contains", metavar="TEXT", type=Text("text", empty=True),
              help="Text the body must contain.")
@click.pass_obj
def http(opts: Options, url: str, status: int | None, contains: str | None) -> int:
    """GET URL and judge the status (and body)."""
    from lbcheck.checks import http as http_probe
    from lbcheck.checks.probe import timed
    from lbcheck.redact import redact_url

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{redact_url(url)!r} is not an http:// or https:// URL",
                                 param_hint="URL")
    check = Check("http", lambda d: [
        timed("http", lambda: http_probe.probe(url, d, status, contains))])
    return _finish(opts, check, (url, status, contains))


@cli.command()
@click.argument("target", metavar="HOST:PORT", type=Text("HOST:PORT"))
@click.pass_obj
def tcp(opts: Options, target: str) -> int:
    """Complete a TCP handshake with HOST:PORT."""
    from lbcheck.checks import tcp as tcp_probe
    from lbcheck.checks.probe import timed

    try:
        tcp_probe.parse_target(target)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="HOST:PORT") from None
    check = Check("tcp", lambda d: [timed("tcp", lambda: tcp_probe.probe(target, d))])
    return _finish(opts, check, target)


@cli.command()
@click.option("--keepalived-config", "keepalived_config", metavar="PATH", type=PATH,
              help="keepalived.conf whose VIPs to ask about [the config's [keepalived] "
                   "config].")
@click.option("--instance", "instances", metavar="NAME", type=NAME, multiple=True,
              help="Only this vrrp_instance's VIPs (repeat for more) [all instances].")
@click.option("--wait", type=Seconds(0.01, 10), default=0.25, show_default=True,
              help="Seconds to collect answers (cut short by --deadline).")
@click.pass_obj
def vips(opts: Options, keepalived_config: str | None, instances: tuple[str, ...],
         wait: float) -> int:
    """Does each VIP have exactly one holder on its segment (ARP probe / NS)?

    Exit codes: 0 each VIP held once, 1 split brain (held twice) or held by no node,
    2 bad input, 3 could not ask (no CAP_NET_RAW, interface gone).
    """
    from lbcheck.checks.vips import run, select
    from lbcheck.keepalived_conf.vips import VipError

    path = keepalived_config or opts.config.keepalived.config
    try:
        wanted = select(path, instances)
    except VipError as exc:
        raise click.UsageError(str(exc)) from None
    state_of = _recorded_state(opts.config.notify.state_dir)
    return _finish(opts, Check("vips", lambda deadline: run(wanted, wait, deadline, state_of)),
                   (path, instances))


def _recorded_state(state_dir: str) -> Callable[[str], str | None]:
    """An instance's last state as lbnotify recorded it (its paging memory), None without one.

    Only read for a VIP held by no node, so the check path imports the notify half then only.
    """
    recorded = _recorded_instance(state_dir)

    def state_of(instance: str) -> str | None:
        found = recorded(instance)
        return found.state if found else None

    return state_of


@cli.command()
@click.option("--keepalived-config", "keepalived_config", metavar="PATH", type=PATH,
              help="keepalived.conf to read [the one the running keepalived was started "
                   "with: its -f, else /etc/keepalived/keepalived.conf].")
@click.option("--pidfile", metavar="PATH", type=PATH,
              help="keepalived's pidfile [/run/keepalived.pid, else the only keepalived in "
                   "this network namespace].")
@click.option("--wait", type=Seconds(0.05, 10), default=1.0, show_default=True,
              help="Seconds keepalived may take to write each dump.")
@click.option("--ask-segment", is_flag=True,
              help="Ask the segment who holds each VIP now, as `lbcheck vips` does [default: "
                   "lbnotify's pair watch's last round].")
@click.option("--textfile", metavar="PATH", type=PATH,
              help="Write the Prometheus textfile instead of printing (for a timer).")
@click.option("-v", "--verbose", count=True, help="Every number behind each line.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (docs/status.md).")
@click.pass_obj
def status(opts: Options, keepalived_config: str | None, pidfile: str | None, wait: float,
           ask_segment: bool, textfile: str | None, verbose: int, as_json: bool) -> int:
    """Where this node's VIPs are, and why: keepalived's live state, explained.

    Exit codes: 0 every instance in its configured state and every tracker OK, 1 otherwise,
    2 usage error, 3 keepalived could not be asked (not running, no permission).
    """
    from lbcheck.checks.status.gather import Records, gather
    from lbcheck.checks.status.gather import ask_segment as segment
    from lbcheck.checks.status.render import as_json as json_text
    from lbcheck.checks.status.render import as_text, error_document
    from lbcheck.keepalived_conf.vips import VipError
    from lbcheck.keepalived_state.ask import DumpUnavailable
    from lbcheck.keepalived_state.daemon import NoDaemon

    if textfile and (problem := _not_a_file(textfile)):
        raise click.UsageError(f"cannot write textfile {textfile}: {problem}")
    holders = ((lambda pairs: segment(pairs, SEGMENT_WAIT)) if ask_segment
               else _recorded_holders(opts.config.notify.state_dir))
    records = Records(_recorded_instance(opts.config.notify.state_dir), holders)
    try:
        found = gather(config_path=keepalived_config, pidfile=pidfile,
                       check_state_dir=opts.state_dir, records=records, timeout=wait)
    except VipError as exc:
        raise click.UsageError(str(exc)) from None
    except (NoDaemon, DumpUnavailable) as exc:
        if textfile:
            from lbcheck.checks.status.metrics import write_unavailable

            write_unavailable(textfile, str(exc))
        if as_json or opts.as_json:
            click.echo(error_document(str(exc)))
        else:
            click.echo(f"lbcheck status: cannot ask keepalived: {exc}", err=True)
        return EXIT_UNKNOWN
    if textfile:
        from lbcheck.checks.status.metrics import write

        write(textfile, found)
    elif as_json or opts.as_json:
        click.echo(json_text(found))
    else:
        click.echo(as_text(found, verbose or opts.verbose))
    return EXIT_OK if found.ok else EXIT_FAILED


def _recorded_instance(state_dir: str) -> Callable[[str], Recorded | None]:
    """What lbnotify last recorded of an instance (its paging memory)."""

    def recorded(instance: str) -> Recorded | None:
        from lbcheck.checks.status.view import Recorded
        from lbcheck.notify.paging import memory

        try:
            found = memory.load(state_dir, "INSTANCE", instance)
        except memory.PageMemoryError:
            return None
        if found is None:
            return None
        return Recorded(found.state, found.changed_at, found.transitions)

    return recorded


Holders = dict[tuple[str, str], tuple[int | None, float | None]]
SEGMENT_WAIT = 0.25  # s: `lbcheck vips`'s default wait


def _recorded_holders(state_dir: str) -> Callable[[list[tuple[str, str]]], Holders]:
    """The pair watch's last round (lbnotify fifo): holders per (VIP, interface), its age."""

    def holders(pairs: list[tuple[str, str]]) -> Holders:
        import time

        from lbcheck.notify.pairwatch import store

        try:
            states = store.load(state_dir)
            age = time.time() - os.stat(store.path_for(state_dir)).st_mtime
        except (store.StoreError, OSError):
            return {}
        return {s.key: (s.holders, age) for s in states}

    return holders


@cli.command()
@click.argument("conf", metavar="KEEPALIVED_CONF", type=PATH)
@click.argument("peer", metavar="[PEER_CONF]", required=False, type=PATH)
@click.option("--on-host/--not-on-host", default=None,
              help="This machine is the load balancer: a script missing here is missing "
                   "there [default: when CONF is under /etc/keepalived].")
@click.option("--no-keepalived", is_flag=True,
              help="Do not run `keepalived -t` (by default its complaints are merged in when "
                   "keepalived is installed).")
@click.option("--config-id", metavar="ID",
              help="Read KEEPALIVED_CONF as keepalived -i ID does: `@ID` lines kept, `@^ID` "
                   "lines dropped [default: this host's short name, as keepalived's].")
@click.option("--peer-config-id", metavar="ID",
              help="The same for PEER_CONF [default: the --config-id value].")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (as `lbcheck --json lint`).")
@click.pass_obj
def lint(opts: Options, conf: str, peer: str | None, on_host: bool | None,
         no_keepalived: bool, config_id: str | None, peer_config_id: str | None,
         as_json: bool) -> int:
    """Find keepalived.conf traps; with the peer's config, check the failover arithmetic.

    Exit codes: 0 no error-level finding, 1 errors found, 2 unreadable input.
    """
    from lbcheck.keepalived_conf import KeepalivedConfError
    from lbcheck.lint.engine import lint as run_lint
    from lbcheck.lint.findings import as_json as as_json_text
    from lbcheck.lint.findings import as_text, exit_code

    try:
        report = run_lint(conf, peer, on_host, keepalived=not no_keepalived,
                          config_id=config_id, peer_config_id=peer_config_id)
    except KeepalivedConfError as exc:
        raise click.UsageError(f"cannot lint: {exc}") from None
    render = as_json_text if opts.as_json or as_json else as_text
    click.echo(render(report.findings, report.notes, report.keepalived))
    return exit_code(report.findings)


@cli.command()
@click.option("--interface", required=True, metavar="IF", type=NAME,
              help="The interface the VIPs live on (the same name on both nodes).")
@click.option("--node", "nodes", multiple=True, metavar="ADDR[/LEN]", type=Text("address"),
              help="This node's address on IF, one per family (with /LEN: VIPs are checked "
                   "to be in its subnet).")
@click.option("--peer", "peers", multiple=True, metavar="ADDR[/LEN]", type=Text("address"),
              help="The peer's address on IF, one per family.")
@click.option("--vip", "vips", multiple=True, metavar="ADDR[/LEN]", type=Text("address"),
              help="A VIP (repeat): IPv4, IPv6 or both.")
@click.option("--profile", type=click.Choice(["conservative", "fast"]),
              default="conservative", show_default=True,
              help="conservative: VRRPv2, 1 s adverts, FAULT; fast: VRRPv3, 0.1 s, weighted.")
@click.option("--unicast/--multicast", default=False,
              help="Adverts to the peer's address instead of multicast [multicast].")
@click.option("--vrid", type=int, default=51, show_default=True,
              help="virtual_router_id (sync-group: this and the next).")
@click.option("--check", type=click.Choice(["spawned", "watch"]),
              help="spawned `lbcheck haproxy` or `lbcheck watch` on a track_file "
                   "[conservative: spawned, fast: watch].")
@click.option("--design", type=click.Choice(["excluded", "sync-group"]), default="excluded",
              show_default=True,
              help="Dual-stack: IPv6 VIPs in virtual_ipaddress_excluded, or one instance per "
                   "family in a vrrp_sync_group.")
@click.option("--keepalived-version", "release", metavar="X.Y.Z", type=Text("release"),
              help="The nodes' keepalived [this host's, else 2.2.7].")
@click.option("--name", default="lb1", show_default=True, type=NAME,
              help="This node's name (router_id; the master while both are healthy).")
@click.option("--peer-name", default="lb2", show_default=True, type=NAME,
              help="The peer's name.")
@click.option("--out", metavar="DIR", type=PATH,
              help="Write DIR/README.md and DIR/NAME/… [print what would be written].")
@click.option("--force", is_flag=True, help="Overwrite files that exist under --out.")
def init(interface: str, nodes: tuple[str, ...], peers: tuple[str, ...],
         vips: tuple[str, ...], profile: str, unicast: bool, vrid: int, check: str | None,
         design: str, release: str | None, name: str, peer_name: str, out: str | None,
         force: bool) -> int:
    """Write a keepalived pair (both nodes' files and a README) from your addresses,
    lint-clean by construction (docs/init.md).

    Exit codes: 0 written (or, without --out, printed), 2 refused (one line says why).
    """
    from lbcheck.init import InitError, releases
    from lbcheck.init.design import design as make_design
    from lbcheck.init.output import write
    from lbcheck.init.render import files, summary
    from lbcheck.init.spec import build

    try:
        if release is None:
            from lbcheck.lint.keepalived import version

            release = version() or releases.DEFAULT
        spec = build(interface, nodes, peers, vips, profile, unicast, vrid, check, design,
                     releases.parse(release), name, peer_name)
        pair = make_design(spec)
        if out is None:
            click.echo(summary(pair))
            return EXIT_OK
        written = write(out, files(pair), force)
    except InitError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"lbcheck init: wrote {len(written)} files under {out}; next: "
               f"lbcheck lint {os.path.join(out, name, 'keepalived.conf')} "
               f"{os.path.join(out, peer_name, 'keepalived.conf')}")
    return EXIT_OK


class WatchOptions(NamedTuple):
    check: Options
    track_file: str
    interval: float
    rise: int
    fall: int
    graded: bool
    metrics_file: str | None
    once: bool


@cli.group()
@click.option("--track-file", required=True, metavar="PATH", type=PATH,
              help="keepalived track_file to write: 0 healthy, non-zero failed.")
@click.option("--interval", type=Seconds(0.05, 60), default=0.2, show_default=True,
              help="Seconds between checks.")
@click.option("--rise", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Consecutive successes before healthy again.")
@click.option("--fall", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Consecutive failures before failed.")
@click.option("--graded", is_flag=True,
              help="Write the backend shortfall (254 if haproxy is down) for weighted tracking.")
@click.option("--metrics-file", metavar="PATH", type=PATH,
              help="Prometheus textfile (node_exporter textfile collector) to keep updated.")
@click.option("--once", is_flag=True, help="One check, write the file, exit (for testing).")
@click.pass_context
def watch(ctx: click.Context, track_file: str, interval: float, rise: int, fall: int,
          graded: bool, metrics_file: str | None, once: bool) -> None:
    """Run a check in-process every interval and feed keepalived's track_file (no forks)."""
    ctx.obj = WatchOptions(ctx.obj, track_file, interval, rise, fall, graded, metrics_file, once)


@watch.command(name="haproxy")
@haproxy_options
@click.pass_obj
def watch_haproxy(opts: WatchOptions, socket_path: str | None, master_socket: str | None,
                  pidfile: str | None, limits: tuple[Limit, ...]) -> int:
    """The same probes as `lbcheck haproxy`, in-process."""
    from lbcheck.checks.watch.track_file import TrackFile
    from lbcheck.checks.watch.watcher import Watcher

    target = haproxy_target(opts.check.config, socket_path, master_socket, pidfile, limits)
    track = TrackFile(opts.track_file)  # written from the first verdict on, not before
    problem = _not_a_file(opts.track_file) or track.writable()
    if problem:
        raise click.UsageError(f"cannot write track file {opts.track_file}: {problem}")
    if opts.metrics_file and (problem := _not_a_file(opts.metrics_file)):
        raise click.UsageError(f"cannot write metrics file {opts.metrics_file}: {problem}")
    watcher = Watcher(target, track, opts.interval, opts.rise, opts.fall, opts.check.deadline,
                      opts.check.config.log, opts.graded, opts.metrics_file)
    return watcher.run(once=opts.once)


def _not_a_file(path: str) -> str | None:
    """A file the watcher replaces by rename needs a directory to live in and must not be one:
    found at start (exit 2), not at the first write (a crash in the loop)."""
    if os.path.isdir(path):
        return "it is a directory"
    directory = os.path.dirname(os.path.abspath(path))
    return None if os.path.isdir(directory) else f"directory {directory} does not exist"


def _finish(opts: Options, check: Check, params: object) -> int:
    """Run the check under one deadline, show the outcome, remember it, pick the exit code.

    ``params`` tell this check from another of the same command (other socket, other limits)
    in the state directory.
    """
    command = check.name
    deadline = Deadline(opts.deadline)
    outcome = run_check(check, deadline)

    from lbcheck.checks.transitions import log_transition, remember, state_key

    # The state write is inside the deadline too: a FIFO planted at the state path or a hung
    # disk costs the transition log line, never keepalived's timeout.
    key = state_key(command, params)
    change = remember(outcome.state.name, key, opts.state_dir, deadline)
    if change.changed:
        log_transition(outcome, key, change.previous, opts.config.log)
    problem = change.problem
    if opts.as_json:
        from lbcheck.checks.render import as_json

        click.echo(as_json(outcome, command, opts.deadline))
    elif opts.nagios:
        from lbcheck.checks.render import nagios

        click.echo(nagios(outcome, command))
        return outcome.state.nagios_code
    elif opts.verbose:
        from lbcheck.checks.render import verbose

        click.echo(verbose(outcome, command, opts.deadline, opts.verbose))
        if problem:
            click.echo(f"  note: transitions not logged: {problem}")
    return outcome.state.exit_code


def _terminated(signum: int, frame: object) -> None:
    """keepalived's timeout sends SIGTERM: stop at once, with 'could not tell'."""
    os._exit(EXIT_UNKNOWN)


# A check that broke or was interrupted could not tell (3), like one keepalived's timeout
# ended; a click error keeps its own code; usage errors point at --help.
_POLICY = entry.Policy(broken=EXIT_UNKNOWN, click_error=None, help_hint=True)


def main(argv: list[str] | None = None, prog_name: str = "lbcheck") -> None:
    """Entry point: every error becomes one line and a documented exit code."""
    signal.signal(signal.SIGTERM, _terminated)
    entry.run(cli, argv, prog_name, _POLICY)
