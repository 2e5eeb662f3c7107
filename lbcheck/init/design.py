"""Every choice `lbcheck init` makes for the operator, each with its one-line reason.

Pure: a :class:`PairSpec` in, a :class:`Design` out (or InitError when the release cannot do
what was asked). The reasons travel with the choices: render writes them as comments into
each keepalived.conf and as the pair README's list, so the files say why they are so.

The two designs for a dual-stack pair (examples/README.md, docs/init.md):
- ``excluded`` (default): one instance advertises IPv4, the IPv6 VIPs ride along in
  virtual_ipaddress_excluded — one election, so both families always move together; what
  examples/keepalived.conf and the e2e suite prove.
- ``sync-group``: one instance per family, both in a vrrp_sync_group (keepalived's
  maintainer's advice, acassen/keepalived #497); checks must stay effective, so weighted
  ones get sync_group_tracking_weight (lint's KA004).
"""

from __future__ import annotations

from typing import NamedTuple

from lbcheck.init import InitError, releases
from lbcheck.init.spec import Address, PairSpec, Vip
from lbcheck.lint.registry import KA004, KA012

LBCHECK = "/usr/bin/lbcheck"
LBNOTIFY = "/usr/bin/lbnotify"
NOTIFY_FIFO = "/run/keepalived/notify.fifo"
TRACK_FILE = "/run/lbcheck/haproxy.track"


class Choice(NamedTuple):
    what: str
    chosen: str
    why: str


class Instance(NamedTuple):
    name: str
    vrid: int
    family: int  # what it advertises over
    vips: tuple[Vip, ...]  # advertised
    excluded: tuple[Vip, ...]  # moved along, not advertised
    version: int | None  # an instance-level `version` where global_defs does not say it


class Tracking(NamedTuple):
    kind: str  # spawned | watch
    name: str  # the vrrp_script's or track file's name
    block: str  # vrrp_script | track_file | vrrp_track_file (the release's name)
    weight: int  # 0: FAULT
    command: str  # the script keepalived runs, or the watcher's ExecStart


class Node(NamedTuple):
    name: str
    priority: int
    source: dict[int, Address]  # unicast_src_ip per family (unicast only)
    peer: dict[int, Address]  # unicast_peer per family


class Design(NamedTuple):
    spec: PairSpec
    instances: tuple[Instance, ...]
    vrrp_version: int | None  # global_defs vrrp_version (None: keepalived's default, 2)
    advert_int: str
    priorities: tuple[int, int]  # this node's, the peer's
    tracking: Tracking
    sync_group: str | None
    tracking_weight: bool  # sync_group_tracking_weight
    drop_in: bool  # keepalived.service.d/lbcheck-release.conf
    choices: tuple[Choice, ...]

    def nodes(self) -> tuple[Node, Node]:
        spec = self.spec
        if spec.unicast:
            mine = {f: spec.node[f].address for f in self.advertised}
            theirs = {f: spec.peer[f].address for f in self.advertised}
        else:
            mine, theirs = {}, {}
        return (Node(spec.name, self.priorities[0], mine, theirs),
                Node(spec.peer_name, self.priorities[1], theirs, mine))

    @property
    def advertised(self) -> tuple[int, ...]:
        return tuple(i.family for i in self.instances)


def vip_text(vip: Vip, spec: PairSpec) -> str:
    """ADDR/LEN: the length given, else the node's subnet's, else the address alone."""
    if vip.prefixlen is not None:
        return f"{vip.address}/{vip.prefixlen}"
    network = spec.node[vip.family].network or spec.peer[vip.family].network
    return f"{vip.address}/{network.prefixlen if network else vip.address.max_prefixlen}"


def design(spec: PairSpec) -> Design:
    """The pair's design; InitError when the release lacks what it needs."""
    release = spec.release
    _baseline(release)
    families = spec.families
    dual = len(families) == 2
    if spec.design == "sync-group" and not dual:
        raise InitError("--design sync-group needs IPv4 and IPv6 VIPs (one instance per "
                        "family); with one family there is one instance: drop --design")
    fast = spec.profile == "fast"
    kind = spec.check or ("watch" if fast else "spawned")
    # Weighted in both profiles: when the check fails on both nodes the VIPs stay on the
    # higher one (lint KA012, and the "on exactly one node when both checks fail").
    weight = -20 if fast else -60
    choices = [_families(families)]
    instances = _instances(spec, families)
    sync = spec.design == "sync-group"
    if dual:
        choices.append(_dual_stack(sync, weight))
    advertises_v4 = 4 in (i.family for i in instances)
    version = 3 if fast or not advertises_v4 else None
    if version:
        releases.require(release, "global_defs", "vrrp_version",
                         "upgrade keepalived, or --profile conservative with IPv4 VIPs")
    if sync and version is None:  # the IPv6 instance says its own version
        instances = tuple(i._replace(version=3) if i.family == 6 else i for i in instances)
        releases.require(release, "vrrp_instance", "version", "--design excluded")
    choices += _timing(fast, version)
    tracking = _tracking(spec, kind, weight, fast)
    choices.append(_check_choice(tracking, fast))
    if sync and weight:
        releases.require(release, "vrrp_sync_group", "sync_group_tracking_weight",
                         "--design excluded")
    if spec.unicast:
        for keyword in ("unicast_src_ip", "unicast_peer"):
            releases.require(release, "vrrp_instance", keyword, "--multicast")
    choices += _fixed(spec, fast, sync)
    choices += _prefixes(spec)
    return Design(spec, instances, version, "0.1" if fast else "1",
                  (250, 249) if fast else (150, 100), tracking, "VG_1" if sync else None,
                  sync and weight != 0, fast, tuple(choices))


def _baseline(release: str) -> None:
    """What every generated pair uses: the notify FIFO and script security."""
    for keyword in ("vrrp_notify_fifo", "vrrp_notify_fifo_script", "enable_script_security",
                    "script_user"):
        releases.require(release, "global_defs", keyword,
                         f"upgrade keepalived to {releases.since('global_defs', keyword)} or "
                         "later (lbnotify reads events from the notify FIFO)")


def _families(families: tuple[int, ...]) -> Choice:
    if len(families) == 2:
        return Choice("families", "IPv4 and IPv6",
                      "The VIPs given are of both families; they move as one")
    return Choice("families", f"IPv{families[0]} only",
                  f"Every VIP given is IPv{families[0]}")


def _instances(spec: PairSpec, families: tuple[int, ...]) -> tuple[Instance, ...]:
    by = {f: tuple(v for v in spec.vips if v.family == f) for f in families}
    if len(families) == 1:
        return (Instance("VI_1", spec.vrid, families[0], by[families[0]], (), None),)
    if spec.design == "excluded":
        return (Instance("VI_1", spec.vrid, 4, by[4], by[6], None),)
    return (Instance("VI_4", spec.vrid, 4, by[4], (), None),
            Instance("VI_6", spec.vrid + 1, 6, by[6], (), None))


def _dual_stack(sync: bool, weight: int) -> Choice:
    if not sync:
        return Choice("dual-stack design", "one instance, IPv6 VIPs in "
                      "virtual_ipaddress_excluded",
                      "One election moves both families together (no partial failover, no "
                      "two holders of the IPv6 VIPs). Measured against --design sync-group in "
                      "the lab (docs/init.md): the same outages, the families apart for "
                      "milliseconds in 3 of 15 handovers instead of 9")
    return Choice("dual-stack design", "one instance per family in vrrp_sync_group VG_1",
                  "Each family advertises itself and the group moves both together; "
                  + (f"sync_group_tracking_weight keeps the weighted check counting ({KA004.id})"
                     if weight else "the check is unweighted, which a sync group always honours"))


def _timing(fast: bool, version: int | None) -> list[Choice]:
    if fast:
        found = [Choice("VRRP", "vrrp_version 3, advert_int 0.1",
                        "Sub-second adverts need VRRPv3 on both nodes: a lost master is "
                        "noticed after 3 missed adverts (0.3 s)")]
    elif version:
        found = [Choice("VRRP", "vrrp_version 3, advert_int 1",
                        "IPv6 adverts exist in VRRPv3 only; keepalived's conventional timing")]
    else:
        found = [Choice("VRRP", "VRRPv2 (keepalived's default), advert_int 1",
                        "IPv4 adverts, keepalived's conventional timing: quiet, 3.6 s when a "
                        "master node is lost")]
    if fast:
        found.append(Choice("priorities", "250 / 249",
                            "The backup's skew is (256 - 249)/256 x 0.1 = 0.003 s; every "
                            "weight exceeds the gap of 1"))
    else:
        found.append(Choice("priorities", "150 / 100",
                            "The first node is the master while both are healthy; the check's "
                            "weight (-60) exceeds the gap of 50"))
    return found


def _tracking(spec: PairSpec, kind: str, weight: int, fast: bool) -> Tracking:
    deadline = "--deadline 0.4 " if fast else ""
    if kind == "spawned":
        return Tracking(kind, "chk_haproxy", "vrrp_script", weight,
                        f"{LBCHECK} {deadline}haproxy")
    block = releases.first_known(spec.release, "", "track_file", "vrrp_track_file")
    if block is None or not releases.knows(spec.release, "vrrp_instance", "track_file"):
        raise InitError(f"keepalived {spec.release} has no track_file (lint's keyword table "
                        f"knows it from {releases.since('', 'vrrp_track_file')}): "
                        "--check spawned")
    timing = "--interval 0.1 --fall 1 --rise 3" if fast else "--interval 0.2 --fall 2 --rise 3"
    return Tracking(kind, "haproxy_watch", block, weight,
                    f"{LBCHECK} {deadline}watch --track-file {TRACK_FILE} {timing} haproxy")


def _check_choice(tracking: Tracking, fast: bool) -> Choice:
    if tracking.kind == "spawned":
        how = (f"vrrp_script chk_haproxy: `{tracking.command}` every second (timeout 1, "
               "fall 1, rise 2)")
    else:
        how = f"lbcheck-watch.service writes {TRACK_FILE}: `{tracking.command}`"
    if fast:
        why = ("Weight -20: a failure drops 250 to 230, below the peer's 249, and when it fails "
               "on both nodes the VIPs stay on the higher one instead of vanishing")
    else:
        why = ("Weight -60: a failure drops 150 to 90, below the peer's 100, and the backup "
               "takes over once the master's adverts stop winning (3 x advert_int + skew, "
               "about 3.6 s); when it fails on both nodes the VIPs stay on the higher one "
               f"instead of vanishing ({KA012.id}). Weight 0 (FAULT, examples/keepalived.conf) "
               "moves them in ~0.6 s but leaves no holder then; --profile fast has both")
    return Choice("check", how, why)


def _fixed(spec: PairSpec, fast: bool, sync: bool) -> list[Choice]:
    found = [
        Choice("state", "BACKUP on both nodes",
               "The priorities decide and preemption fails back; no start-up election race"),
        Choice("virtual_router_id", f"{spec.vrid}" + (f" (IPv4), {spec.vrid + 1} (IPv6)"
                                                      if sync else ""),
               "The same on both nodes, unique on the segment (change it if another pair "
               "uses it)"),
        Choice("adverts", "unicast" if spec.unicast else "multicast",
               "To the peer's address (unicast_src_ip, unicast_peer per family): for segments "
               "that drop multicast"
               if spec.unicast else
               "Keepalived's default: no peer addresses to keep in sync"),
        Choice("script security", "enable_script_security, script_user root",
               "Keepalived refuses scripts on paths others could write, and runs lbcheck and "
               "lbnotify as root (they read haproxy's socket and change addresses)"),
        Choice("notifications", f"vrrp_notify_fifo {NOTIFY_FIFO} read by `lbnotify fifo`",
               "Events in order through one reader (notify scripts run concurrently)"),
        Choice("keepalived", spec.release,
               "Only keywords this release knows (lint's keyword table)"),
    ]
    if fast:
        found.append(Choice("keepalived drop-in", "ExecStopPost=lbnotify release",
                            "A keepalived killed with SIGKILL leaves its VIPs behind; this "
                            "removes them when its main process ends"))
    return found


def _prefixes(spec: PairSpec) -> list[Choice]:
    defaulted = [v for v in spec.vips if v.prefixlen is None]
    if not defaulted:
        return []
    return [Choice("VIP lengths", ", ".join(vip_text(v, spec) for v in defaulted),
                   "No length given: the node's subnet's where --node or --peer gave one, "
                   "else the address alone (keepalived's default)")]
