"""Rules about the pair: do these two configs form one virtual router that fails over?"""

from __future__ import annotations

import ipaddress

from lbcheck.keepalived_conf import Instance, KeepalivedConfig
from lbcheck.lint import arithmetic
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
    Subject,
    per_pair,
)
from lbcheck.lint.rules import tracked_with_weight


@per_pair(KA040, KA041, KA042, KA043, KA044, KA012, KA011, KA010, KA013)
def check(subject: Subject, peer: KeepalivedConfig) -> list[Finding]:
    """Each instance against the peer's of the same name; its priority table is a note."""
    mine = subject.config
    findings: list[Finding] = []
    for instance in mine.instances:
        other = peer.instance(instance.name)
        if other is None:
            findings.append(KA040.finding(instance.file, instance.line,
                                          f"{instance.name} has no counterpart in {peer.path}",
                                          "define the same vrrp_instance on both nodes"))
            continue
        findings += _match(instance, other)
        findings += _fault_on_both(mine, instance, peer, other)
        more, table = _arithmetic(mine, instance, peer, other)
        findings += more
        subject.notes += table
    return findings


def _match(a: Instance, b: Instance) -> list[Finding]:
    found = []
    where = (a.file, a.line)
    if a.virtual_router_id != b.virtual_router_id:
        found.append(KA040.finding(*where,
                                   f"{a.name}: virtual_router_id {a.virtual_router_id} here, "
                                   f"{b.virtual_router_id} on the peer: two separate routers, "
                                   "both master", "use the same virtual_router_id on both nodes"))
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
    if a.authentication != b.authentication:
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
