"""The text of every file `lbcheck init` writes, from a :class:`Design`.

Deterministic: no dates, no host names, nothing but the design — two runs with the same
inputs give the same bytes, so a config repository can regenerate and diff. The shapes are the
proven examples' (examples/keepalived.conf, examples/fast/), with the reasons for each choice
written beside it as comments. keepalived.conf stays ASCII.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

from lbcheck.init.design import (
    LBNOTIFY,
    NOTIFY_FIFO,
    TRACK_FILE,
    Choice,
    Design,
    Instance,
    Node,
    vip_text,
)
from lbcheck.lint.registry import KA004

WIDTH = 99


class File(NamedTuple):
    path: str  # relative to the output directory
    text: str
    mode: int


def files(design: Design) -> list[File]:
    """Every file, in the order they are listed and written."""
    spec = design.spec
    found = [File("README.md", readme(design), 0o644)]
    for node in design.nodes():
        found.append(File(f"{node.name}/keepalived.conf", keepalived_conf(design, node), 0o644))
        found.append(File(f"{node.name}/lbcheck.toml", LBCHECK_TOML, 0o600))
        if design.tracking.kind == "watch":
            found.append(File(f"{node.name}/lbcheck-watch.service", watch_unit(design), 0o644))
        if design.drop_in:
            found.append(File(f"{node.name}/keepalived.service.d/lbcheck-release.conf",
                              DROP_IN, 0o644))
    assert len({f.path for f in found}) == len(found), spec  # names were checked distinct
    return found


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False)


def sentence(choice: Choice) -> str:
    """``what: chosen. Why.`` — one choice as the files say it."""
    return f"{choice.what}: {choice.chosen}. {choice.why}."


def _comment(choice: Choice) -> list[str]:
    return _wrap(sentence(choice), "# - ", "#   ")


def keepalived_conf(design: Design, node: Node) -> str:
    spec = design.spec
    master, backup = design.nodes()
    role = "the master while both nodes are healthy" if node == master else "the backup"
    other = backup if node == master else master
    lines = [(f"# keepalived.conf of {node.name} ({role}) in the pair {master.name} / "
             f"{backup.name},"),
             (f"# written by `lbcheck init` for keepalived {spec.release}. The pair's README.md "
             "says more."),
             (f"# Check both before loading: lbcheck lint {master.name}/keepalived.conf "
             f"{backup.name}/keepalived.conf"),
             "#", "# Every choice made for you, and why:"]
    for choice in design.choices:
        lines += _comment(choice)
    lines += ["", "global_defs {", f"    router_id {node.name}"]
    if design.vrrp_version:
        lines.append(f"    vrrp_version {design.vrrp_version}")
    lines += ["    enable_script_security", "    script_user root",
              f"    vrrp_notify_fifo {NOTIFY_FIFO}",
              f'    vrrp_notify_fifo_script "{LBNOTIFY} fifo"', "}", ""]
    lines += _tracker(design)
    for instance in design.instances:
        lines += _instance(design, instance, node, other)
    if design.sync_group:
        lines += [f"vrrp_sync_group {design.sync_group} {{", "    group {",
                  *(f"        {i.name}" for i in design.instances), "    }"]
        if design.tracking_weight:
            lines.append("    sync_group_tracking_weight   # else keepalived drops the "
                         f"weighted check ({KA004.id})")
        lines += ["}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _tracker(design: Design) -> list[str]:
    tracking = design.tracking
    if tracking.weight:
        master, backup = design.priorities
        weight = (f"    weight {tracking.weight}          # broken: {master} -> "
                  f"{master + tracking.weight}, below the peer's {backup}")
    else:
        weight = "    weight 0            # broken: FAULT, the peer takes over after its skew"
    if tracking.kind == "spawned":
        return [f"vrrp_script {tracking.name} {{", f'    script "{tracking.command}"',
                "    interval 1", "    timeout 1           # lbcheck answers within its "
                + ("0.4" if "--deadline 0.4" in tracking.command else "0.8") + " s deadline",
                "    fall 1", "    rise 2", weight, "}", ""]
    return [f"{tracking.block} {tracking.name} {{    # fed by lbcheck-watch.service",
            f"    file {TRACK_FILE}", weight, "}", ""]


def _instance(design: Design, instance: Instance, node: Node, other: Node) -> list[str]:
    spec = design.spec
    lines = [f"vrrp_instance {instance.name} {{",
             "    state BACKUP             # both nodes BACKUP: the priorities decide",
             f"    interface {spec.interface}",
             f"    virtual_router_id {instance.vrid}",
             f"    priority {node.priority}             # {other.priority} on {other.name}",
             f"    advert_int {design.advert_int}"]
    if instance.version:
        lines.append(f"    version {instance.version}                # IPv6 adverts are "
                     "VRRPv3 only")
    if instance.family in node.source:
        lines += [f"    unicast_src_ip {node.source[instance.family]}",
                  "    unicast_peer {", f"        {node.peer[instance.family]}", "    }"]
    lines += ["    virtual_ipaddress {", *(f"        {vip_text(v, spec)}" for v in instance.vips),
              "    }"]
    if instance.excluded:
        lines += ["    virtual_ipaddress_excluded {   # moved with the instance, not advertised",
                  *(f"        {vip_text(v, spec)}" for v in instance.excluded), "    }"]
    track = "track_script" if design.tracking.kind == "spawned" else "track_file"
    lines += [f"    {track} {{", f"        {design.tracking.name}", "    }", "}", ""]
    return lines


def watch_unit(design: Design) -> str:
    """examples/fast/lbcheck-watch.service's shape, at the profile's timing."""
    command = design.tracking.command
    head, _, tail = command.partition(" --interval ")
    profile = design.spec.profile
    return f"""\
# /etc/systemd/system/lbcheck-watch.service ({profile} profile), written by `lbcheck init`:
# lbcheck checks haproxy in-process and writes {TRACK_FILE} for keepalived.
# haproxy's death is seen at once (the kernel tells the watcher), a hang at --deadline.
[Unit]
Description=lbcheck watch ({profile} profile): HAProxy health for keepalived's track_file
After=haproxy.service
Before=keepalived.service

[Service]
Type=simple
ExecStart={head} \\
    --interval {tail}
Restart=always
RestartSec=1
RuntimeDirectory=lbcheck
RuntimeDirectoryPreserve=yes
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/run/lbcheck
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE
MemoryMax=64M

[Install]
WantedBy=multi-user.target
"""


DROP_IN = f"""\
# /etc/systemd/system/keepalived.service.d/lbcheck-release.conf
# A keepalived killed with SIGKILL (the OOM killer) leaves its VIPs on the interface while the
# peer takes them over: two nodes answer for one address. systemd runs ExecStopPost whenever
# keepalived's main process ends, however it ended; `lbnotify release` then removes every VIP
# of every instance in keepalived.conf still configured here (nothing when keepalived already
# cleaned up). It refuses while a keepalived process is still running.
[Service]
ExecStopPost={LBNOTIFY} release
"""

LBCHECK_TOML = """\
# /etc/lbcheck/lbcheck.toml — root:root, mode 600 (it holds paging keys; lbnotify refuses
# anything else). Written by `lbcheck init`; every key is optional.

[haproxy]
socket = "/run/haproxy/admin.sock"   # haproxy.cfg: stats socket … level admin
pidfile = "/run/haproxy.pid"

[keepalived]
config = "/etc/keepalived/keepalived.conf"   # lbnotify reads each instance's VIPs here

[log]
target = "syslog"          # journald picks it up; or a /path/to/file.jsonl
format = "json"

[notify]
state_dir = "/var/lib/lbcheck/state"
# A Prometheus textfile of VRRP state and the outbox, for node_exporter's textfile collector
# (its directory must exist: an unwritable file fails every event's metrics step). Off unless set.
# metrics_file = "/var/lib/node_exporter/textfile/lbnotify.prom"

[announce]
count = 3
interval = 0.5

[page]
outbox = "/var/lib/lbcheck/outbox"
budget = 0.5               # seconds a hook spends sending; the rest goes to the sender
flap_window = 60
sender_give_up = 900       # the detached sender retries this long, then logs what waits
resend_interval = 60       # an open FAULT is re-sent to alertmanager targets this often

# Where pages go: uncomment and set yours (docs/notify.md). Without a target nothing is paged.
# [[page.target]]
# type = "webhook"           # pagerduty | opsgenie | webhook | alertmanager
# url = "https://alerts.example.net/lbcheck"
"""


def command_line(design: Design) -> str:
    """The `lbcheck init` command that writes these files again (every input spelled out)."""
    spec = design.spec
    words = ["lbcheck init", f"--interface {spec.interface}"]
    for option, hosts in (("--node", spec.node), ("--peer", spec.peer)):
        for family in sorted(hosts):
            host = hosts[family]
            words.append(f"{option} {host.address}"
                         + (f"/{host.network.prefixlen}" if host.network else ""))
    words += [f"--vip {v.address}" + (f"/{v.prefixlen}" if v.prefixlen is not None else "")
              for v in spec.vips]
    words += [f"--profile {spec.profile}", "--unicast" if spec.unicast else "--multicast",
              f"--vrid {spec.vrid}", f"--check {design.tracking.kind}",
              f"--design {spec.design}", f"--keepalived-version {spec.release}",
              f"--name {spec.name}", f"--peer-name {spec.peer_name}"]
    return " ".join(words)


def _continued(command: str) -> list[str]:
    """A long command as shell lines of at most WIDTH columns, continued with `\\`."""
    words = command.replace(" --", "\0--").split("\0")  # an option with its value
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) > WIDTH - 2:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


def summary(design: Design) -> str:
    """What `lbcheck init` without --out prints: the choices and the files it would write."""
    spec = design.spec
    lines = [(f"lbcheck init: the pair {spec.name} / {spec.peer_name} on {spec.interface}, "
             f"profile {spec.profile}, keepalived {spec.release}")]
    lines += [f"  {c.what}: {c.chosen}" for c in design.choices]
    lines.append("would write (add --out DIR):")
    lines += [f"  DIR/{f.path}" for f in files(design)]
    return "\n".join(lines)


def readme(design: Design) -> str:
    spec = design.spec
    master, backup = design.nodes()
    names = (master.name, backup.name)
    kind = design.tracking.kind
    lint_line = f"lbcheck lint {names[0]}/keepalived.conf {names[1]}/keepalived.conf"
    expected = "0 errors, 0 warnings"
    out = [f"# The keepalived pair {names[0]} / {names[1]}", "",
           (f"Written by `lbcheck init` for keepalived {spec.release}; the same command writes "
           "the same bytes again:"), "", "```", *_continued(command_line(design)), "```", "",
           "## What was chosen, and why", ""]
    for choice in design.choices:
        out += _wrap(f"**{choice.what}**{sentence(choice).removeprefix(choice.what)}", "- ",
                     "  ")
    per_node = ["keepalived.conf → /etc/keepalived/keepalived.conf",
                ("lbcheck.toml → /etc/lbcheck/lbcheck.toml (root:root, mode 600; set your "
                "[[page.target]])")]
    if kind == "watch":
        per_node.append("lbcheck-watch.service → /etc/systemd/system/, then "
                        "`systemctl enable --now lbcheck-watch`")
    if design.drop_in:
        per_node.append("keepalived.service.d/lbcheck-release.conf → "
                        "/etc/systemd/system/keepalived.service.d/, then "
                        "`systemctl daemon-reload`")
    out += ["", "## Installing", ""]
    out += _wrap("1. On both nodes: `apt install ./lbcheck_<version>_all.deb` (built by "
                 "`bin/package`), so `/usr/bin/lbcheck` and `/usr/bin/lbnotify` exist on "
                 "root-owned paths (`enable_script_security`).", "", "   ")
    out.append(f"2. Copy `{names[0]}/` to {names[0]} and `{names[1]}/` to {names[1]}:")
    for line in per_node:
        out += _wrap(line, "   - ", "     ")
    out += _wrap("3. haproxy needs `stats socket /run/haproxy/admin.sock level admin` (the "
                 "check asks it); add `--backend NAME` to the check on both nodes to also "
                 "judge a backend's servers.", "", "   ")
    out += _wrap(f"4. Before loading: `{lint_line}` — expect {expected}.", "", "   ")
    out += ["5. `systemctl reload keepalived` on the backup, then on the master.", ""]
    return "\n".join(out)
