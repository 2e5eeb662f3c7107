"""What keepalived changes, drops or doubts once an instance is read: vrrp_complete_instance().

keepalived 2.2.7 (vrrp.c) finishes each instance after the whole config is read, and there it
overrides what was written — authentication dropped under vrrp_strict or VRRPv3, the state
forced to match the address owner, preempt_delay reset, unicast turned into multicast — each
with one line `keepalived -t` prints only where the config's interfaces exist (on the load
balancer), so a config repository's CI never sees it. These checks say it from the model.
Sync groups are finished in vrrp_sync_set_group() (vrrp_sync.c), addresses read by
alloc_ipaddress() (vrrp_ipaddress.c).
"""

from __future__ import annotations

import ipaddress

from lbcheck.keepalived_conf import Instance, KeepalivedConfig, Node
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import (
    KA070,
    KA071,
    KA072,
    KA073,
    KA075,
    KA076,
    KA077,
    KA078,
    Subject,
    per_config,
)
from lbcheck.lint.tracking import instance_node

_TRUE = ("true", "on", "yes")
_FALSE = ("false", "off", "no")
# vrrp_parser.c: each handler sets VRRP_FLAG_UNICAST_CONFIGURED
UNICAST_KEYWORDS = ("unicast_peer", "unicast_src_ip", "check_unicast_src",
                    "unicast_checksum_compat")
VIP_BLOCKS = ("virtual_ipaddress", "virtual_ipaddress_excluded")


def strict(config: KeepalivedConfig, node: Node) -> bool:
    """vrrp_complete_instance(): the instance's own `strict_mode`, else global vrrp_strict."""
    for entry in reversed(node.find("strict_mode")):
        word = entry.args[0].lower() if entry.args else "true"
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    return any(n.keyword == "global_defs" and n.first("vrrp_strict") is not None
               for n in config.nodes)


def _instances(config: KeepalivedConfig) -> list[tuple[Instance, Node]]:
    found = []
    for instance in config.instances:
        node = instance_node(config, instance)
        if node is not None:
            found.append((instance, node))
    return found


@per_config(KA070)
def strict_mode(subject: Subject) -> list[Finding]:
    """KA070: vrrp_strict's rules. vrrp_complete_instance() drops authentication ('Strict mode
    does not support authentication. Ignoring.') and sets the state from the priority ('State
    MASTER must match being address owner'): MASTER below 255 starts as BACKUP, priority 255
    with BACKUP as MASTER. Unicast peers: its check ('Unicast peers are not supported in
    strict mode', which would refuse the instance) runs before the unicast flag is set from
    the peers, so 2.2.7 accepts them silently — a warning: the RFC mode asked for is not what
    runs, and a release that orders the check right refuses the instance."""
    config = subject.config
    found = []
    for instance, node in _instances(config):
        if not strict(config, node):
            continue
        name = instance.name
        if instance.authentication:
            block = node.first("authentication") or node
            found.append(KA070.finding(
                block.file, block.line,
                f"{name}: vrrp_strict with authentication: keepalived drops it ('Strict mode "
                "does not support authentication. Ignoring.') and sends adverts without it, "
                "while a peer that is not strict still expects them",
                "delete the authentication block (on both nodes), or drop vrrp_strict"))
        owner = instance.priority == 255
        if (instance.state == "MASTER") != owner and node.find("state"):
            became = "MASTER" if owner else "BACKUP"
            found.append(KA070.finding(
                node.file, node.line,
                f"{name}: vrrp_strict with state {instance.state} at priority "
                f"{instance.priority}: keepalived starts it as {became} ('State MASTER must "
                "match being address owner'): under vrrp_strict only the address owner "
                "(priority 255) may start as MASTER",
                "state BACKUP below priority 255 (the higher priority still wins), or "
                "priority 255 for the address owner"))
        if instance.unicast_peers:
            peers = node.first("unicast_peer") or node
            found.append(KA070.finding(
                peers.file, peers.line,
                f"{name}: vrrp_strict with unicast peers: strict mode is RFC 5798 VRRP, which "
                "is multicast only; keepalived 2.2.7 runs unicast anyway because its check "
                "('Unicast peers are not supported in strict mode', refusing the instance) "
                "runs before it has read the peers", "drop vrrp_strict, or the unicast peers",
                "warning"))
    return found


@per_config(KA071)
def preempt_delay_reset(subject: Subject) -> list[Finding]:
    """KA071: vrrp_complete_instance() clears preempt_delay with an initial state MASTER
    ('preempt delay will not work with initial state MASTER - clearing'), under vrrp_strict
    and with nopreempt ('preempt_delay is incompatible with … mode - resetting')."""
    config = subject.config
    found = []
    for instance, node in _instances(config):
        delays = [n for n in node.find("preempt_delay") if n.args]
        if not delays or delays[-1].args[0] in ("0", "0.0"):
            continue
        strict_here = strict(config, node)
        state = instance.state
        if strict_here and (state == "MASTER") != (instance.priority == 255):
            state = "MASTER" if instance.priority == 255 else "BACKUP"  # KA070's change
        why = ("the initial state is MASTER ('preempt delay will not work with initial "
               "state MASTER - clearing')" if state == "MASTER" else
               "vrrp_strict is on ('preempt_delay is incompatible with strict mode - "
               "resetting')" if strict_here else
               "nopreempt is set ('preempt_delay is incompatible with nopreempt mode - "
               "resetting'): with nopreempt there is nothing to delay"
               if instance.nopreempt else "")
        if why:
            entry = delays[-1]
            found.append(KA071.finding(
                entry.file, entry.line,
                f"{instance.name}: preempt_delay {entry.args[0]} is reset to 0 because {why}",
                "delete preempt_delay (or, for a delayed takeover, state BACKUP without "
                "nopreempt and without vrrp_strict)"))
    return found


@per_config(KA072)
def lonely_sync_group(subject: Subject) -> list[Finding]:
    """KA072: vrrp_sync_set_group() keeps a sync group of one instance but says 'Sync group G
    has only 1 virtual router(s) - this probably isn't what you want' (and `keepalived -t`
    fails): it moves nothing together, and as a group it drops the member's weighted
    trackers unless sync_group_tracking_weight (KA004)."""
    config = subject.config
    known = {i.name for i in config.instances}
    found = []
    for group in config.sync_groups:
        members = {m for m in group.members if m in known}
        if len(members) == 1:
            found.append(KA072.finding(
                group.file, group.line,
                f"vrrp_sync_group {group.name} holds one instance ({next(iter(members))}): "
                "keepalived keeps it but warns ('has only 1 virtual router(s) - this probably "
                "isn't what you want'); a group of one syncs nothing",
                "put the instance's notify scripts in the instance and drop the group, or add "
                "the instances that must move with it"))
    return found


@per_config(KA073)
def unicast_without_peers(subject: Subject) -> list[Finding]:
    """KA073: vrrp_complete_instance(): a unicast keyword with no unicast peer — keepalived
    defaults to multicast ('A unicast keyword has been specified without any unicast peers.
    Defaulting to multicast'), or with unicast_fault_no_peer stays in FAULT."""
    found = []
    for instance, node in _instances(subject.config):
        if instance.unicast_peers:
            continue
        given = next((n for n in node.children if n.keyword in UNICAST_KEYWORDS), None)
        if given is None:
            continue
        if node.first("unicast_fault_no_peer") is not None:
            what = ("unicast_fault_no_peer keeps it in FAULT ('Cannot use unicast without any "
                    "peers - going to fault state'): it never holds the VIPs")
        else:
            what = ("keepalived sends multicast adverts instead ('A unicast keyword has been "
                    "specified without any unicast peers. Defaulting to multicast'), which a "
                    "unicast-only network (a cloud VPC) drops: both nodes become MASTER")
        found.append(KA073.finding(
            given.file, given.line,
            f"{instance.name}: '{given.keyword}' without any unicast peer: {what}",
            "unicast_peer { PEER_ADDRESS } (the other node's address)"))
    return found


def vrrp_version(config: KeepalivedConfig, instance: Instance, node: Node) -> int:
    """vrrp_complete_instance(): an IPv6 instance without its own `version` is VRRPv3 (and
    under vrrp_strict even with version 2); else the instance's, else global vrrp_version."""
    if instance.family == 6 and (instance.version is None or strict(config, node)):
        return 3
    return config.version_of(instance)


@per_config(KA075)
def v3_authentication(subject: Subject) -> list[Finding]:
    """KA075: vrrp_complete_instance() drops authentication under VRRPv3 ('VRRP version 3 does
    not support authentication. Ignoring.'); under vrrp_strict KA070 says it first, as
    keepalived does."""
    config = subject.config
    found = []
    for instance, node in _instances(config):
        if not instance.authentication or strict(config, node):
            continue
        if vrrp_version(config, instance, node) == 3:
            block = node.first("authentication") or node
            found.append(KA075.finding(
                block.file, block.line,
                f"{instance.name}: authentication under VRRPv3: keepalived ignores it ('VRRP "
                "version 3 does not support authentication'), so adverts go unauthenticated "
                "while a VRRPv2 peer with this block expects them authenticated",
                "delete the authentication block on both nodes (VRRPv3 has none)"))
    return found


@per_config(KA076)
def ipv6_label(subject: Subject) -> list[Finding]:
    """KA076: alloc_ipaddress() ignores `label` on an IPv6 address ('Cannot specify label for
    IPv6 addresses - ignoring label'): labels (eth0:1) exist for IPv4 only."""
    found = []
    for node in subject.config.nodes:
        if node.keyword == "vrrp_instance":
            blocks = [b for b in node.children if b.keyword in VIP_BLOCKS]
        elif node.keyword == "static_ipaddress":
            blocks = [node]
        else:
            continue
        for block in blocks:
            for entry in block.children:
                if "label" not in entry.args or _family(entry.keyword) != 6:
                    continue
                at = entry.args.index("label")
                label = entry.args[at + 1] if at + 1 < len(entry.args) else ""
                found.append(KA076.finding(
                    entry.file, entry.line,
                    f"{entry.keyword}: 'label {label}' on an IPv6 address: keepalived ignores "
                    "the label ('Cannot specify label for IPv6 addresses'); whatever expects "
                    "it (a script, monitoring) never sees it",
                    f"delete 'label {label}' from the IPv6 address"))
    return found


def _family(text: str) -> int | None:
    try:
        return ipaddress.ip_interface(text).version
    except ValueError:
        return None


@per_config(KA077)
def sync_group_members(subject: Subject) -> list[Finding]:
    """KA077: vrrp_sync_set_group() (vrrp_sync.c) ignores a member that is no vrrp_instance
    ('Virtual router X specified in sync group G doesn't exist - ignoring') or that an earlier
    group already holds ('cannot exist in more than one sync group'), and removes a group left
    with none ('no matching virtual router found in group declaration - removing'): what was
    meant to move together moves apart, silently in the running daemon."""
    config = subject.config
    known = {i.name for i in config.instances}
    taken: dict[str, str] = {}
    found = []
    for group in config.sync_groups:
        kept = []
        for member in group.members:
            if member not in known:
                found.append(KA077.finding(
                    group.file, group.line,
                    f"vrrp_sync_group {group.name} names {member}, which is no vrrp_instance: "
                    f"keepalived ignores it ('Virtual router {member} specified in sync group "
                    f"{group.name} doesn't exist - ignoring')",
                    f"name an existing vrrp_instance, or remove {member} from the group"))
            elif member in taken:
                found.append(KA077.finding(
                    group.file, group.line,
                    f"vrrp_sync_group {group.name} names {member}, already in "
                    f"{taken[member]}: keepalived ignores it here ('cannot exist in more than "
                    "one sync group')",
                    f"keep {member} in one sync group"))
            else:
                taken[member] = group.name
                kept.append(member)
        if group.members and not kept:
            found.append(KA077.finding(
                group.file, group.line,
                f"vrrp_sync_group {group.name} has no member keepalived can use: it removes "
                "the group ('no matching virtual router found in group declaration - "
                "removing')", "list the vrrp_instances the group should move together"))
    return found


@per_config(KA078)
def empty_virtual_servers(subject: Subject) -> list[Finding]:
    """KA078: validate_check_config() (check/check_data.c) drops a virtual_server without a
    real_server ('Virtual server X has no real servers - ignoring'): IPVS never gets it."""
    found = []
    for node in subject.config.nodes:
        if node.keyword == "virtual_server" and not node.find("real_server"):
            where = " ".join(node.args) or "(no address)"
            found.append(KA078.finding(
                node.file, node.line,
                f"virtual_server {where} has no real_server: keepalived ignores it ('Virtual "
                "server … has no real servers - ignoring'), IPVS never balances it",
                "add its real_server blocks, or remove the virtual_server"))
    return found
