"""Rules about the pair: do these two configs form one virtual router that fails over?"""

from __future__ import annotations

import ipaddress

from lbcheck.keepalived_conf import Instance, KeepalivedConfig
from lbcheck.lint import arithmetic
from lbcheck.lint.counterparts import counterpart, family, wire_auth
from lbcheck.lint.findings import Finding
from lbcheck.lint.registry import (
    KA010,
    KA011,
    KA012,
    KA013,
    KA040,
    KA041,
    KA042,
    KA043,
    KA044,
    KA048,
    KA049,
    Subject,
    per_pair,
)
from lbcheck.lint.rules import tracked_with_weight


@per_pair(KA040, KA041, KA042, KA043, KA044, KA012, KA011, KA010, KA013, KA048, KA049)
def check(subject: Subject, peer: KeepalivedConfig) -> list[Finding]:
    """Each instance against its counterpart as VRRP pairs them (same VRID, family and
    segment: lint/counterparts.py); names only say which is which; the priority table is
    a note."""
    mine = subject.config
    findings: list[Finding] = []
    for instance in mine.instances:
        other = counterpart(instance, mine, peer)
        if other is None:
            findings.append(_alone(instance, peer))
            continue
        if other.name != instance.name:
            findings.append(KA049.finding(
                instance.file, instance.line,
                f"{instance.name} pairs with the peer's {other.name} (virtual_router_id "
                f"{instance.virtual_router_id} on {instance.interface}): VRRP pairs them by "
                "router ID, never by name, but notify scripts, logs and SNMP on the two nodes "
                "name one router twice", f"one name on both nodes ({instance.name})"))
        findings += _match(instance, other)
        findings += _master_below(instance, other)
        findings += _fault_on_both(mine, instance, peer, other)
        more, table = _arithmetic(mine, instance, peer, other)
        findings += more
        subject.notes += table
    return findings


def _alone(instance: Instance, peer: KeepalivedConfig) -> Finding:
    """KA040: no instance of the peer's shares this one's router ID (and family, and
    segment); the same name with another router ID is two routers, each master."""
    namesake = peer.instance(instance.name)
    if namesake is not None and namesake.virtual_router_id != instance.virtual_router_id:
        return KA040.finding(instance.file, instance.line,
                             f"{instance.name}: virtual_router_id {instance.virtual_router_id} "
                             f"here, {namesake.virtual_router_id} on the peer: two separate "
                             "routers, both master",
                             "use the same virtual_router_id on both nodes")
    return KA040.finding(instance.file, instance.line,
                         f"{instance.name} has no counterpart in {peer.path} (no IPv"
                         f"{family(instance)} instance with virtual_router_id "
                         f"{instance.virtual_router_id} on {instance.interface})",
                         "define the same virtual router on both nodes")


def _master_below(a: Instance, b: Instance) -> list[Finding]:
    """KA048: the node written `state MASTER` has the lower base priority. Below 255 that
    state buys no head start (vrrp_scheduler.c vrrp_init_state: 'Entering BACKUP STATE
    (init)', master after the master-down timer); the peer, BACKUP at the higher priority,
    discards its adverts ('received lower priority (10) advert … discarding', vrrp.c
    vrrp_state_backup) and takes over, and the written master goes BACKUP on the higher advert
    (vrrp_state_master_rx) — seen with two keepalived 2.2.7 in two namespaces. So the VIPs
    rest on the "backup" whenever both run, and move (a failover) each time it starts.
    `keepalived -t` is silent on each config (it cannot see the pair): a warning. Not when
    the higher node holds back with nopreempt (honoured in state BACKUP): then the first node
    up keeps the VIPs, by design."""
    found = []
    for low, high in ((a, b), (b, a)):
        if low.state != "MASTER" or low.priority >= high.priority:
            continue
        if high.nopreempt and high.state == "BACKUP":
            continue
        found.append(KA048.finding(
            low.file, low.line,
            f"{low.name}: state MASTER at priority {low.priority}, but the peer's "
            f"{high.name} has {high.priority}: the higher priority wins once both run, so the "
            "VIPs rest on the peer written BACKUP, and this node holds them only while the "
            "peer is down (each start of the peer is a failover)",
            f"give the intended master the higher priority (above {high.priority}), or write "
            "state BACKUP here"))
    return found


def _match(a: Instance, b: Instance) -> list[Finding]:
    found = []
    where = (a.file, a.line)
    if a.advert_int != b.advert_int:
        found.append(KA041.finding(*where,
                                   f"{a.name}: advert_int {a.advert_int:g} here, "
                                   f"{b.advert_int:g} on the peer: keepalived discards adverts "
                                   "with a different interval",
                                   "use the same advert_int on both nodes"))
    mine = {str(v.address.ip) for v in (*a.vips, *a.excluded_vips) if v.address}
    theirs = {str(v.address.ip) for v in (*b.vips, *b.excluded_vips) if v.address}
    if mine != theirs:
        found.append(KA042.finding(*where,
                                   f"{a.name}: VIPs differ from the peer's (only here: "
                                   f"{sorted(mine - theirs)}, only there: "
                                   f"{sorted(theirs - mine)})",
                                   "list the same VIPs on both nodes"))
    if wire_auth(a) != wire_auth(b):
        found.append(KA043.finding(*where,
                                   f"{a.name}: authentication differs from the peer's: "
                                   "adverts are rejected and both nodes become master",
                                   "same auth_type and auth_pass on both (or none)"))
    for address in a.unicast_peers:
        try:
            version = ipaddress.ip_address(address).version
        except ValueError:
            continue
        if a.family and version != a.family:
            found.append(KA044.finding(*where,
                                       f"{a.name} is IPv{a.family} but unicast_peer {address} is "
                                       f"IPv{version}: adverts never reach the peer",
                                       "unicast peers of the instance's family"))
    return found


def _check_key(config: KeepalivedConfig, name: str) -> str:
    """What a tracked item checks: a script's command, else the tracker's name."""
    script = config.scripts.get(name)
    return script.command if script else name


def _fault_on_both(mine: KeepalivedConfig, a: Instance, peer: KeepalivedConfig,
                   b: Instance) -> list[Finding]:
    """KA012: both nodes put the instance in FAULT on the same failing check."""
    theirs = {_check_key(peer, t.name): t for t, w in tracked_with_weight(peer, b) if w == 0}
    found = []
    for track, weight in tracked_with_weight(mine, a):
        other = theirs.get(_check_key(mine, track.name))
        if weight != 0 or other is None:
            continue
        gap = abs(a.priority - b.priority) or 1
        found.append(KA012.finding(
            track.file, track.line,
            f"{a.name}: both nodes track {track.name} with weight 0: when it fails on both "
            "at once (a bad deploy, a permission change, a shared backend down) both go to "
            "FAULT and no node holds the VIPs",
            f"weight -{gap + 1} or lower (more than the priority gap of {gap}) on both: a "
            "failure on one node still moves the VIPs, a failure on both keeps them on the "
            "higher-priority node"))
    return found


def _node(config: KeepalivedConfig, instance: Instance, label: str) -> arithmetic.Node:
    """Tracked items as keepalived applies them (sync groups drop weights unless told)."""
    group = config.group_of(instance.name)
    dropped = group is not None and not group.tracking_weight
    tracked = tuple(arithmetic.Tracked(t.name, w) for t, w in tracked_with_weight(config, instance)
                    if not (dropped and w))
    return arithmetic.Node(label, instance.priority, tracked)


def _arithmetic(mine: KeepalivedConfig, a: Instance, peer: KeepalivedConfig,
                b: Instance) -> tuple[list[Finding], list[str]]:
    found: list[Finding] = []
    here = _node(mine, a, f"this {a.name}")
    there = _node(peer, b, f"peer {b.name}")
    if a.priority == b.priority:
        found.append(KA011.finding(a.file, a.line,
                                   f"{a.name}: both nodes have priority {a.priority}; the tie "
                                   "goes to the higher IP address, not to the node you intend",
                                   "give the intended master the higher priority"))
    master, backup = (here, there) if (a.priority, a.state == "MASTER") >= (
        b.priority, b.state == "MASTER") else (there, here)
    master_config, master_instance = (mine, a) if master is here else (peer, b)
    for scenario in arithmetic.scenarios(master, backup):
        track = next(t for t, _ in tracked_with_weight(master_config, master_instance)
                     if t.name == scenario.failing)
        if not scenario.takes_over:
            found.append(KA010.finding(
                track.file, track.line,
                f"{scenario.failing} failing alone on the master ({master.label}) never moves "
                f"the VIPs: its priority drops to {scenario.master}, the backup stays at "
                f"{scenario.backup}",
                "make the weight exceed the priority gap, or use weight 0 (FAULT)"))
    lines = [f"{a.name}: priority table (intended master: {master.label})",
             *("  " + row for row in arithmetic.table(master, backup))]
    lines += _takeover_lines(master_config, master_instance, master, backup, a.advert_int)
    loss = arithmetic.node_loss_time(a.advert_int, backup.priority)
    if loss > arithmetic.NODE_LOSS_SLOW:
        found.append(KA013.finding(
            a.file, a.line,
            f"{a.name}: when the master node is lost (power, link, panic) clients wait "
            f"{loss:.2f} s: 3 × advert_int {a.advert_int:g} + the backup's skew",
            "examples/fast/: VRRPv3, advert_int 0.1, priorities 250/249 and a weighted "
            "track_file fed by `lbcheck watch` (≈ 0.3 s, measured in the lab)"))
    return found, lines


def _takeover_lines(config: KeepalivedConfig, instance: Instance, master: arithmetic.Node,
                    backup: arithmetic.Node, advert_int: float) -> list[str]:
    """Expected client-seen takeover per fault class, for the pair as configured."""
    skew = (256 - backup.priority) / 256 * advert_int
    lines = [f"  expected takeover (advert_int {advert_int:g}, backup skew {skew:.3f} s):"]
    for track, weight in tracked_with_weight(config, instance):
        script = config.scripts.get(track.name)
        found = (f"+ detection ≈ {arithmetic.detection(script.interval, script.fall):.2f} s "
                 f"(interval {script.interval:g}, fall {script.fall})" if script else
                 "+ the watcher's detection (a death: at once; a hang: --deadline)")
        if master.effective(track.name) == arithmetic.FAULT:
            how = f"FAULT, skew ≈ {skew:.2f} s"
        else:
            # The backup's master-down timer runs from the master's last winning advert,
            # which came up to one advert_int before the failure was written.
            most = arithmetic.takeover_time(True, advert_int, backup.priority)
            how = (f"weight {weight:+d}, the backup's master-down timer (3 × advert_int + skew "
                   f"from the master's last winning advert) ≈ {most - advert_int:.2f}–"
                   f"{most:.2f} s")
        lines.append(f"    {track.name} fails on the master: {how} {found}")
        lines.append(f"    {track.name} fails on both: "
                     + arithmetic.both_failing(master, backup, track.name))
    lines.append("    keepalived stopped on the master: priority-0 advert, skew ≈ "
                 f"{skew:.2f} s")
    lines.append("    master node lost (power, link): 3 × advert_int + skew ≈ "
                 f"{arithmetic.node_loss_time(advert_int, backup.priority):.2f} s")
    return lines
