"""What the statements mean: VRRP instances, scripts, sync groups — with file and line.

Defaults are keepalived 2.2.x's (verified in its vrrp_parser.c / vrrp_data.c / vrrp.c):
priority 255 for state MASTER and 100 otherwise (one it cannot read: 100), advert_int 1,
state BACKUP, vrrp_script interval 1 with timeout = interval and weight 0 (failure →
FAULT), track_process weight 0, track_file weight 1. An instance's address family is set by
`native_ipv6` or else by its first `virtual_ipaddress`; addresses of the other family in
that block are ignored by keepalived (see :attr:`Instance.ignored_vips`).

Each keyword reads its first value only (`state MASTER priority 200` sets no priority: the
handlers read the word after the keyword and nothing further). A keyword given twice: the
last value wins (keepalived's handlers overwrite), except `state` (once MASTER, a later
BACKUP is ignored; anything but the exact words MASTER and BACKUP means BACKUP) and notify
scripts (the first stays). Repeated blocks (two `virtual_ipaddress`, two `track_script`) add
up. Values keepalived could not read keep the default.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import NamedTuple

from lbcheck.keepalived_conf.grammar import Node, Problem

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
_INT = re.compile(r"[+-]?[0-9]{1,11}")


class Vip(NamedTuple):
    text: str
    address: Interface | None  # None: not an address keepalived could parse
    dev: str | None
    file: str
    line: int

    @property
    def family(self) -> int | None:
        return None if self.address is None else self.address.version


class Track(NamedTuple):
    """One entry of track_script / track_process / track_file; weight None = the item's own."""

    name: str
    weight: int | None
    file: str
    line: int


class Script(NamedTuple):
    name: str
    command: str
    interval: float
    timeout: float | None  # None: keepalived uses the interval
    weight: int
    rise: int
    fall: int
    user: str | None
    file: str
    line: int


class Tracker(NamedTuple):
    """vrrp_track_process / vrrp_track_file: what is watched and its default weight."""

    name: str
    target: str  # the process name, or the file path
    weight: int
    file: str
    line: int


class Instance(NamedTuple):
    name: str
    file: str
    line: int
    state: str = "BACKUP"
    interface: str | None = None
    virtual_router_id: int | None = None
    priority: int = 100
    advert_int: float = 1.0
    nopreempt: bool = False
    native_ipv6: bool = False
    authentication: tuple[tuple[str, str], ...] = ()
    unicast_src_ip: str | None = None
    unicast_peers: tuple[str, ...] = ()
    vips: tuple[Vip, ...] = ()
    excluded_vips: tuple[Vip, ...] = ()
    track_scripts: tuple[Track, ...] = ()
    track_processes: tuple[Track, ...] = ()
    track_files: tuple[Track, ...] = ()
    notify: tuple[tuple[str, str, int], ...] = ()  # (keyword, command, line)
    version: int | None = None  # `version` in the instance; None: global_defs' vrrp_version

    @property
    def family(self) -> int | None:
        """4 or 6, as keepalived decides it; None when it cannot tell (no valid address)."""
        if self.native_ipv6:
            return 6
        return next((v.family for v in self.vips if v.family is not None), None)

    @property
    def ignored_vips(self) -> tuple[Vip, ...]:
        """virtual_ipaddress entries keepalived drops: family differs from the instance's."""
        family = self.family
        return tuple(v for v in self.vips if v.family is not None and v.family != family)


class SyncGroup(NamedTuple):
    name: str
    members: tuple[str, ...]
    tracking_weight: bool
    file: str
    line: int
    notify: tuple[tuple[str, str, int], ...] = ()


class GlobalDefs(NamedTuple):
    router_id: str | None = None
    enable_script_security: bool = False
    script_user: str | None = None
    notify_fifo: str | None = None
    notify_fifo_script: str | None = None
    vrrp_version: int = 2
    file: str = ""
    line: int = 0


class KeepalivedConfig(NamedTuple):
    path: str
    global_defs: GlobalDefs
    scripts: dict[str, Script]
    trackers: dict[str, Tracker]  # vrrp_track_process and vrrp_track_file by name
    instances: tuple[Instance, ...]
    sync_groups: tuple[SyncGroup, ...]
    nodes: tuple[Node, ...] = ()  # the statements as written, for rules about the text itself
    problems: tuple[Problem, ...] = ()  # what the grammar read around (tolerant parsing)

    def instance(self, name: str) -> Instance | None:
        return next((i for i in self.instances if i.name == name), None)

    def group_of(self, instance: str) -> SyncGroup | None:
        return next((g for g in self.sync_groups if instance in g.members), None)

    def instances_in_group(self, group: str) -> tuple[Instance, ...]:
        found = next((g for g in self.sync_groups if g.name == group), None)
        return tuple(i for i in self.instances if found and i.name in found.members)

    def version_of(self, instance: Instance) -> int:
        """VRRP version in force: the instance's own, else global_defs' (default 2)."""
        return instance.version or self.global_defs.vrrp_version

    def script_weight(self, track: Track) -> int:
        """The weight keepalived applies: the track_script entry's, else the script's own."""
        if track.weight is not None:
            return track.weight
        script = self.scripts.get(track.name)
        return script.weight if script else 0


# keepalived 2.2 renamed vrrp_track_file to track_file (the old name is deprecated).
TRACKER_BLOCKS = ("vrrp_track_process", "vrrp_track_file", "track_file")
NOTIFY_KEYWORDS = ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop",
                   "notify_deleted", "notify_master_rx_lower_pri")


def build(path: str, nodes: list[Node], problems: list[Problem] | None = None
          ) -> KeepalivedConfig:
    global_defs = GlobalDefs()
    scripts: dict[str, Script] = {}
    trackers: dict[str, Tracker] = {}
    instances: list[Instance] = []
    groups: list[SyncGroup] = []
    for node in nodes:
        name = node.args[0] if node.args else ""
        if node.keyword == "global_defs":
            global_defs = _global_defs(node)
        elif node.keyword == "vrrp_script" and name:
            scripts.setdefault(name, _script(node, name))  # keepalived keeps the first
        elif node.keyword in TRACKER_BLOCKS and name:  # top-level `track_file NAME { }`
            trackers.setdefault(name, _tracker(node, name))
        elif node.keyword == "vrrp_instance" and name:
            instances.append(_instance(node, name))
        elif node.keyword == "vrrp_sync_group" and name:
            groups.append(_group(node, name))
    return KeepalivedConfig(path, global_defs, scripts, trackers, tuple(instances),
                            tuple(groups), tuple(nodes), tuple(problems or ()))


def _value(node: Node, keyword: str, default: str | None = None) -> str | None:
    """The last value given (keepalived's handlers overwrite); a bare keyword has none."""
    given = [c.args[0] for c in node.find(keyword) if c.args]
    return given[-1] if given else default


def _number(node: Node, keyword: str, default: float) -> float:
    try:
        value = float(_value(node, keyword) or default)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _state(node: Node) -> str:
    """keepalived: MASTER sticks; BACKUP only if not yet MASTER; any other word → BACKUP."""
    state = "BACKUP"
    for entry in node.find("state"):
        word = entry.args[0] if entry.args else ""
        if word == "MASTER":
            state = "MASTER"
        elif word != "BACKUP" or state != "MASTER":
            state = "BACKUP"
    return state


def _blocks(node: Node, keyword: str) -> Node | None:
    """Every `keyword { … }` of ``node`` merged into one (repeated blocks add up)."""
    found = node.find(keyword)
    if not found:
        return None
    return found[0]._replace(children=tuple(c for f in found for c in f.children))


def _global_defs(node: Node) -> GlobalDefs:
    fifo = _value(node, "vrrp_notify_fifo") or _value(node, "notify_fifo")
    fifo_script = node.first("vrrp_notify_fifo_script") or node.first("notify_fifo_script")
    return GlobalDefs(
        router_id=_value(node, "router_id"),
        enable_script_security=node.first("enable_script_security") is not None,
        script_user=_value(node, "script_user"),
        notify_fifo=fifo,
        notify_fifo_script=" ".join(fifo_script.args) if fifo_script else None,
        vrrp_version=int(_number(node, "vrrp_version", 2)),
        file=node.file, line=node.line)


def _script(node: Node, name: str) -> Script:
    commands = [c for c in node.find("script") if c.args]
    command = commands[-1] if commands else None
    weight = _value(node, "weight")
    user = node.first("user")
    timeout = _value(node, "timeout")
    return Script(
        name=name,
        command=" ".join(command.args) if command else "",
        interval=_number(node, "interval", 1.0),
        timeout=float(timeout) if timeout and _is_number(timeout) else None,
        weight=int(weight) if weight and _is_int(weight) else 0,
        rise=int(_number(node, "rise", 1)),
        fall=int(_number(node, "fall", 1)),
        user=user.args[0] if user and user.args else None,
        file=(command or node).file, line=(command or node).line)


def _tracker(node: Node, name: str) -> Tracker:
    is_file = node.keyword != "vrrp_track_process"
    target = _value(node, "file" if is_file else "process", "") or ""
    weight = _value(node, "weight")
    return Tracker(name, target, int(weight) if weight and _is_int(weight) else int(is_file),
                   node.file, node.line)


def _instance(node: Node, name: str) -> Instance:
    vrid = _value(node, "virtual_router_id")
    state = _state(node)
    # No priority given: keepalived derives it from the state, 255 (the address owner) for
    # MASTER, else 100 (vrrp_complete_instance(): "If no priority has been set, derive it").
    derived = 255 if state == "MASTER" else 100
    auth = _blocks(node, "authentication")
    peers = _blocks(node, "unicast_peer")
    return Instance(
        name=name, file=node.file, line=node.line,
        state=state,
        interface=_value(node, "interface"),
        virtual_router_id=int(vrid) if vrid and _is_int(vrid) else None,
        priority=int(_number(node, "priority", 100)) if _value(node, "priority") else derived,
        advert_int=_number(node, "advert_int", 1.0),
        nopreempt=node.first("nopreempt") is not None,
        native_ipv6=node.first("native_ipv6") is not None,
        authentication=tuple(sorted({c.keyword: " ".join(c.args) for c in auth.children}
                                    .items())) if auth else (),
        unicast_src_ip=_value(node, "unicast_src_ip"),
        unicast_peers=tuple(c.keyword for c in peers.children) if peers else (),
        vips=_vips(_blocks(node, "virtual_ipaddress")),
        excluded_vips=_vips(_blocks(node, "virtual_ipaddress_excluded")),
        track_scripts=_tracks(_blocks(node, "track_script")),
        track_processes=_tracks(_blocks(node, "track_process")),
        track_files=_tracks(_blocks(node, "track_file")),
        notify=_notify(node),
        version=int(_number(node, "version", 0)) or None)


def _group(node: Node, name: str) -> SyncGroup:
    members = _blocks(node, "group")
    return SyncGroup(name, tuple(c.keyword for c in members.children) if members else (),
                     node.first("sync_group_tracking_weight") is not None, node.file, node.line,
                     _notify(node))


def _vips(block: Node | None) -> tuple[Vip, ...]:
    if block is None:
        return ()
    vips = []
    for entry in block.children:
        try:
            address: Interface | None = ipaddress.ip_interface(entry.keyword)
        except ValueError:
            address = None
        words = list(entry.args)
        dev = words[words.index("dev") + 1] if "dev" in words[:-1] else None
        vips.append(Vip(entry.keyword, address, dev, entry.file, entry.line))
    return tuple(vips)


def _tracks(block: Node | None) -> tuple[Track, ...]:
    if block is None:
        return ()
    tracks = []
    for entry in block.children:
        words = list(entry.args)
        weight = words[words.index("weight") + 1] if "weight" in words[:-1] else None
        tracks.append(Track(entry.keyword, int(weight) if weight and _is_int(weight) else None,
                            entry.file, entry.line))
    return tuple(tracks)


def _notify(node: Node) -> tuple[tuple[str, str, int], ...]:
    return tuple((c.keyword, " ".join(c.args), c.line) for c in node.children
                 if c.keyword in NOTIFY_KEYWORDS and c.args)


def _is_int(text: str) -> bool:
    return _INT.fullmatch(text) is not None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
