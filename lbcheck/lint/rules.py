"""Rules about one keepalived.conf: the traps keepalived accepts without complaint.

Each rule is a function ``config -> list[Finding]``; the paragraph that explains it in
keepalived's terms is in the README ("Lint rules"), under the same ID.
"""

from __future__ import annotations

from collections.abc import Callable

from lbcheck.keepalived_conf import Instance, KeepalivedConfig, Track, Vip
from lbcheck.lint.findings import Finding

Rule = Callable[[KeepalivedConfig], list[Finding]]


def mixed_families(config: KeepalivedConfig) -> list[Finding]:
    found = []
    for instance in config.instances:
        ignored = instance.ignored_vips
        if not ignored:
            continue
        first = next((v for v in instance.vips if v.family == instance.family), None)
        why = f"its first VIP is {first.text}" if first else "native_ipv6"
        found.append(Finding(
            "KA001", "error", ignored[0].file, ignored[0].line,
            f"vrrp_instance {instance.name} is IPv{instance.family} ({why}): "
            f"keepalived ignores {', '.join(v.text for v in ignored)} "
            "('address family must match VRRP instance')",
            "move them to virtual_ipaddress_excluded, or to their own instance in a "
            "vrrp_sync_group with this one"))
    return found


def unreachable_vips(config: KeepalivedConfig) -> list[Finding]:
    found = []
    for instance in config.instances:
        for vip in (*instance.vips, *instance.excluded_vips):
            problem = _unreachable(vip)
            if problem:
                severity, why = problem
                found.append(Finding("KA002", severity, vip.file, vip.line,
                                     f"VIP {vip.text} of {instance.name} {why}",
                                     "use a routable address (e.g. from 2001:db8::/32 in labs)"))
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


def split_families(config: KeepalivedConfig) -> list[Finding]:
    """IPv4 and IPv6 instances on one interface that are not in one sync group."""
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
                found.append(Finding(
                    "KA003", "error", six.file, six.line,
                    f"IPv6 vrrp_instance {six.name} and IPv4 {lonely[0].name} on {interface} "
                    "fail over independently: a partial failover splits the families, and "
                    "both nodes can hold the IPv6 VIPs ('someone advertises our address')",
                    f"one instance with the IPv6 VIPs in virtual_ipaddress_excluded, or "
                    f"vrrp_sync_group {{ group {{ {lonely[0].name} {six.name} }} }}"))
    return found


def tracked_with_weight(config: KeepalivedConfig, instance: Instance) -> list[tuple[Track, int]]:
    """Every tracked item of ``instance`` with the weight keepalived would apply.

    Names keepalived cannot resolve (no such vrrp_script or tracker, or a vrrp_script without
    a command, which it removes) are left out: keepalived ignores them (KA005 says so).
    """
    items = [(t, config.script_weight(t)) for t in instance.track_scripts
             if t.name in config.scripts and config.scripts[t.name].command]
    for track in (*instance.track_processes, *instance.track_files):
        tracker = config.trackers.get(track.name)
        if tracker is None:
            continue
        items.append((track, track.weight if track.weight is not None else tracker.weight))
    return items


def sync_group_weights(config: KeepalivedConfig) -> list[Finding]:
    found = []
    for group in config.sync_groups:
        if group.tracking_weight:
            continue
        for instance in config.instances_in_group(group.name):
            for track, weight in tracked_with_weight(config, instance):
                if weight:
                    found.append(Finding(
                        "KA004", "error", track.file, track.line,
                        f"{track.name} (weight {weight:+d}) of {instance.name} is in sync group "
                        f"{group.name}: keepalived drops it ('ignoring tracked script with "
                        "weights due to SYNC group') and it never moves the VIPs",
                        f"add sync_group_tracking_weight to vrrp_sync_group {group.name}, or "
                        "use weight 0 (failure → FAULT → the whole group fails over)"))
    return found


def notify_ordering(config: KeepalivedConfig) -> list[Finding]:
    if config.global_defs.notify_fifo_script:
        return []
    found = []
    for instance in config.instances:
        if instance.notify:
            keyword, _, line = instance.notify[0]
            found.append(Finding(
                "KA030", "info", instance.file, line,
                f"{instance.name} uses {keyword}: keepalived runs notify scripts concurrently "
                "and they can arrive out of order",
                'global_defs { vrrp_notify_fifo /run/keepalived/notify.fifo; '
                'vrrp_notify_fifo_script "/usr/bin/lbnotify fifo" }'))
    return found


def master_nopreempt(config: KeepalivedConfig) -> list[Finding]:
    return [Finding("KA046", "warning", i.file, i.line,
                    f"{i.name}: state MASTER with nopreempt; keepalived only honours nopreempt "
                    "when the initial state is BACKUP", "state BACKUP on both nodes")
            for i in config.instances if i.state == "MASTER" and i.nopreempt]


def owner_with_weights(config: KeepalivedConfig) -> list[Finding]:
    found = []
    for instance in config.instances:
        weighted = [t for t, w in tracked_with_weight(config, instance) if w]
        if instance.priority == 255 and weighted:
            found.append(Finding(
                "KA047", "warning", instance.file, instance.line,
                f"{instance.name}: priority 255 marks the address owner; keepalived ignores "
                f"the weights of {', '.join(t.name for t in weighted)}",
                "priority 254 or lower, or weight 0 checks"))
    return found


def invalid_values(config: KeepalivedConfig) -> list[Finding]:
    """What `keepalived -t` rejects outright: lint must never call such a config clean."""
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
            found.append(Finding("KA050", "error", i.file, i.line,
                                 f"{i.name}: {'; '.join(problems)} — keepalived rejects this "
                                 "instance", "set virtual_router_id 1..255, priority 1..254, "
                                 "an interface"))
    return found


def state_and_authentication(config: KeepalivedConfig) -> list[Finding]:
    """KA051 a state keepalived does not know; KA052 auth_pass over 8 characters; KA053 AH
    authentication with state MASTER (keepalived clears it to BACKUP)."""
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
                found.append(Finding(
                    "KA051", "error", entry.file, entry.line,
                    f"{name}: state BACKUP after state MASTER (line {master.line}): keepalived "
                    "ignores this one ('state previously set as MASTER') and starts as MASTER",
                    "one state line"))
            if word and word not in ("MASTER", "BACKUP"):
                found.append(Finding(
                    "KA051", "error", entry.file, entry.line,
                    f"{name}: state '{word}' is neither MASTER nor BACKUP (case matters): "
                    "keepalived starts the instance as BACKUP ('unknown state')",
                    "state MASTER or state BACKUP"))
        auth_type = ""
        for block in node.find("authentication"):
            for entry in block.children:
                value = entry.args[0] if entry.args else ""
                if entry.keyword == "auth_type":
                    auth_type = value.upper()
                if entry.keyword == "auth_pass" and len(value) > 8:
                    found.append(Finding(
                        "KA052", "error", entry.file, entry.line,
                        f"{name}: auth_pass is {len(value)} characters; keepalived uses the "
                        f"first 8 ('Truncating auth_pass to 8 characters'), so a peer "
                        "configured with the whole string by another implementation "
                        "disagrees", f"auth_pass {value[:8]}"))
        instance = config.instance(name)
        if auth_type == "AH" and instance and instance.state == "MASTER" and (
                instance.priority != 255):
            found.append(Finding(
                "KA053", "error", instance.file, instance.line,
                f"{name}: AH authentication with state MASTER: keepalived starts it as BACKUP "
                "('Initial state master is incompatible with AH authentication'), since it "
                "needs an advert's AH sequence number before taking over",
                "state BACKUP (the higher priority still wins), or auth_type PASS / none"))
    return found


def script_security_off(config: KeepalivedConfig) -> list[Finding]:
    """KA028: scripts without enable_script_security — keepalived runs them as root and says
    'SECURITY VIOLATION - scripts are being executed but script_security not enabled'."""
    if config.global_defs.enable_script_security or not config.scripts:
        return []
    first = min(config.scripts.values(), key=lambda s: (s.file, s.line))
    return [Finding("KA028", "warning", first.file, first.line,
                    f"{len(config.scripts)} vrrp_script(s) without enable_script_security: "
                    "keepalived runs them as root and `keepalived -t` fails ('SECURITY "
                    "VIOLATION - scripts are being executed but script_security not enabled')",
                    "global_defs { enable_script_security; script_user root (or a user that "
                    "may run the checks) }")]


def no_vips(config: KeepalivedConfig) -> list[Finding]:
    """KA054: an instance without virtual_ipaddress moves nothing by itself."""
    return [Finding("KA054", "warning", i.file, i.line,
                    f"{i.name} has no virtual_ipaddress: keepalived moves no address ('No VIP "
                    "specified; at least one is sensible'); only notify scripts act on a "
                    "failover", "list the VIPs in virtual_ipaddress")
            for i in config.instances if not i.vips and not i.excluded_vips]


RULES: tuple[Rule, ...] = (invalid_values, mixed_families, unreachable_vips, split_families,
                           sync_group_weights, notify_ordering, master_nopreempt,
                           owner_with_weights, state_and_authentication, script_security_off,
                           no_vips)
