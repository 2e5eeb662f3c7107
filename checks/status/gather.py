"""Everything a status needs, from the system: keepalived's dumps, its config, the addresses
on the interfaces, and what lbcheck and lbnotify recorded.

The only module of the status room that reads files or asks processes. What lbnotify
recorded comes in as callables (``Records``): the check half does not import the notify half;
the composition root (lbcheck/cli.py) wires them, as it does for ``lbcheck vips``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from lbcheck import procs
from lbcheck.checks.status.explain import judge, tracker_view
from lbcheck.checks.status.view import InstanceView, Recorded, Status, TrackerView, VipView
from lbcheck.keepalived_conf import Instance as ConfInstance
from lbcheck.keepalived_conf import KeepalivedConfig, Node
from lbcheck.keepalived_state import Instance, Tracker
from lbcheck.keepalived_state.daemon import Daemon, describe, dump_paths, find
from lbcheck.keepalived_state.live import read_live

CHECK_COMMANDS = ("haproxy", "process", "socket", "backends", "http", "tcp")
STATE_LIMIT = 64


@dataclass(frozen=True)
class Records:
    """What lbnotify remembered: an instance's last state, the pair watch's last round."""

    instance: Callable[[str], Recorded | None]
    # (VIP, interface) pairs → holders on the segment and the answer's age in seconds
    holders: Callable[[list[tuple[str, str]]],
                      dict[tuple[str, str], tuple[int | None, float | None]]]


def gather(*, config_path: str | None, pidfile: str | None, check_state_dir: str,
           records: Records, timeout: float) -> Status:
    """Raises :class:`lbcheck.keepalived_state.daemon.NoDaemon` or
    :class:`lbcheck.keepalived_state.ask.DumpUnavailable` when keepalived cannot be asked,
    and :class:`lbcheck.keepalived_conf.vips.VipError` for a config that cannot be read."""
    from lbcheck.keepalived_conf.vips import load_config

    daemon = describe(find(pidfile))
    path = config_path or _visible(daemon, daemon.config_path)
    config = load_config(path)
    settings = _settings(config)
    paths = dump_paths(daemon, state_dump_file=settings.get("state_dump_file"),
                       data_use_instance="data_use_instance" in settings,
                       net_namespace=settings.get("net_namespace"),
                       instance=settings.get("instance"))
    live = read_live(daemon, paths, router_id=config.global_defs.router_id, timeout=timeout)
    now = time.time()
    here = _addresses_here(daemon)
    holders = records.holders(_vip_pairs(live.state.instances))
    haproxy = last_check_verdict(check_state_dir, now)
    instances = []
    for found in live.state.instances:
        configured = config.instance(found.name)
        trackers = tuple(tracker_view(t, _detail(t, config, daemon, haproxy, now))
                         for t in found.trackers or ())
        view = InstanceView(
            name=found.name, state=found.state, since=found.last_transition,
            sync_group=found.sync_group, interface=found.interface,
            intended=_intended(configured, found),
            base_priority=found.base_priority, effective_priority=found.effective_priority,
            trackers=trackers, vips=_vips(found, here, holders),
            master_router=found.master_router, master_priority=found.master_priority,
            preempt=found.preempt, recorded=records.instance(found.name),
            missing=dict(found.missing))
        instances.append(judge(view, now))
    return Status(
        pid=daemon.pid, config=path, data_dump=live.data_path, json_dump=live.json_path,
        written_at=live.written_ns / 1e9, instances=tuple(instances),
        sync_groups=tuple((g.name, g.state, g.members) for g in live.state.sync_groups),
        haproxy=haproxy[0] if haproxy else None, notes=live.notes)


def _visible(daemon: Daemon, path: str) -> str:
    """``path`` as keepalived sees it: itself when we share its root and mounts, else
    through /proc/PID/root (a chroot, a container, a private mount namespace)."""
    try:
        same = (os.readlink(f"/proc/{daemon.pid}/root") == "/"
                and procs.shares_namespace(daemon.pid, "mnt"))
    except OSError:
        same = True
    return path if same else daemon.seen(path)


def _settings(config: KeepalivedConfig) -> dict[str, str]:
    """The few settings that move the dump file: root-level ``instance`` and
    ``net_namespace``, global_defs' ``state_dump_file`` and ``data_use_instance``."""
    found: dict[str, str] = {}
    wanted = ("instance", "net_namespace")
    in_globals = ("state_dump_file", "data_use_instance")
    node: Node
    for node in config.nodes:
        if node.keyword in wanted and node.args:
            found[node.keyword] = node.args[0]
        elif node.keyword == "global_defs":
            for child in node.children:
                if child.keyword in in_globals:
                    found[child.keyword] = child.args[0] if child.args else "true"
    if found.get("data_use_instance", "").lower() in ("false", "no", "off", "0"):
        del found["data_use_instance"]
    return found


def _intended(configured: ConfInstance | None, found: Instance) -> str:
    """What the config means this node to hold (explain.in_intended_state): nopreempt means
    "whichever node got there"; priority 255 and ``state MASTER`` mean MASTER; else BACKUP,
    i.e. whatever the priorities decide."""
    if configured is None:  # the dump lists it, the config we read does not: not ours to say
        return "either"
    if configured.nopreempt:
        return "either"
    if found.base_priority == 255 or configured.state == "MASTER":
        return "MASTER"
    return "BACKUP"


def _addresses_here(daemon: Daemon) -> set[tuple[str, str]] | None:
    """(interface, address) pairs on this network namespace's interfaces — None when we are
    not in keepalived's network namespace (what is here says nothing about its VIPs)."""
    if not procs.shares_namespace(daemon.pid, "net"):
        return None
    from lbcheck.link.netlink import NetlinkError, addresses, links

    try:
        names = {i: link.name for i, link in links().items()}
        return {(names.get(a.ifindex, ""), str(a.address)) for a in addresses()}
    except NetlinkError:
        return None


def _vip_pairs(instances: tuple[Instance, ...]) -> list[tuple[str, str]]:
    pairs = []
    for found in instances:
        for vip in (*(found.vips or ()), *(found.excluded_vips or ())):
            interface = vip.interface or found.interface
            if interface and (vip.address.partition("/")[0], interface) not in pairs:
                pairs.append((vip.address.partition("/")[0], interface))
    return pairs


def ask_segment(pairs: list[tuple[str, str]], wait: float
                ) -> dict[tuple[str, str], tuple[int | None, float | None]]:
    """Who holds each VIP now, as `lbcheck vips` asks (ARP probe / NS); None where the
    segment could not be asked."""
    from lbcheck.deadline import Deadline
    from lbcheck.link.holders import ask

    found = ask(pairs, wait, Deadline(wait + 1.0))
    return {(h.address, h.interface): (None if h.error else h.count, 0.0) for h in found}


def _vips(found: Instance,
          here: set[tuple[str, str]] | None,
          holders: dict[tuple[str, str], tuple[int | None, float | None]]
          ) -> tuple[VipView, ...]:
    views = []
    for excluded, listed in ((False, found.vips or ()), (True, found.excluded_vips or ())):
        for vip in listed:
            address = vip.address.partition("/")[0]
            interface = vip.interface or found.interface
            on = None if here is None or interface is None else (interface, address) in here
            count, age = holders.get((address, interface or ""), (None, None))
            views.append(VipView(vip.address, excluded, interface, on, count, age))
    return tuple(views)


def _detail(tracker: Tracker, config: KeepalivedConfig, daemon: Daemon,
            haproxy: tuple[str, float] | None, now: float) -> str | None:
    """What lbcheck recorded behind a tracker: the check's last verdict behind a script
    that runs lbcheck, how long a track file has held its value."""
    if tracker.kind == "script":
        script = config.scripts.get(tracker.name)
        if script is not None and "lbcheck" in script.command and haproxy is not None:
            return haproxy[0]
    if tracker.kind == "file":
        configured = config.trackers.get(tracker.name)
        if configured is not None and tracker.result:
            try:
                written = os.stat(_visible(daemon, configured.target)).st_mtime
            except OSError:
                return None
            return f"written {_seconds(now - written)} ago"
    return None


def last_check_verdict(state_dir: str, now: float) -> tuple[str, float] | None:
    """lbcheck's newest recorded check verdict (the spawned check writes its state file only
    when the verdict changes, so its mtime is when it changed): ("lbcheck haproxy CRITICAL
    for 12 s", mtime)."""
    from lbcheck.files import read_regular

    newest: tuple[float, str, str] | None = None
    try:
        entries = os.listdir(state_dir)
    except OSError:
        return None
    for entry in entries:
        command, _, key = entry.rpartition("-")
        if command not in CHECK_COMMANDS or len(key) != 8:
            continue
        path = os.path.join(state_dir, entry)
        try:
            mtime = os.lstat(path).st_mtime
            verdict = read_regular(path, STATE_LIMIT).decode("ascii", "replace").strip()
        except OSError:
            continue
        if newest is None or mtime > newest[0]:
            newest = (mtime, command, verdict)
    if newest is None:
        return None
    mtime, command, verdict = newest
    return f"lbcheck {command} {verdict} for {_seconds(now - mtime)}", mtime


def _seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


__all__ = ["Records", "TrackerView", "gather", "last_check_verdict"]
