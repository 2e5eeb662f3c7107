"""Render examples/ into a node's files: the examples are what the lab runs, not decoration.

The examples hold production values; the lab substitutes literal strings (paths, the
router id, the backup's priority, the check for the killall baseline) and fails loudly if an
example stops containing one, so the two cannot drift apart.

With ``haproxy="master-worker"`` (haproxy run as Debian's unit runs it) two more: the stats
socket gains `expose-fd listeners`, as in Debian's haproxy.cfg (the new worker takes the
listening sockets over from the old one on a reload), and the check and the watcher ask the
master CLI for workers with `--master-socket /run/haproxy-master.sock`.

Generated pairs (:class:`Generated`, issue 22) come from `lbcheck init` instead of examples/:
its Python API is given the lab's interface, addresses and VIPs, and the text it writes is
adapted the same way, substituting literal strings and failing loudly when one is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tests.lab.topology import VIP4, VIP6, host

if TYPE_CHECKING:
    from lbcheck.init.design import Design

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FAST_WATCH_UNIT = EXAMPLES / "fast" / "lbcheck-watch.service"
BIN = Path(sys.executable).parent


MASTER_SOCKET = "/run/haproxy-master.sock"  # `-S` in Debian's haproxy.service
STATS_SOCKET = "stats socket /run/haproxy/admin.sock mode 660 level admin"
# What the check and the watcher ask, per way of running haproxy (the keys are the modes).
HAPROXY_ARGS = {
    "standalone": "haproxy --backend app",  # as in examples/keepalived.conf
    "master-worker": f"haproxy --master-socket {MASTER_SOCKET} --backend app",
}

CHECKS = {
    "lbcheck": "{bin}/lbcheck --config {config} {args}",
    "killall": "/usr/bin/killall -0 haproxy",  # the glue lbcheck replaces: the baseline
}


def substitute(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"example no longer contains {old!r}: update tests/lab/render.py")
        text = text.replace(old, new)
    return text


FIFO_SCRIPT = '    vrrp_notify_fifo_script "/usr/bin/lbnotify fifo"\n'
SYNC_GROUP = "vrrp_sync_group VG_1 {"


def _no_sync_group(text: str) -> str:
    """keepalived-sync-group.conf without its sync group: one IPv4 and one IPv6 instance that
    fail over each on its own (the IPv6 one advertising VRRPv3 over IPv6)."""
    if SYNC_GROUP not in text:
        raise ValueError(f"example no longer contains {SYNC_GROUP!r}: update tests/lab/render.py")
    return text[:text.index(SYNC_GROUP)]


# Configurations the lab derives from an example rather than ships: how pairs are set up in the
# field, which examples/ does not recommend but the split-brain probe must cope with.
DERIVED = {
    # The article's second configuration: per-family instances and no sync group.
    "keepalived-no-sync-group.conf": ("keepalived-sync-group.conf", _no_sync_group),
    # keepalived's virtual MAC: both masters of a split pair answer with 00:00:5e:00:01:33.
    "keepalived-use-vmac.conf": (
        "keepalived.conf",
        lambda text: substitute(text, {"    interface eth0\n": "    interface eth0\n"
                                                             "    use_vmac\n"})),
}


def example(variant: str) -> str:
    """The text of examples/``variant``, or of the example a derived variant starts from."""
    if variant in DERIVED:
        source, derive = DERIVED[variant]
        return derive((EXAMPLES / source).read_text())
    return (EXAMPLES / variant).read_text()
NOTIFY_FIFO = "/run/keepalived/notify.fifo"


def node_files(node: str, workdir: Path, priority: int, check: str = "lbcheck",
               variant: str = "keepalived.conf", haproxy: str = "standalone",
               keepalived_root: str | None = None, profile: str = "conservative"
               ) -> dict[str, str]:
    """Write this node's keepalived.conf, haproxy.cfg and lbcheck.toml from examples/.

    With ``keepalived_root`` (another Debian suite's keepalived, run under chroot) keepalived
    could not exec this checkout's lbnotify inside the root: the node starts the FIFO reader
    itself on the FIFO keepalived makes, and only the watcher (outside, feeding the track
    file) can check haproxy.
    """
    if keepalived_root and check != "watch":
        raise ValueError("a chrooted keepalived cannot run this checkout's lbcheck as a "
                         "vrrp_script: use check='watch'")
    if haproxy not in HAPROXY_ARGS:
        raise ValueError(f"haproxy mode {haproxy!r}: expected one of {', '.join(HAPROXY_ARGS)}")
    workdir.mkdir(parents=True, exist_ok=True)
    args = HAPROXY_ARGS[haproxy]
    config = workdir / "lbcheck.toml"
    replacements = {
        "router_id lb1": f"router_id {node}",
        "priority 150": f"priority {priority}",
        '"/usr/bin/lbnotify fifo"': f'"{BIN}/lbnotify --config {config} fifo"',
    }
    if profile == "fast":  # examples/fast/: one file per node, its own watcher unit
        lb = {"n1": "lb1", "n2": "lb2"}[node]
        variant = f"fast/keepalived-{lb if check == 'watch' else 'spawned'}.conf"
        replacements[f"router_id {lb if check == 'watch' else 'lb1'}"] = replacements.pop(
            "router_id lb1")
        replacements.pop("priority 150")
        if check != "watch":
            replacements["priority 250"] = f"priority {priority}"
            deadline = f"--deadline {fast_deadline()}"
            standalone = f"{deadline} {HAPROXY_ARGS['standalone']}"
            script = CHECKS[check].format(bin=BIN, config=config, args=f"{deadline} {args}")
            replacements[f'"/usr/bin/lbcheck {standalone}"'] = f'"{script}"'
    elif check == "watch":  # keepalived follows the watcher's track file: no vrrp_script
        variant = "keepalived-track-file.conf"
    else:
        script = CHECKS[check].format(bin=BIN, config=config, args=args)
        replacements[f'"/usr/bin/lbcheck {HAPROXY_ARGS["standalone"]}"'] = f'"{script}"'
    conf = substitute(example(variant), replacements)
    if keepalived_root:
        conf = substitute(conf, {FIFO_SCRIPT.replace("/usr/bin/lbnotify fifo",
                                                     f"{BIN}/lbnotify --config {config} fifo"):
                                 ""})
    if not _secure(BIN):  # e.g. a checkout under /tmp: keepalived would disable the scripts
        conf = conf.replace("    enable_script_security\n", "")
    toml = substitute((EXAMPLES / "lbcheck.toml").read_text(), {
        'target = "syslog"': f'target = "{workdir}/lbcheck.jsonl"',
        "/etc/keepalived/keepalived.conf": str(workdir / "keepalived.conf"),
        "/var/lib/lbcheck/state": str(workdir / "state"),
        "/var/lib/lbcheck/outbox": str(workdir / "outbox"),
        "https://alerts.example.net/lbcheck": "http://127.0.0.1:8099/lbcheck",
    })
    files = {"keepalived_conf": workdir / "keepalived.conf",
             "haproxy_cfg": workdir / "haproxy.cfg", "lbcheck_config": config}
    files["keepalived_conf"].write_text(conf)
    haproxy_cfg = (EXAMPLES / "haproxy.cfg").read_text()
    if haproxy == "master-worker":
        haproxy_cfg = substitute(haproxy_cfg,
                                 {STATS_SOCKET: f"{STATS_SOCKET} expose-fd listeners"})
    files["haproxy_cfg"].write_text(haproxy_cfg)
    config.write_text(toml)
    config.chmod(0o600)
    paths = {k: str(v) for k, v in files.items()}
    paths["haproxy"] = haproxy
    if keepalived_root:
        paths["keepalived_root"] = keepalived_root
        paths["fifo_reader"] = f"{BIN}/lbnotify --config {config} fifo {NOTIFY_FIFO}"
    if profile == "fast":
        # What systemd would run: the drop-in's ExecStopPost when keepalived ends, and the
        # fast unit's ExecStart (read from the unit, so the two cannot drift apart).
        paths["keepalived_stop_post"] = f"{BIN}/lbnotify --config {config} release"
        if check == "watch":
            paths["watch"] = unit_command(FAST_WATCH_UNIT,
                                          f"{BIN}/lbcheck --config {config}").replace(
                " haproxy --backend app", f" {args}")
    elif check == "watch":  # what examples/lbcheck-watch.service runs, with the lab's paths
        paths["watch"] = (f"{BIN}/lbcheck --config {config} watch --track-file "
                          f"/run/lbcheck/haproxy.track --interval 0.2 --fall 2 --rise 3 {args}")
    return paths


def fast_deadline() -> str:
    """The fast profile's --deadline as its watcher unit sets it: the one place to change it
    (the spawned variant, the lab and the reload storm all read it from there)."""
    argv = unit_command(FAST_WATCH_UNIT, "lbcheck").split()
    return argv[argv.index("--deadline") + 1]


def unit_command(unit: Path, lbcheck: str) -> str:
    """A systemd unit's ExecStart (continuation lines joined), its lbcheck path replaced."""
    text = unit.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    argv = line.removeprefix("ExecStart=").split()
    if not argv[0].endswith("/lbcheck"):
        raise ValueError(f"{unit}: ExecStart no longer runs lbcheck: update tests/lab/render.py")
    return " ".join([lbcheck, *argv[1:]])


def _secure(path: Path) -> bool:
    """enable_script_security's rule: every component root-owned, not group/world writable."""
    for part in (path, *path.parents):
        info = os.stat(part)
        if info.st_uid != 0 or info.st_mode & 0o022:
            return False
    return True


# -- pairs `lbcheck init` writes (issue 22): generated, then run as the examples are ----------


class Generated(NamedTuple):
    """A pair the lab asks `lbcheck init` for: what the operator would choose besides the
    addresses, which come from the lab's topology (n1 = --name, n2 = --peer-name)."""

    families: tuple[int, ...] = (4, 6)  # the VIPs': VIP4 and/or VIP6
    profile: str = "conservative"
    unicast: bool = False
    design: str = "excluded"
    check: str | None = None  # None: the profile's (spawned | watch)

    @property
    def vips(self) -> tuple[str, ...]:
        return tuple(vip for family, vip in ((4, VIP4), (6, VIP6)) if family in self.families)

    @property
    def label(self) -> str:
        families = "dual-stack" if len(self.families) == 2 else f"IPv{self.families[0]}-only"
        adverts = "unicast" if self.unicast else "multicast"
        design = f" {self.design}" if len(self.families) == 2 else ""
        return f"{families}{design} {adverts} {self.profile}"


def init_design(pair: Generated) -> Design:
    """What `lbcheck init` designs for the lab's pair, through its Python API, for the
    keepalived this host runs (as the CLI defaults)."""
    from lbcheck.init import releases
    from lbcheck.init.design import design
    from lbcheck.init.spec import build
    from lbcheck.lint.keepalived import version

    def addresses(name: str) -> tuple[str, ...]:
        node = host(name)
        return tuple(address for family, address in ((4, f"{node.v4}/24"), (6, f"{node.v6}/64"))
                     if family in pair.families)

    spec = build("eth0", addresses("n1"), addresses("n2"), pair.vips, pair.profile,
                 pair.unicast, 51, pair.check, pair.design, version() or releases.DEFAULT,
                 name="n1", peer_name="n2")
    return design(spec)


def generated_files(node: str, workdir: Path, pair: Generated) -> dict[str, str]:
    """Write this node's files from what `lbcheck init` generates for ``pair``, adapted as
    node_files adapts examples/: this checkout's lbcheck and lbnotify with --config, the
    lbcheck.toml's paths in the node's directory; the watcher's command read from the
    generated lbcheck-watch.service, the release hook from the generated drop-in. The
    generated files as written stay under ``workdir``/generated for reading."""
    from lbcheck.init.output import write
    from lbcheck.init.render import files as rendered

    workdir.mkdir(parents=True, exist_ok=True)
    generated = workdir / "generated"
    write(str(generated), rendered(init_design(pair)), force=True)
    mine = generated / node
    config = workdir / "lbcheck.toml"
    lbcheck, lbnotify = f"{BIN}/lbcheck --config {config}", f"{BIN}/lbnotify --config {config}"
    replacements = {'"/usr/bin/lbnotify fifo"': f'"{lbnotify} fifo"'}
    watch_unit = mine / "lbcheck-watch.service"
    if not watch_unit.exists():  # the spawned check: keepalived runs it as a vrrp_script
        replacements['script "/usr/bin/lbcheck '] = f'script "{lbcheck} '
    conf = substitute((mine / "keepalived.conf").read_text(), replacements)
    if not _secure(BIN):
        conf = substitute(conf, {"    enable_script_security\n": ""})
    toml = substitute((mine / "lbcheck.toml").read_text(), {
        'target = "syslog"': f'target = "{workdir}/lbcheck.jsonl"',
        "/etc/keepalived/keepalived.conf": str(workdir / "keepalived.conf"),
        "/var/lib/lbcheck/state": str(workdir / "state"),
        "/var/lib/lbcheck/outbox": str(workdir / "outbox"),
    })
    paths = {"keepalived_conf": workdir / "keepalived.conf",
             "haproxy_cfg": workdir / "haproxy.cfg", "lbcheck_config": config}
    paths["keepalived_conf"].write_text(conf)
    paths["haproxy_cfg"].write_text((EXAMPLES / "haproxy.cfg").read_text())
    config.write_text(toml)
    config.chmod(0o600)
    found = {k: str(v) for k, v in paths.items()}
    found["haproxy"] = "standalone"
    if watch_unit.exists():
        found["watch"] = unit_command(watch_unit, lbcheck)
    drop_in = mine / "keepalived.service.d" / "lbcheck-release.conf"
    if drop_in.exists():
        found["keepalived_stop_post"] = drop_in_command(drop_in, lbnotify)
    return found


def drop_in_command(drop_in: Path, lbnotify: str) -> str:
    """A keepalived drop-in's ExecStopPost, its lbnotify path replaced."""
    lines = [ln for ln in drop_in.read_text().splitlines() if ln.startswith("ExecStopPost=")]
    argv = lines[0].removeprefix("ExecStopPost=").split() if lines else []
    if not argv or not argv[0].endswith("/lbnotify"):
        raise ValueError(f"{drop_in}: ExecStopPost no longer runs lbnotify: update "
                         "tests/lab/render.py")
    return " ".join([lbnotify, *argv[1:]])
