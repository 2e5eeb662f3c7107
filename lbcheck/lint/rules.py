"""Rules about one keepalived.conf: the traps keepalived accepts without complaint.

Each check judges the model of one config and registers with the rules it raises
(lint/registry.py); the paragraph that explains a rule in keepalived's terms is in
docs/lint.md ("Lint rules"), under its ID.
"""

from __future__ import annotations

import re

from lbcheck.keepalived_conf import Instance, KeepalivedConfig, Track, Vip
from lbcheck.lint.counterparts import AUTH_PASS_BYTES, counterpart, wire_auth
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import (
    KA001,
    KA002,
    KA003,
    KA004,
    KA028,
    KA030,
    KA046,
    KA047,
    KA050,
    KA051,
    KA052,
    KA053,
    KA054,
    Subject,
    per_config,
)
from lbcheck.lint.text import walk
from lbcheck.lint.tracking import defined_later, instance_node


@per_config(KA001)
def mixed_families(subject: Subject) -> list[Finding]:
    config = subject.config
    found = []
    for instance in config.instances:
        ignored = instance.ignored_vips
        if not ignored:
            continue
        first = next((v for v in instance.vips if v.family == instance.family), None)
        why = f"its first VIP is {first.text}" if first else "native_ipv6"
        found.append(KA001.finding(
            ignored[0].file, ignored[0].line,
            f"vrrp_instance {instance.name} is IPv{instance.family} ({why}): "
            f"keepalived ignores {', '.join(v.text for v in ignored)} "
            "('address family must match VRRP instance')",
            "move them to virtual_ipaddress_excluded, or to their own instance in a "
            "vrrp_sync_group with this one"))
    return found


@per_config(KA002)
def unreachable_vips(subject: Subject) -> list[Finding]:
    config = subject.config
    found = []
    for instance in config.instances:
        for vip in (*instance.vips, *instance.excluded_vips):
            problem = _unreachable(vip)
            if problem:
                severity, why = problem
                found.append(KA002.finding(vip.file, vip.line,
                                           f"VIP {vip.text} of {instance.name} {why}",
                                           "use a routable address (e.g. from 2001:db8::/32 "
                                           "in labs)", severity))
    return found


def _unreachable(vip: Vip) -> tuple[str, str] | None:
    address = vip.address
    if address is None:
        return "error", "is not an address keepalived can parse"
    ip = address.ip
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        return "error", (f"is IPv4-mapped (::ffff:{mapped}): an IPv4 address in IPv6 notation "
                         "that no IPv6 packet carries on the wire")
    if ip.is_loopback or ip.is_unspecified:
        return "error", "is a loopback/unspecified address"
    if ip.is_multicast:
        return "error", "is a multicast address"
    if ip.is_link_local:
        return "warning", "is link-local: reachable only on that link"
    return None


@per_config(KA003)
def split_families(subject: Subject) -> list[Finding]:
    """IPv4 and IPv6 instances on one interface that are not in one sync group."""
    config = subject.config
    found = []
    by_interface: dict[str | None, list[Instance]] = {}
    for instance in config.instances:
        by_interface.setdefault(instance.interface, []).append(instance)
    for interface, instances in by_interface.items():
        v4 = [i for i in instances if i.family == 4]
        v6 = [i for i in instances if i.family == 6]
        for six in v6:
            group = config.group_of(six.name)
            lonely = [four for four in v4 if group is None or four.name not in group.members]
            if lonely:
                found.append(KA003.finding(
                    six.file, six.line,
                    f"IPv6 vrrp_instance {six.name} and IPv4 {lonely[0].name} on {interface} "
                    "fail over independently: a partial failover splits the families, and "
                    "both nodes can hold the IPv6 VIPs ('someone advertises our address')",
                    f"one instance with the IPv6 VIPs in virtual_ipaddress_excluded, or "
                    f"vrrp_sync_group {{ group {{ {lonely[0].name} {six.name} }} }}"))
    return found


def tracked_with_weight(config: KeepalivedConfig, instance: Instance) -> list[tuple[Track, int]]:
    """Every tracked item of ``instance`` with the weight keepalived would apply.

    Names keepalived cannot resolve (no such vrrp_script or tracker, one defined only after
    the instance, or a vrrp_script without a command, which it removes) are left out:
    keepalived ignores them (KA005 says so).
    """
    node = instance_node(config, instance)
    late = ({**defined_later(config, node, "track_script"),
             **defined_later(config, node, "track_process")} if node else {})
    items = [(t, config.script_weight(t)) for t in instance.track_scripts
             if t.name in config.scripts and config.scripts[t.name].command
             and t.name not in late]
    for track in (*instance.track_processes, *instance.track_files):
        tracker = config.trackers.get(track.name)
        if tracker is None or (track in instance.track_processes and track.name in late):
            continue
        items.append((track, track.weight if track.weight is not None else tracker.weight))
    return items


@per_config(KA004)
def sync_group_weights(subject: Subject) -> list[Finding]:
    config = subject.config
    found = []
    for group in config.sync_groups:
        if group.tracking_weight:
            continue
        for instance in config.instances_in_group(group.name):
            for track, weight in tracked_with_weight(config, instance):
                if weight:
                    found.append(KA004.finding(
                        track.file, track.line,
                        f"{track.name} (weight {weight:+d}) of {instance.name} is in sync group "
                        f"{group.name}: keepalived drops it ('ignoring tracked script with "
                        "weights due to SYNC group') and it never moves the VIPs",
                        f"add sync_group_tracking_weight to vrrp_sync_group {group.name}, or "
                        "use weight 0 (failure → FAULT → the whole group fails over)"))
    return found


@per_config(KA030)
def notify_ordering(subject: Subject) -> list[Finding]:
    config = subject.config
    if config.global_defs.notify_fifo_script:
        return []
    found = []
    for instance in config.instances:
        if instance.notify:
            keyword, _, line = instance.notify[0]
            found.append(KA030.finding(
                instance.file, line,
                f"{instance.name} uses {keyword}: keepalived runs notify scripts concurrently "
                "and they can arrive out of order",
                'global_defs { vrrp_notify_fifo /run/keepalived/notify.fifo; '
                'vrrp_notify_fifo_script "/usr/bin/lbnotify fifo" }'))
    return found


@per_config(KA046)
def master_nopreempt(subject: Subject) -> list[Finding]:
    config = subject.config
    return [KA046.finding(i.file, i.line,
                          f"{i.name}: state MASTER with nopreempt; keepalived only honours "
                          "nopreempt when the initial state is BACKUP",
                          "state BACKUP on both nodes")
            for i in config.instances if i.state == "MASTER" and i.nopreempt]


@per_config(KA047)
def owner_with_weights(subject: Subject) -> list[Finding]:
    config = subject.config
    found = []
    for instance in config.instances:
        weighted = [t for t, w in tracked_with_weight(config, instance) if w]
        if instance.priority == 255 and weighted:
            found.append(KA047.finding(
                instance.file, instance.line,
                f"{instance.name}: priority 255 marks the address owner; keepalived ignores "
                f"the weights of {', '.join(t.name for t in weighted)}",
                "priority 254 or lower, or weight 0 checks"))
    return found


LB_KINDS = ("NAT", "DR", "TUN")  # exact spelling: 2.2.7 rejects `dr` ("unknown routing method")


@per_config(KA050)
def invalid_values(subject: Subject) -> list[Finding]:
    """What `keepalived -t` rejects outright: lint must never call such a config clean.

    An instance's values, read from the model; an LVS `lb_kind`, read from the text and said
    without keepalived installed (a config repository's CI): it was seen in public configs.
    """
    config = subject.config
    found = []
    for i in config.instances:
        problems = []
        if i.virtual_router_id is None or not 1 <= i.virtual_router_id <= 255:
            problems.append(f"virtual_router_id {i.virtual_router_id} is not 1..255")
        if not 1 <= i.priority <= 255:
            problems.append(f"priority {i.priority} is not 1..255")
        if i.advert_int <= 0:
            problems.append(f"advert_int {i.advert_int:g} is not positive")
        elif config.version_of(i) == 2 and i.advert_int != int(i.advert_int):
            problems.append(f"advert_int {i.advert_int:g} is fractional, which VRRPv2 cannot "
                            "carry (set vrrp_version 3 for sub-second adverts)")
        if not i.interface:
            problems.append("no interface")
        if problems:
            found.append(KA050.finding(i.file, i.line,
                                       f"{i.name}: {'; '.join(problems)} — keepalived "
                                       "rejects this instance", "set virtual_router_id "
                                       "1..255, priority 1..254, an interface"))
    found += _numbers(config)
    for _block, node in walk(config.nodes):
        if node.keyword == "lb_kind" and node.args and node.args[0] not in LB_KINDS:
            found.append(KA050.finding(
                node.file, node.line,
                f"lb_kind {node.args[0]}: keepalived knows only {', '.join(LB_KINDS)}, spelled "
                "so ('unknown routing method'), and `keepalived -t` fails",
                f"lb_kind {node.args[0].upper() if node.args[0].upper() in LB_KINDS else 'NAT'}"))
    return found


# keyword → (its handler in keepalived 2.2.7, the range it accepts, what it does with the
# rest): read_unsigned_strvec() / read_decimal_unsigned_strvec() refuse anything else.
# persistence_timeout: pto_handler() (check_parser.c), 1..LVS_MAX_TIMEOUT (31 days);
# vrrp_garp_interval / vrrp_gna_interval: vrrp_garp_interval_handler() and
# vrrp_gna_interval_handler() (global_parser.c), 0.000001..4294.967295 seconds.
RANGES = {
    "persistence_timeout": ("virtual_server", 1, 2_678_400, True, "1..2678400",
                            "persistence_timeout invalid", "no persistence"),
    "vrrp_garp_interval": ("global_defs", 0.000001, 4294.967295, False,
                           "0.000001..4294.967295", "vrrp_garp_interval '…' is invalid",
                           "no delay between gratuitous ARPs"),
    "vrrp_gna_interval": ("global_defs", 0.000001, 4294.967295, False,
                          "0.000001..4294.967295", "vrrp_gna_interval '…' is invalid",
                          "no delay between unsolicited NAs"),
}


def _numbers(config: KeepalivedConfig) -> list[Finding]:
    """A priority that is no number (vrrp_prio_handler(): 'Priority not valid! … Using
    default 100'), and the RANGES values keepalived refuses (`keepalived -t` fails)."""
    found = []
    for block, node in walk(config.nodes):
        if block == "vrrp_instance" and node.keyword == "priority" and node.args and not (
                node.args[0].isdigit()):
            found.append(KA050.finding(
                node.file, node.line,
                f"priority '{node.args[0]}' is not a number (a template placeholder left "
                "unrendered?): keepalived refuses it ('Priority not valid! must be between 1 & "
                "255. Using default 100') and runs the instance at priority 100",
                "priority 1..254"))
        judged = RANGES.get(node.keyword)
        if judged is None or block != judged[0] or not node.args:
            continue
        _where, low, high, integer, span, says, default = judged
        value = node.args[0]
        number = (float(value) if re.fullmatch(r"[0-9]+" if integer else r"[0-9]+(\.[0-9]*)?",
                                               value) else None)
        if number is None or not low <= number <= high:
            found.append(KA050.finding(
                node.file, node.line,
                f"{node.keyword} {value} is not in {span}: keepalived refuses the line "
                f"('{says}') and keeps its default ({default}); `keepalived -t` fails",
                f"delete the line (the default is what {value} meant)" if number == 0 else
                f"{node.keyword} within {span}"))
    return found


@per_config(KA051, KA052, KA053)
def state_and_authentication(subject: Subject) -> list[Finding]:
    """KA051 a state keepalived does not know; KA052 auth_pass over 8 characters; KA053 AH
    authentication with state MASTER (keepalived clears it to BACKUP)."""
    config = subject.config
    found = []
    for node in config.nodes:
        if node.keyword != "vrrp_instance" or not node.args:
            continue
        name = node.args[0]
        master = None
        for entry in node.find("state"):
            word = entry.args[0] if entry.args else ""
            if word == "MASTER":
                master = master or entry
            elif word == "BACKUP" and master is not None:
                found.append(KA051.finding(
                    entry.file, entry.line,
                    f"{name}: state BACKUP after state MASTER (line {master.line}): keepalived "
                    "ignores this one ('state previously set as MASTER') and starts as MASTER",
                    "one state line"))
            if word and word not in ("MASTER", "BACKUP"):
                found.append(KA051.finding(
                    entry.file, entry.line,
                    f"{name}: state '{word}' is neither MASTER nor BACKUP (case matters): "
                    "keepalived starts the instance as BACKUP ('unknown state')",
                    "state MASTER or state BACKUP"))
        auth_type = ""
        for block in node.find("authentication"):
            for entry in block.children:
                value = entry.args[0] if entry.args else ""
                if entry.keyword == "auth_type":
                    auth_type = value.upper()
                if entry.keyword == "auth_pass" and len(value) > AUTH_PASS_BYTES:
                    found.append(_long_auth_pass(subject, name, entry.file, entry.line, value))
        instance = config.instance(name)
        if auth_type == "AH" and instance and instance.state == "MASTER" and (
                instance.priority != 255):
            found.append(KA053.finding(
                instance.file, instance.line,
                f"{name}: AH authentication with state MASTER: keepalived starts it as BACKUP "
                "('Initial state master is incompatible with AH authentication'), since it "
                "needs an advert's AH sequence number before taking over",
                "state BACKUP (the higher priority still wins), or auth_type PASS / none"))
    return found


def _long_auth_pass(subject: Subject, name: str, file: str, line: int, value: str) -> Finding:
    """KA052: keepalived keeps 8 characters (vrrp_parser.c vrrp_auth_pass_handler, 'Truncating
    auth_pass to 8 characters', a config error: `keepalived -t` exits 5) — what was written is
    not what is sent, an error. Given the peer, the consequence is the pair's: when the
    counterpart keeps the same 8 characters, vrrp_check_packet compares only those and the
    nodes authenticate each other, so it is a warning (-t still fails on the line)."""
    kept = value[:AUTH_PASS_BYTES]
    said = (f"{name}: auth_pass is {len(value)} characters; keepalived uses the first "
            f"{AUTH_PASS_BYTES} ('Truncating auth_pass to 8 characters', and `keepalived -t` "
            "fails on it)")
    instance = subject.config.instance(name)
    other = (counterpart(instance, subject.config, subject.peer)
             if instance is not None and subject.peer is not None else None)
    if instance is None or other is None or wire_auth(other) != wire_auth(instance):
        return KA052.finding(file, line, f"{said}, so a peer configured with the whole string "
                             "by another implementation disagrees", f"auth_pass {kept}")
    theirs = dict(other.authentication).get("auth_pass", "").split()
    if theirs and theirs[0] == value:
        alike = (f"; the peer's {other.name} has the same auth_pass and truncates it alike, so "
                 "the nodes authenticate each other")
    else:
        alike = (f"; the peer's {other.name} writes an auth_pass that differs only after the "
                 f"{AUTH_PASS_BYTES}th character: keepalived compares the first "
                 f"{AUTH_PASS_BYTES} only, so the nodes authenticate anyway")
    return KA052.finding(file, line, said + alike, f"auth_pass {kept} on both nodes",
                         severity="warning")


@per_config(KA028)
def script_security_off(subject: Subject) -> list[Finding]:
    """KA028: scripts without enable_script_security — keepalived runs them as root and says
    'SECURITY VIOLATION - scripts are being executed but script_security not enabled'."""
    config = subject.config
    if config.global_defs.enable_script_security or not config.scripts:
        return []
    first = min(config.scripts.values(), key=lambda s: (s.file, s.line))
    return [KA028.finding(first.file, first.line,
                          f"{len(config.scripts)} vrrp_script(s) without "
                          "enable_script_security: keepalived runs them as root and "
                          "`keepalived -t` fails ('SECURITY VIOLATION - scripts are being "
                          "executed but script_security not enabled')",
                          "global_defs { enable_script_security; script_user root (or a user "
                          "that may run the checks) }")]


@per_config(KA054)
def no_vips(subject: Subject) -> list[Finding]:
    """KA054: an instance without virtual_ipaddress moves nothing by itself."""
    return [KA054.finding(i.file, i.line,
                          f"{i.name} has no virtual_ipaddress: keepalived moves no address "
                          "('No VIP specified; at least one is sensible'); only notify scripts "
                          "act on a failover", "list the VIPs in virtual_ipaddress")
            for i in subject.config.instances if not i.vips and not i.excluded_vips]

