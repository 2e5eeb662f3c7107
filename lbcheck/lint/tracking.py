"""Trackers keepalived ignores or removes: the instance then runs untracked and never fails
over on that check — with `keepalived -t` merely printing a line nobody reads.

Names are resolved as keepalived reads them, line by line: alloc_track_script() (vrrp_track.c,
2.2.7 to 2.3.4 and HEAD, called from the track_script block's handler) looks the vrrp_script up
when it reads the `track_script` entry, so a vrrp_script defined further down is "not found"
and the entry is dropped for good; track_process the same (alloc_track_process()).

keepalived 2.2.7 says, for each: `(VI_1) track script X not found, ignoring...` (also track
process / track file), `No script set for vrrp_script X - removing`, `Unable to set default
user for vrrp script X - removing` (enable_script_security without script_user, and no
keepalived_script user on the machine), `Virtual router X specified in sync group G doesn't
exist - ignoring`.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat

from lbcheck.keepalived_conf import Instance, KeepalivedConfig, Node
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import KA005, KA027, Subject, per_config
from lbcheck.lint.scripts import program

DEFAULT_SCRIPT_USER = "keepalived_script"
DEFAULT_SOCKET = "/run/haproxy/admin.sock"
_SOCKET = re.compile(r"--socket[= ](\S+)")
# keyword inside an instance or sync group → the top-level blocks that define its names
_DEFINED_BY = {"track_script": ("vrrp_script",), "track_process": ("vrrp_track_process",),
               "track_file": ("track_file", "vrrp_track_file")}


def _defined(config: KeepalivedConfig, kinds: tuple[str, ...]) -> set[str]:
    return {n.args[0] for n in config.nodes if n.keyword in kinds and n.args}


# keywords resolved when keepalived reads them (the definition must come first)
_RESOLVED_AT_PARSE = frozenset({"track_script", "track_process"})


def instance_node(config: KeepalivedConfig, instance: Instance) -> Node | None:
    """The block an instance of the model was read from."""
    return next((n for n in config.nodes if n.keyword == "vrrp_instance" and n.args
                 and n.args[0] == instance.name and (n.file, n.line) == (instance.file,
                                                                         instance.line)), None)


def first_definitions(config: KeepalivedConfig, kinds: tuple[str, ...]) -> dict[str, Node]:
    """name → the first top-level block defining it (keepalived keeps the first)."""
    found: dict[str, Node] = {}
    for node in config.nodes:
        if node.keyword in kinds and node.args:
            found.setdefault(node.args[0], node)
    return found


def defined_later(config: KeepalivedConfig, owner: Node, keyword: str) -> dict[str, Node]:
    """The names ``keyword`` entries of ``owner`` may use that are defined only after it:
    keepalived has not read them yet when it resolves the entry."""
    if keyword not in _RESOLVED_AT_PARSE:
        return {}
    order = {id(n): index for index, n in enumerate(config.nodes)}
    here = order.get(id(owner), len(config.nodes))
    return {name: node for name, node in first_definitions(config, _DEFINED_BY[keyword]).items()
            if order[id(node)] > here}


def removed_scripts(config: KeepalivedConfig, on_host: bool) -> dict[str, str]:
    """vrrp_script name → why keepalived removes it at start-up."""
    removed = {}
    for node in config.nodes:
        if node.keyword != "vrrp_script" or not node.args:
            continue
        name = node.args[0]
        if not any(c.keyword == "script" and c.args for c in node.children):
            removed[name] = "it has no `script` line ('No script set … - removing')"
        elif on_host and _runs_as_default_user(config, node) and not _user_exists(
                DEFAULT_SCRIPT_USER):
            removed[name] = (f"enable_script_security without script_user runs it as "
                             f"{DEFAULT_SCRIPT_USER}, which does not exist here ('Unable to "
                             "set default user … - removing')")
    return removed


def _runs_as_default_user(config: KeepalivedConfig, script: Node) -> bool:
    gd = config.global_defs
    return (gd.enable_script_security and not gd.script_user
            and not any(c.keyword == "user" and c.args for c in script.children))


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@per_config(KA005)
def untracked(subject: Subject) -> list[Finding]:
    """KA005: references to trackers that do not exist (or that keepalived removes), and
    sync-group members that are not instances."""
    config, on_host = subject.config, subject.on_host
    found: list[Finding] = []
    removed = removed_scripts(config, on_host)
    instances = {n.args[0] for n in config.nodes if n.keyword == "vrrp_instance" and n.args}
    seen_instances: dict[str, Node] = {}
    for node in config.nodes:
        if node.keyword not in ("vrrp_instance", "vrrp_sync_group") or not node.args:
            continue
        owner = node.args[0]
        kind = "instance" if node.keyword == "vrrp_instance" else "sync group"
        if kind == "instance":
            first = seen_instances.setdefault(owner, node)
            if first is not node:
                found.append(KA005.finding(
                    node.file, node.line,
                    f"vrrp_instance {owner} is defined twice (first at line {first.line}): "
                    "keepalived refuses the second ('vrrp instance … already defined')",
                    "give each instance its own name"))
        for block in node.children:
            if block.keyword in _DEFINED_BY:
                names = _defined(config, _DEFINED_BY[block.keyword])
                later = defined_later(config, node, block.keyword)
                for entry in block.children:
                    why = None
                    if entry.keyword not in names:
                        why = (f"no {' or '.join(_DEFINED_BY[block.keyword])} {entry.keyword}"
                               " is defined")
                    elif entry.keyword in later:
                        why = (f"{later[entry.keyword].keyword} {entry.keyword} is defined "
                               f"only after this {kind}, at line {later[entry.keyword].line}: "
                               "keepalived looks the name up as it reads this line "
                               "('not found, ignoring')")
                    elif block.keyword == "track_script" and entry.keyword in removed:
                        why = (f"keepalived removes vrrp_script {entry.keyword}: "
                               f"{removed[entry.keyword]}")
                    if why:
                        fix = (f"move {later[entry.keyword].keyword} {entry.keyword} above "
                               f"{node.keyword} {owner}" if entry.keyword in later else "")
                        found.append(_untracked(entry, kind, owner, block.keyword, why, fix))
            elif block.keyword == "track_interface":
                for entry in block.children:
                    if kind == "instance" and entry.keyword == _value(node, "interface"):
                        found.append(_own_interface(entry, owner))
                    elif on_host and not os.path.exists(f"/sys/class/net/{entry.keyword}"):
                        found.append(_untracked(entry, kind, owner, "track_interface",
                                                f"interface {entry.keyword} does not exist on "
                                                "this machine"))
            elif block.keyword == "group" and kind == "sync group":
                for entry in block.children:
                    if entry.keyword not in instances:
                        found.append(KA005.finding(
                            entry.file, entry.line,
                            f"sync group {owner} names {entry.keyword}, which is no "
                            "vrrp_instance: keepalived ignores it ('specified in sync group "
                            "… doesn't exist') and the group does not move it",
                            f"define vrrp_instance {entry.keyword}, or fix the name"))
    for name, why in removed.items():
        node = next(n for n in config.nodes if n.keyword == "vrrp_script" and n.args
                    and n.args[0] == name)
        found.append(KA005.finding(node.file, node.line,
                                   f"vrrp_script {name}: keepalived removes it: {why}; every "
                                   "instance tracking it runs untracked",
                                   "add a `script` line" if "no `script`" in why else
                                   f"create the user (useradd -r -s /sbin/nologin "
                                   f"{DEFAULT_SCRIPT_USER}) or set script_user in global_defs"))
    return found


def _value(node: Node, keyword: str) -> str | None:
    given = [c.args[0] for c in node.find(keyword) if c.args]
    return given[-1] if given else None


def _own_interface(entry: Node, owner: str) -> Finding:
    """vrrp_complete_instance() (vrrp.c) frees a track_interface entry naming the instance's
    own interface: that interface going down puts the instance in FAULT anyway, so a weight
    written on the entry is never applied."""
    weight = " ".join(entry.args)
    return KA005.finding(
        entry.file, entry.line,
        f"instance {owner}: track_interface {entry.keyword} is its own interface, and "
        f"keepalived drops the entry ('Ignoring track_interface {entry.keyword} since own "
        "interface')" + (f": its '{weight}' never applies — the interface going down puts "
                         "the instance in FAULT whatever the weight" if weight else
                         ": the interface going down already puts the instance in FAULT"),
        f"delete {entry.keyword} from track_interface (or track another interface)")


def _untracked(entry: Node, kind: str, owner: str, keyword: str, why: str,
               fix: str = "") -> Finding:
    return KA005.finding(entry.file, entry.line,
                         f"{kind} {owner}: {keyword} {entry.keyword} is ignored ({why}): this "
                         f"{kind} runs untracked on it and never fails over when it fails",
                         fix or f"define {entry.keyword}, or fix the name in {keyword}")


@per_config(KA027)
def script_user(subject: Subject) -> list[Finding]:
    """KA027: enable_script_security without script_user runs scripts as keepalived_script."""
    config, on_host = subject.config, subject.on_host
    gd = config.global_defs
    if not gd.enable_script_security or gd.script_user:
        return []
    scripts = [n for n in config.nodes if n.keyword == "vrrp_script" and n.args
               and _runs_as_default_user(config, n)]
    if not scripts:
        return []
    found = []
    if not on_host:
        found.append(KA027.finding(
            gd.file, gd.line,
            f"enable_script_security without script_user: {len(scripts)} script(s) "
            f"({', '.join(n.args[0] for n in scripts)}) run as {DEFAULT_SCRIPT_USER}; where "
            "that user does not exist keepalived removes them (not checked here: lint with "
            "--on-host on the load balancer)",
            f"script_user root (or another user) in global_defs, or create "
            f"{DEFAULT_SCRIPT_USER}"))
        return found
    if not _user_exists(DEFAULT_SCRIPT_USER):
        return found  # KA005 names each removed script
    for node in scripts:
        command = next((" ".join(c.args) for c in node.children if c.keyword == "script"), "")
        if program(command).rsplit("/", 1)[-1] != "lbcheck":
            continue
        match = _SOCKET.search(command)
        socket_path = match.group(1) if match else DEFAULT_SOCKET
        problem = _cannot_connect(DEFAULT_SCRIPT_USER, socket_path)
        if problem:
            found.append(KA027.finding(
                node.file, node.line,
                f"vrrp_script {node.args[0]} runs as {DEFAULT_SCRIPT_USER} "
                f"(enable_script_security, no script_user), which cannot connect to "
                f"{socket_path}: {problem}; every check exits 3 and counts as failed",
                f"stats socket … mode 660 group {DEFAULT_SCRIPT_USER}, or script_user root",
                "error"))
    return found


def _cannot_connect(user: str, path: str) -> str | None:
    """Why ``user`` cannot connect to the unix socket ``path`` (write on it, search above)."""
    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        return None
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    try:
        info = os.stat(path)
    except OSError as exc:
        return None if exc.errno == 2 else exc.strerror  # absent here: nothing to judge
    directory = os.path.dirname(path)
    for parent in [directory, *_parents(directory)]:
        if not _allowed(os.stat(parent), entry.pw_uid, groups, stat.S_IXUSR):
            return f"{parent} is not searchable by {user}"
    if not _allowed(info, entry.pw_uid, groups, stat.S_IWUSR):
        return f"{path} is {stat.filemode(info.st_mode)} {_owner(info)}: {user} may not write"
    return None


def _parents(path: str) -> list[str]:
    result = []
    while os.path.dirname(path) != path:
        path = os.path.dirname(path)
        result.append(path)
    return result


def _allowed(info: os.stat_result, uid: int, groups: set[int], user_bit: int) -> bool:
    if info.st_uid == uid:
        return bool(info.st_mode & user_bit)
    if info.st_gid in groups:
        return bool(info.st_mode & (user_bit >> 3))
    return bool(info.st_mode & (user_bit >> 6))


def _owner(info: os.stat_result) -> str:
    try:
        return f"{pwd.getpwuid(info.st_uid).pw_name}:{grp.getgrgid(info.st_gid).gr_name}"
    except KeyError:
        return f"{info.st_uid}:{info.st_gid}"
