"""`lbcheck vips` asking a real segment who holds each VIP.

One segment for the module: a switch namespace with a bridge and three hosts on it — node 1
(where lbcheck runs: "here"), node 2 (the peer) and a third host (a proxy, a use_vmac twin,
a flooder). Each VIP of the keepalived.conf below is configured on zero, one or two of them
by hand (`nodad` for IPv6, as keepalived adds them); keepalived itself need not run — the
check asks the link, not keepalived.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from lbcheck.notify.paging import memory
from lbcheck.notify.paging.policy import Memory
from tests.conftest import BIN
from tests.support.waiting import eventually

PID = os.getpid()
MACS = {"n1": "02:00:00:00:01:11", "n2": "02:00:00:00:01:12", "n3": "02:00:00:00:01:13"}
N1, N2, N3 = MACS["n1"], MACS["n2"], MACS["n3"]
VMAC, VMAC_HERE = "00:00:5e:00:01:33", "00:00:5e:00:01:34"  # keepalived's 00:00:5e:00:01:VRID

KEEPALIVED_CONF = """\
vrrp_instance VI_HERE {
    interface eth0
    virtual_router_id 10
    virtual_ipaddress {
        192.0.2.10/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::10/64
    }
}
vrrp_instance VI_PEER {
    interface eth0
    virtual_router_id 11
    virtual_ipaddress {
        192.0.2.11/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::11/64
    }
}
vrrp_instance VI_SPLIT {
    interface eth0
    virtual_router_id 12
    virtual_ipaddress {
        192.0.2.12/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::12/64
    }
}
vrrp_instance VI_PROXY {
    interface eth0
    virtual_router_id 13
    virtual_ipaddress {
        192.0.2.13/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::13/64
    }
}
vrrp_instance VI_PROXIED_ONLY {
    interface eth0
    virtual_router_id 14
    virtual_ipaddress {
        192.0.2.14/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::14/64
    }
}
vrrp_instance VI_VMAC {
    interface eth0
    use_vmac
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.15/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::15/64
    }
}
vrrp_instance VI_VMAC_HERE {
    interface eth0
    use_vmac
    virtual_router_id 52
    virtual_ipaddress {
        192.0.2.16/24
    }
}
vrrp_instance VI_LO {
    interface eth0
    virtual_router_id 17
    virtual_ipaddress {
        192.0.2.17/24
    }
}
vrrp_instance VI_NONE {
    interface eth0
    virtual_router_id 20
    virtual_ipaddress {
        192.0.2.20/24
    }
    virtual_ipaddress_excluded {
        2001:db8:1::20/64
    }
}
vrrp_instance VI_GONE {
    interface eth0
    virtual_router_id 30
    virtual_ipaddress {
        192.0.2.30/24 dev nosuch0
    }
}
vrrp_instance VI_EMPTY {
    interface eth0
    virtual_router_id 40
}
"""


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10,
                          check=True).stdout


class Result(NamedTuple):
    code: int
    out: str
    err: str
    seconds: float


class Segment:
    """Namespaces sw (bridge br0), n1, n2, n3; each host's port is its eth0."""

    def __init__(self, tmp: Path) -> None:
        self.names = {n: f"lbv-{n}-{PID}" for n in ("sw", "n1", "n2", "n3")}
        self.created: list[str] = []
        self.conf = tmp / "keepalived.conf"
        self.conf.write_text(KEEPALIVED_CONF)
        self.notify_state = tmp / "notify-state"
        self.notify_state.mkdir()
        self.config = tmp / "lbcheck.toml"
        self.config.write_text(f'[log]\ntarget = "{tmp / "lbcheck.jsonl"}"\n'
                               f'[notify]\nstate_dir = "{self.notify_state}"\n')
        self.state = tmp / "check-state"
        self.state.mkdir(mode=0o700)

    def build(self) -> None:
        for name in self.names.values():
            ip("netns", "add", name)
            self.created.append(name)
            self.sysctl(name, "net.ipv6.conf.all.accept_dad=0",
                        "net.ipv6.conf.default.accept_dad=0")
            ip("-n", name, "link", "set", "lo", "up")
        sw = self.names["sw"]
        ip("-n", sw, "link", "add", "br0", "type", "bridge")
        ip("-n", sw, "link", "set", "br0", "up")
        for number, host in enumerate(("n1", "n2", "n3"), start=1):
            ns, port = self.names[host], f"p{number}"
            ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            ip("-n", sw, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "link", "set", "eth0", "address", MACS[host], "up")
            ip("-n", ns, "addr", "add", f"192.0.2.{number}/24", "dev", "eth0")
            ip("-n", ns, "addr", "add", f"2001:db8:1::{number}/64", "dev", "eth0", "nodad")
        n1, n2, n3 = self.names["n1"], self.names["n2"], self.names["n3"]
        self.hold(n1, "10", "12")
        self.hold(n2, "11", "12", "13")
        # The third host proxies for .13 (held by n2) and .14 (held by nobody): ARP by a
        # route out of another interface, NDP by a proxy entry (answering at once).
        ip("-n", n3, "link", "add", "up0", "type", "veth", "peer", "name", "up1")
        ip("-n", n3, "link", "set", "up0", "up")
        self.sysctl(n3, "net.ipv4.ip_forward=1", "net.ipv4.conf.eth0.proxy_arp=1",
                    "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.eth0.proxy_ndp=1",
                    "net.ipv6.neigh.eth0.proxy_delay=0")
        for last in ("13", "14"):
            ip("-n", n3, "route", "add", f"192.0.2.{last}/32", "dev", "up0")
            ip("-n", n3, "-6", "neigh", "add", "proxy", f"2001:db8:1::{last}", "dev", "eth0")
        # use_vmac: the VIP on a macvlan with the virtual MAC, on two hosts at once.
        # arp_ignore=1 so each interface answers only for its own addresses (without it a
        # host answers from every interface on the segment: ARP flux).
        self.vmac(n2, "vmac51", VMAC, "15")
        self.vmac(n3, "vmac51", VMAC, "15")
        self.vmac(n1, "vmac52", VMAC_HERE, "16")
        self.vmac(n2, "vmac52", VMAC_HERE, "16")
        ip("-n", n2, "addr", "add", "192.0.2.17/32", "dev", "lo")  # as an LVS-DR real server
        self.wait_until_ready()

    def hold(self, ns: str, *lasts: str, dev: str = "eth0") -> None:
        for last in lasts:
            ip("-n", ns, "addr", "add", f"192.0.2.{last}/24", "dev", dev)
            ip("-n", ns, "addr", "add", f"2001:db8:1::{last}/64", "dev", dev, "nodad")

    def vmac(self, ns: str, name: str, mac: str, last: str) -> None:
        ip("-n", ns, "link", "add", name, "link", "eth0", "address", mac, "type", "macvlan",
           "mode", "private")
        self.sysctl(ns, f"net.ipv4.conf.{name}.arp_ignore=1", "net.ipv4.conf.eth0.arp_ignore=1")
        ip("-n", ns, "link", "set", name, "up")
        self.hold(ns, last, dev=name)

    def sysctl(self, ns: str, *settings: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", *settings],
                       capture_output=True, text=True, timeout=10, check=True)

    def wait_until_ready(self, seconds: float = 10) -> None:
        """IPv6 answers only flow once every link has carrier and a link-local address."""
        def ready() -> bool:
            for host in ("n1", "n2", "n3"):
                (link,) = json.loads(ip("-n", self.names[host], "-j", "addr", "show", "eth0"))
                if link.get("operstate") != "UP" or not any(
                        a.get("scope") == "link" for a in link.get("addr_info", [])):
                    return False
            return True

        if not eventually(ready, bool, seconds):
            raise RuntimeError(f"segment not IPv6-ready within {seconds:g} s")

    def destroy(self) -> None:
        for name in self.created:  # only ours: a namespace takes its veth ends with it
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10,
                           check=False)

    def lbcheck(self, *args: str, host: str = "n1", user: str | None = None,
                conf: Path | None = None) -> Result:
        """`lbcheck [global args] vips --keepalived-config …` in ``host``'s namespace."""
        split = args.index("vips") if "vips" in args else 0
        argv = ["ip", "netns", "exec", self.names[host]]
        if user:  # as the other tests drop root (runuser cannot exec this venv's python)
            argv += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        argv += [str(BIN / "lbcheck"), "--config", str(self.config), "--state-dir",
                 str(self.state), *args[:split], "vips", "--keepalived-config",
                 str(conf or self.conf), *args[split + 1:]]
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False,
                              cwd="/")
        return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def verbose(self, *instances: str) -> Result:
        return self.lbcheck("-v", "vips", *(a for i in instances for a in ("--instance", i)))


@pytest.fixture(scope="module")
def segment() -> Iterator[Segment]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and sends raw Ethernet frames")
    # Readable by nobody (the run without CAP_NET_RAW), unlike pytest's 0700 tmp_path.
    tmp = Path(tempfile.mkdtemp(prefix="lbcheck-vips-"))
    tmp.chmod(0o755)
    built = Segment(tmp)
    try:
        try:
            built.build()
        except subprocess.CalledProcessError as exc:
            if built.created:
                raise  # namespaces work, so this is a bug in the segment, not a capability
            pytest.skip(f"cannot create a network namespace: {exc.stderr.strip()}")
        yield built
    finally:
        built.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


pytestmark = pytest.mark.netns


def reasons(result: Result) -> dict[str, str]:
    """probe → reason, from `lbcheck --json`."""
    return {p["name"]: p["reason"] for p in json.loads(result.out)["probes"]}


def test_one_holder_here_or_the_peer_is_ok(segment: Segment) -> None:
    """Held once: exit 0, and the sample says where — here (with our MAC) or the peer's MAC."""
    result = segment.lbcheck("--json", "vips", "--instance", "VI_HERE", "--instance", "VI_PEER")

    assert 0 == result.code, result
    assert {
        "vip 192.0.2.10": f"held by 1: here ({N1})",
        "vip 2001:db8:1::10": f"held by 1: here ({N1})",
        "vip 192.0.2.11": f"held by 1: {N2}",
        "vip 2001:db8:1::11": f"held by 1: {N2}",
    } == reasons(result)


def test_split_brain_names_both_macs_and_marks_here(segment: Segment) -> None:
    """Held on both nodes: exit 1 on each, naming both MACs, this node's marked "here"."""
    on_n1 = segment.lbcheck("--json", "vips", "--instance", "VI_SPLIT")
    on_n2 = segment.lbcheck("--json", "vips", "--instance", "VI_SPLIT", host="n2")

    assert (1, 1) == (on_n1.code, on_n2.code), (on_n1, on_n2)
    for address in ("192.0.2.12", "2001:db8:1::12"):
        assert (f"held by 2: here ({N1}) and {N2} (split brain)"
                == reasons(on_n1)[f"vip {address}"])
        assert (f"held by 2: here ({N2}) and {N1} (split brain)"
                == reasons(on_n2)[f"vip {address}"])


def test_held_by_no_node_names_the_recorded_local_state(segment: Segment) -> None:
    """Held nowhere: exit 1 with this node's state as lbnotify recorded it, or "unknown"."""
    unknown = segment.lbcheck("--json", "vips", "--instance", "VI_NONE")
    memory.save(segment.notify_state, Memory("INSTANCE", "VI_NONE", state="BACKUP"))
    try:
        recorded = segment.lbcheck("--json", "vips", "--instance", "VI_NONE")
    finally:
        memory.path_for(segment.notify_state, "INSTANCE", "VI_NONE").unlink()

    assert (1, 1) == (unknown.code, recorded.code), (unknown, recorded)
    assert {"held by no node (here: VI_NONE state unknown)"} == set(reasons(unknown).values())
    assert {"held by no node (here: VI_NONE BACKUP)"} == set(reasons(recorded).values())


def test_a_proxy_is_never_a_holder(segment: Segment) -> None:
    """proxy_arp stays silent to a probe (sender IP 0); a proxy_ndp answer (Override clear)
    is named in the details, not counted. The proxies do answer ordinary resolution."""
    send = "import socket; socket.socket(type=socket.SOCK_DGRAM).sendto(b'x', (sys.argv[1], 9))"
    subprocess.run(["ip", "netns", "exec", segment.names["n1"], sys.executable, "-c",
                    f"import sys; {send}", "192.0.2.14"], check=True, timeout=10)
    resolved = eventually(
        lambda: ip("-n", segment.names["n1"], "neigh", "show", "192.0.2.14"),
        lambda line: "lladdr" in line, 5)
    result = segment.lbcheck("--json", "vips", "--instance", "VI_PROXY",
                             "--instance", "VI_PROXIED_ONLY")

    assert f"lladdr {N3}" in resolved  # the proxy ARP is live: it answers a plain request
    probes = {p["name"]: p for p in json.loads(result.out)["probes"]}
    assert 1 == result.code, result  # .14 / ::14: held by no node
    assert {
        "vip 192.0.2.13": f"held by 1: {N2}",
        "vip 2001:db8:1::13": f"held by 1: {N2}",
        "vip 192.0.2.14": "held by no node (here: VI_PROXIED_ONLY state unknown)",
        "vip 2001:db8:1::14": "held by no node (here: VI_PROXIED_ONLY state unknown)",
    } == {name: p["reason"] for name, p in probes.items()}
    proxied = f"answered by proxy (Override clear, not a holder): {N3}"
    assert proxied in probes["vip 2001:db8:1::13"]["details"]
    assert proxied in probes["vip 2001:db8:1::14"]["details"]
    assert not [d for d in probes["vip 192.0.2.13"]["details"] if "proxy" in d]


def test_use_vmac_twins_count_as_two_though_they_share_a_mac(segment: Segment) -> None:
    """Two masters answering from the same virtual MAC are two replies, two holders; the
    VIP on this node's own macvlan counts as here."""
    result = segment.lbcheck("--json", "vips", "--instance", "VI_VMAC",
                             "--instance", "VI_VMAC_HERE")

    assert 1 == result.code, result
    assert {
        "vip 192.0.2.15": f"held by 2: {VMAC} and {VMAC} (split brain)",
        "vip 2001:db8:1::15": f"held by 2: {VMAC} and {VMAC} (split brain)",
        "vip 192.0.2.16": f"held by 2: here ({VMAC_HERE}) and {VMAC_HERE} (split brain)",
    } == reasons(result)


@pytest.mark.parametrize(("instance", "arp_ignore", "holders"), [
    ("VI_PEER", 0, 1), ("VI_PEER", 1, 1), ("VI_PEER", 2, 1), ("VI_PEER", 3, 1),
    ("VI_PEER", 8, 0),
    ("VI_LO", 0, 1), ("VI_LO", 1, 0), ("VI_LO", 2, 0),
])
def test_which_arp_ignore_answers_a_probe(segment: Segment, instance: str, arp_ignore: int,
                                          holders: int) -> None:
    """The peer's arp_ignore, with the VIP on its eth0 (VI_PEER) or on its lo (VI_LO, an
    LVS-DR real server): sender IP 0 leaves mode 2's same-subnet test nothing to refuse, so
    1–3 answer for an address on the interface; 8 never answers — that holder is invisible."""
    n2 = segment.names["n2"]
    segment.sysctl(n2, f"net.ipv4.conf.eth0.arp_ignore={arp_ignore}")
    try:
        result = segment.lbcheck("--json", "vips", "--instance", instance)
    finally:
        segment.sysctl(n2, "net.ipv4.conf.eth0.arp_ignore=1")

    (probe,) = [p for p in json.loads(result.out)["probes"] if ":" not in p["name"]]
    assert {"holders": holders} == probe["metrics"], probe


def test_json_shape(segment: Segment) -> None:
    """--json: the check's usual object, one probe per VIP with its holder count."""
    result = segment.lbcheck("--json", "vips", "--instance", "VI_SPLIT")
    found = json.loads(result.out)

    assert ("vips", "CRITICAL", 1) == (found["command"], found["state"], found["exit_code"])
    assert found["reason"] == f"vip 192.0.2.12: held by 2: here ({N1}) and {N2} (split brain)"
    assert [("vip 192.0.2.12", "CRITICAL", {"holders": 2}),
            ("vip 2001:db8:1::12", "CRITICAL", {"holders": 2})] == [
        (p["name"], p["state"], p["metrics"]) for p in found["probes"]]
    assert ["instance VI_SPLIT on eth0"] == found["probes"][0]["details"]


def test_nagios_shape(segment: Segment) -> None:
    """--nagios: one line, the plugin exit codes, holder counts as perfdata."""
    ok = segment.lbcheck("--nagios", "vips", "--instance", "VI_PEER")
    split = segment.lbcheck("--nagios", "vips", "--instance", "VI_SPLIT")

    assert 0 == ok.code, ok
    head, perf = ok.out.strip().split(" | ")
    assert f"VIPS OK - vip 192.0.2.11: held by 1: {N2}" == head
    assert "vip_192.0.2.11_holders=1" in perf.split()
    assert "vip_2001_db8_1__11_holders=1" in perf.split()
    assert 2 == split.code, split
    assert split.out.startswith("VIPS CRITICAL - vip 192.0.2.12: held by 2: ")


def test_verbose_table_says_each_vip(segment: Segment) -> None:
    """-v: the verdict first, then a row per VIP readable without the JSON."""
    result = segment.verbose("VI_SPLIT", "VI_PEER")

    assert 1 == result.code, result
    lines = result.out.splitlines()
    assert lines[0].startswith("lbcheck vips: CRITICAL (exit 1) — vip 192.0.2.12: held by 2")
    assert any("vip 192.0.2.11" in line and "OK" in line and N2 in line for line in lines)
    assert any("instance VI_SPLIT on eth0" in line for line in lines)


def test_a_missing_interface_is_could_not_tell(segment: Segment) -> None:
    """A VIP whose interface does not exist here: exit 3, said in one reason."""
    result = segment.lbcheck("--json", "vips", "--instance", "VI_GONE")

    assert 3 == result.code, result
    assert {"vip 192.0.2.30": "cannot tell: no interface named nosuch0"} == reasons(result)


def test_without_cap_net_raw_exit_3_with_the_reason(segment: Segment) -> None:
    """Not root: exit 3, and the reason names the capability."""
    result = segment.lbcheck("--nagios", "vips", "--instance", "VI_PEER", user="65534")

    assert 3 == result.code, result
    assert ("VIPS UNKNOWN - vip 192.0.2.11: cannot tell: asking the link needs CAP_NET_RAW "
            "(run as root or grant the capability)") == result.out.split(" | ")[0].strip()


@pytest.mark.parametrize(("args", "says"), [
    (("--instance", "VI_NOPE"), "no vrrp_instance VI_NOPE in"),
    (("--instance", "VI_EMPTY"), "vrrp_instance VI_EMPTY in"),
    (("--wait", "nan"), "--wait"),
])
def test_bad_input_is_one_line_and_exit_2(segment: Segment, args: tuple[str, ...],
                                          says: str) -> None:
    result = segment.lbcheck("vips", *args)

    assert 2 == result.code, result
    assert 1 == len(result.err.strip().splitlines()) and says in result.err, result.err
    assert "Traceback" not in result.err


def test_an_unreadable_config_is_exit_2(segment: Segment, tmp_path: Path) -> None:
    result = segment.lbcheck("vips", conf=tmp_path / "missing.conf")

    assert 2 == result.code, result
    assert 1 == len(result.err.strip().splitlines()) and "missing.conf" in result.err


def test_a_flooded_segment_is_could_not_tell_within_the_deadline(segment: Segment) -> None:
    """A host spraying ARP replies at us: the read is capped, the answer is "cannot tell",
    and the check still ends within its deadline."""
    flooder = subprocess.Popen(
        ["ip", "netns", "exec", segment.names["n3"], sys.executable, "-c", FLOOD, N1],
        stdout=subprocess.PIPE, text=True)
    try:
        assert flooder.stdout is not None and "flooding" in flooder.stdout.readline()
        result = segment.lbcheck("--deadline", "1", "--json", "vips", "--instance", "VI_NONE",
                                 "--wait", "0.5")
    finally:
        flooder.kill()
        flooder.wait(timeout=10)

    assert 3 == result.code, result
    assert "the segment is flooded, cannot tell" in reasons(result)["vip 192.0.2.20"]
    assert json.loads(result.out)["elapsed_ms"] < 1000


# ARP replies to n1 about an address nobody asked for, as fast as one process sends them.
FLOOD = """\
import socket, sys, time
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
src = bytes.fromhex("020000000113")
frame = (mac + src + b"\\x08\\x06" + bytes.fromhex("0001080006040002") + src
         + bytes([192, 0, 2, 99]) + mac + bytes(4))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
print("flooding", flush=True)
end = time.monotonic() + 10
while time.monotonic() < end:
    for _ in range(100):
        s.send(frame)
"""


def test_the_deadline_bounds_the_reply_window(segment: Segment) -> None:
    """--wait beyond --deadline is cut (and said); no time left to listen is "cannot tell",
    never a silence read as "held by no node"."""
    cut = segment.lbcheck("--deadline", "0.2", "--json", "vips", "--instance", "VI_PEER",
                          "--wait", "5")
    none = segment.lbcheck("--deadline", "0.04", "--json", "vips", "--instance", "VI_NONE")

    assert 0 == cut.code, cut
    probe = json.loads(cut.out)["probes"][0]
    assert f"held by 1: {N2}" == probe["reason"]
    assert any(d.startswith("listened 0.1") and d.endswith("s of the 5 s asked: the deadline "
                                                           "left no more")
               for d in probe["details"]), probe
    assert 3 == none.code, none
    assert {"cannot tell: the deadline left no time to listen for answers"} == set(
        reasons(none).values())


def test_without_a_link_local_address_it_asks_the_dad_way(segment: Segment) -> None:
    """No usable link-local address on the interface: the NS goes from :: (RFC 4862 DAD)
    and the holders' answers to all nodes are counted instead."""
    n1 = segment.names["n1"]
    (shown,) = json.loads(ip("-n", n1, "-j", "-6", "addr", "show", "dev", "eth0"))
    (link_local,) = [a["local"] for a in shown["addr_info"] if a.get("scope") == "link"]
    ip("-n", n1, "-6", "addr", "del", f"{link_local}/64", "dev", "eth0")
    try:
        result = segment.lbcheck("--json", "vips", "--instance", "VI_PEER", "--instance",
                                 "VI_SPLIT", "--instance", "VI_PROXY")
    finally:
        ip("-n", n1, "-6", "addr", "add", f"{link_local}/64", "dev", "eth0", "nodad")

    assert 1 == result.code, result
    found = reasons(result)
    assert f"held by 1: {N2}" == found["vip 2001:db8:1::11"]
    assert f"held by 2: here ({N1}) and {N2} (split brain)" == found["vip 2001:db8:1::12"]
    assert f"held by 1: {N2}" == found["vip 2001:db8:1::13"]  # the proxy is still not one


def test_askers_on_one_host_take_turns_and_a_held_turn_is_could_not_tell(
        segment: Segment) -> None:
    """Answers go to the asking host, so two askers at once on one host would each count the
    other's: they take turns under the host's ask lock. Held by another asker for longer than
    the deadline allows, the run says it cannot tell (3) — never a count; released, it asks."""
    import fcntl

    from lbcheck.files import open_lock
    from lbcheck.link import holders

    inode = subprocess.run(
        ["ip", "netns", "exec", segment.names["n1"], "stat", "-L", "-c", "%i",
         "/proc/self/ns/net"], capture_output=True, text=True, timeout=10, check=True).stdout
    os.makedirs(holders.LOCK_DIR, mode=0o755, exist_ok=True)
    fd = open_lock(os.path.join(holders.LOCK_DIR, f"ask-{inode.strip()}.lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held = segment.lbcheck("--json", "vips", "--instance", "VI_HERE")
        fcntl.flock(fd, fcntl.LOCK_UN)
        free = segment.lbcheck("--json", "vips", "--instance", "VI_HERE")
    finally:
        os.close(fd)
    assert 3 == held.code, held
    assert all("another asker on this host" in r for r in reasons(held).values()), held
    assert held.seconds < 0.8 + 1.0  # the deadline (0.8 s) bounds the wait, plus start-up
    assert 0 == free.code, free
