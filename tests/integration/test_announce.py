"""Gratuitous ARP and unsolicited NA between two real network namespaces.

The announcer holds the VIPs on one end of a veth pair; the observer on the other end has
neighbour entries seeded with a wrong MAC (Linux only *updates* existing entries from
unsolicited ARP/NA by default), so a moved entry proves the kernel accepted our frames,
checksum included. tcpdump on the observer shows what went over the wire.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbcheck.config import PageTarget
from lbcheck.link import netlink
from lbcheck.notify.paging.outbox import Outbox
from lbcheck.notify.paging.policy import CRITICAL, TRIGGER, Page
from tests.conftest import BIN
from tests.support import freezer
from tests.support.waiting import eventually

PID = os.getpid()
ANNOUNCER_MAC = "02:00:00:00:a1:01"
WRONG_MAC = "02:00:00:00:00:99"
VIP4, VIP6 = "192.0.2.100", "2001:db8:1::100"
NOT_HELD4, NOT_HELD6 = "192.0.2.200", "2001:db8:1::200"
ANNOUNCEMENTS = f"ether src {ANNOUNCER_MAC} and (arp or (icmp6 and ip6[40] == 136))"
NEEDS_CAP = (
    "announce: sending gratuitous ARP and unsolicited neighbour advertisements needs "
    "CAP_NET_RAW (run as root or grant the capability)\n"
)


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10,
                          check=True)


class Capture:
    """tcpdump in a namespace, started before we send and stopped within a bounded time."""

    def __init__(self, namespace: str, interface: str, packets: int) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "tcpdump", "-i", interface, "-n", "-v", "-e",
             "-tt", "-l", "-c", str(packets), ANNOUNCEMENTS],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.process.stderr is not None
        ready, _, _ = select.select([self.process.stderr], [], [], 10)
        if not ready or "listening on" not in self.process.stderr.readline():
            self.stop()
            raise RuntimeError("tcpdump did not start listening within 10 s")

    def lines(self, timeout: float = 5) -> list[str]:
        """The packets, one line each (tcpdump -v puts ND options on continuation lines)."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)  # tcpdump prints what it has on SIGINT
            out, _ = self.process.communicate(timeout=5)
        return [line for line in out.splitlines() if line and not line[0].isspace()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=5)


class Lab:
    """Announcer and observer namespaces joined by a veth pair, all names carrying our pid."""

    def __init__(self) -> None:
        self.announcer, self.observer = f"lbann-a-{PID}", f"lbann-o-{PID}"
        self.a_if, self.o_if = f"lbaa{PID}", f"lbao{PID}"
        self.created: list[str] = []

    def build(self) -> None:
        for namespace in (self.announcer, self.observer):
            ip("netns", "add", namespace)
            self.created.append(namespace)
            # Addresses usable at once: no duplicate address detection delay.
            self.run(namespace, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                     "net.ipv6.conf.default.accept_dad=0")
            ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", self.announcer, "link", "add", self.a_if, "address", ANNOUNCER_MAC,
           "type", "veth", "peer", "name", self.o_if, "netns", self.observer)
        for address in ("192.0.2.1/24", f"{VIP4}/24"):
            ip("-n", self.announcer, "addr", "add", address, "dev", self.a_if)
        for address in ("2001:db8:1::1/64", f"{VIP6}/64"):
            ip("-n", self.announcer, "addr", "add", address, "dev", self.a_if, "nodad")
        ip("-n", self.observer, "addr", "add", "192.0.2.2/24", "dev", self.o_if)
        ip("-n", self.observer, "addr", "add", "2001:db8:1::2/64", "dev", self.o_if, "nodad")
        ip("-n", self.announcer, "link", "set", self.a_if, "up")
        ip("-n", self.observer, "link", "set", self.o_if, "up")
        self.wait_until_ipv6_ready()

    def wait_until_ipv6_ready(self, seconds: float = 10) -> None:
        """Until linkwatch reports carrier (often ~1 s) IPv6 has no multicast route and the
        observer drops every NA to ff02::1; a link-local address on both ends means ready."""
        ends = ((self.announcer, self.a_if), (self.observer, self.o_if))
        give_up = time.monotonic() + seconds
        for _ in range(int(seconds / 0.05)):
            if all(self._ipv6_ready(namespace, interface) for namespace, interface in ends):
                return
            if time.monotonic() > give_up:
                break
            time.sleep(0.05)
        raise RuntimeError(f"veth pair not IPv6-ready within {seconds:g} s")

    @staticmethod
    def _ipv6_ready(namespace: str, interface: str) -> bool:
        (link,) = json.loads(ip("-n", namespace, "-j", "addr", "show", "dev", interface).stdout)
        return link.get("operstate") == "UP" and any(
            a.get("scope") == "link" for a in link.get("addr_info", [])
        )

    def destroy(self) -> None:
        for namespace in self.created:  # only ours: deleting a namespace removes its veth end
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10,
                           check=False)

    def run(self, namespace: str, *argv: str, user: str | None = None,
            timeout: float = 20) -> subprocess.CompletedProcess[str]:
        prefix = ["ip", "netns", "exec", namespace]
        if user:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        # cwd="/": `python -m` puts cwd first on sys.path, and in the checkout the source
        # lbcheck/ would shadow the installed package.
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout,
                              check=False, cwd="/")

    def announce(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m lbcheck.notify.announce` inside the announcer namespace."""
        return self.run(self.announcer, sys.executable, "-m", "lbcheck.notify.announce", *args,
                        user=user)

    def capture(self, packets: int) -> Capture:
        return Capture(self.observer, self.o_if, packets)

    def seed_wrong_mac(self, *addresses: str) -> None:
        for address in addresses:
            ip("-n", self.observer, "neigh", "replace", address, "lladdr", WRONG_MAC,
               "dev", self.o_if, "nud", "stale")

    def observed_mac(self, address: str) -> str | None:
        out = ip("-n", self.observer, "-j", "neigh", "show", address, "dev", self.o_if).stdout
        entries = json.loads(out or "[]")
        return entries[0].get("lladdr") if entries else None


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and sends raw Ethernet frames")
    built = Lab()
    try:
        try:
            built.build()
        except subprocess.CalledProcessError as exc:
            if built.created:
                raise  # namespaces work, so this is a bug in the lab, not a missing capability
            pytest.skip(f"cannot create a network namespace: {exc.stderr.strip()}")
        yield built
    finally:
        built.destroy()


pytestmark = pytest.mark.netns


def test_observer_neighbour_entries_move_to_the_announcer_mac(lab: Lab) -> None:
    """One announce run makes the observer's kernel re-point both VIPs at our MAC."""
    lab.seed_wrong_mac(VIP4, VIP6)

    result = lab.announce("--count", "2", "--interval", "0.1", f"{VIP4}/24", f"{VIP6}/64")

    assert 0 == result.returncode, result.stderr
    assert (ANNOUNCER_MAC, ANNOUNCER_MAC) == (lab.observed_mac(VIP4), lab.observed_mac(VIP6))
    assert [
        f"{VIP4} on {lab.a_if}: sent 2 gratuitous ARP",
        f"{VIP6} on {lab.a_if}: sent 2 unsolicited NA",
    ] == result.stdout.splitlines()


def test_wire_carries_count_bursts_interval_apart_of_arp_and_na(lab: Lab) -> None:
    """tcpdump sees 3 bursts ~0.2 s apart, each one ARP request and one NA with O, hlim 255."""
    capture = lab.capture(packets=6)
    try:
        result = lab.announce("--count", "3", "--interval", "0.2", VIP4, VIP6)
        lines = capture.lines()
    finally:
        capture.stop()

    assert 0 == result.returncode, result.stderr
    arp = [line for line in lines if "ARP" in line]
    na = [line for line in lines if "neighbor advertisement" in line]
    assert 3 == len(arp) == len(na), lines
    assert all(
        f"{ANNOUNCER_MAC} > ff:ff:ff:ff:ff:ff" in line
        and f"Request who-has {VIP4} (ff:ff:ff:ff:ff:ff) tell {VIP4}" in line
        for line in arp
    ), arp
    assert all(
        f"{ANNOUNCER_MAC} > 33:33:00:00:00:01" in line and "hlim 255" in line
        and f"{VIP6} > ff02::1" in line and "[icmp6 sum ok]" in line
        and f"tgt is {VIP6}, Flags [override]" in line
        for line in na
    ), na
    stamps = [float(line.split()[0]) for line in arp]
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert all(0.15 <= gap <= 0.6 for gap in gaps), gaps


def test_an_address_we_do_not_hold_is_skipped_and_never_sent(lab: Lab) -> None:
    """A stale MASTER event must not pull traffic for addresses this host does not hold."""
    lab.seed_wrong_mac(NOT_HELD4, NOT_HELD6)
    capture = lab.capture(packets=2)  # only the held VIP's two frames may appear
    try:
        result = lab.announce("--count", "1", NOT_HELD4, VIP4, NOT_HELD6)
        lines = capture.lines(timeout=1.5)
    finally:
        capture.stop()

    assert 0 == result.returncode, result.stderr
    assert [
        f"{NOT_HELD4}: skipped: not configured on any interface",
        f"{VIP4} on {lab.a_if}: sent 1 gratuitous ARP",
        f"{NOT_HELD6}: skipped: not configured on any interface",
    ] == result.stdout.splitlines()
    assert not [line for line in lines if NOT_HELD4 in line or NOT_HELD6 in line], lines
    assert (WRONG_MAC, WRONG_MAC) == (lab.observed_mac(NOT_HELD4), lab.observed_mac(NOT_HELD6))


def test_an_address_removed_between_bursts_stops_being_announced(lab: Lab) -> None:
    """Becoming BACKUP mid-announce (the VIP is deleted) silences the remaining bursts."""
    vip = "192.0.2.101"
    ip("-n", lab.announcer, "addr", "add", f"{vip}/24", "dev", lab.a_if)
    capture = lab.capture(packets=3)
    announcer = subprocess.Popen(
        ["ip", "netns", "exec", lab.announcer, sys.executable, "-m", "lbcheck.notify.announce",
         "--count", "3", "--interval", "1.5", vip],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
    )
    try:
        assert capture.process.stdout is not None
        ready, _, _ = select.select([capture.process.stdout], [], [], 5)
        assert ready, "the first burst never arrived"
        ip("-n", lab.announcer, "addr", "del", f"{vip}/24", "dev", lab.a_if)
        out, err = announcer.communicate(timeout=10)
        lines = capture.lines(timeout=0.5)
    finally:
        if announcer.poll() is None:
            announcer.kill()
            announcer.communicate(timeout=5)
        capture.stop()
        subprocess.run(["ip", "-n", lab.announcer, "addr", "del", f"{vip}/24", "dev", lab.a_if],
                       capture_output=True, timeout=10, check=False)

    assert 0 == announcer.returncode, err
    assert (f"{vip} on {lab.a_if}: skipped: no longer configured on {lab.a_if} after 1 of 3 "
            "bursts (sent 1 gratuitous ARP)\n") == out
    assert 1 == len([line for line in lines if f"tell {vip}" in line]), lines


def test_dev_limits_the_announce_to_that_interface(lab: Lab) -> None:
    """--dev names where the VIP must be; elsewhere it is skipped, a missing one is an error."""
    on_lo = lab.announce("--dev", "lo", VIP4)
    missing = lab.announce("--dev", "nosuch0", VIP4)

    assert (0, f"{VIP4} on lo: skipped: not configured on lo (it is on {lab.a_if})\n") == (
        on_lo.returncode, on_lo.stdout)
    assert (1, f"{VIP4} on nosuch0: error: no interface named nosuch0\n") == (
        missing.returncode, missing.stdout)


def test_an_interface_that_is_down_is_reported_not_sent_on(lab: Lab) -> None:
    """A VIP on a down link gets `interface X is down`, not a socket error or a traceback."""
    down = f"lbad{PID}"  # a second veth pair, both ends in the announcer, never set up
    ip("-n", lab.announcer, "link", "add", down, "type", "veth", "peer", "name", f"lbae{PID}")
    try:
        ip("-n", lab.announcer, "addr", "add", "192.0.2.150/32", "dev", down)
        result = lab.announce("192.0.2.150")
    finally:
        subprocess.run(["ip", "-n", lab.announcer, "link", "del", down], capture_output=True,
                       timeout=10, check=False)

    expected = f"192.0.2.150 on {down}: error: interface {down} is down\n"
    assert (1, expected, "") == (result.returncode, result.stdout, result.stderr)


def test_the_deadline_cuts_later_bursts(lab: Lab) -> None:
    """With a 0.5 s budget, bursts due at 0 and 0.3 s go out and the one due at 0.6 s does not."""
    started = time.monotonic()
    result = lab.announce("--count", "5", "--interval", "0.3", "--deadline", "0.5", VIP4)
    took = time.monotonic() - started

    expected = (f"{VIP4} on {lab.a_if}: error: deadline of 0.5 s reached after 2 of 5 bursts "
                "(sent 2 gratuitous ARP)\n")
    assert (1, expected) == (result.returncode, result.stdout)
    assert took < 5, took


def test_without_cap_net_raw_the_one_line_says_so(lab: Lab) -> None:
    """An unprivileged run names the missing capability and how to get it; no traceback."""
    result = lab.announce(VIP4, VIP6, user="65534")

    assert (1, "", NEEDS_CAP) == (result.returncode, result.stdout, result.stderr)


def test_rtnetlink_dump_sees_loopback_as_the_kernel_does() -> None:
    """The stdlib rtnetlink reader agrees with the kernel's own index and addresses for lo."""
    links = netlink.links()
    held = {(a.address.compressed, a.ifindex) for a in netlink.addresses()}
    lo = socket.if_nametoindex("lo")

    assert "lo" == links[lo].name
    assert links[lo].up
    assert ("127.0.0.1", lo) in held


def test_a_poisoned_outbox_does_not_cut_the_announcement_short(lab: Lab, tmp_path: Path) -> None:
    """`lbnotify master` with a webhook dead for 17 h (1,024 failed attempts) in the outbox
    once died in the flush (OverflowError) after the first burst: 1 GARP instead of 3. Now
    every burst goes out and the hook exits 0."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(f"vrrp_instance VI_1 {{\n  interface {lab.a_if}\n  virtual_router_id 51\n"
                    f"  priority 100\n  virtual_ipaddress {{\n    {VIP4}/24\n  }}\n"
                    f"  virtual_ipaddress_excluded {{\n    {VIP6}/64\n  }}\n}}\n")
    outbox = tmp_path / "outbox"
    config = tmp_path / "lbcheck.toml"
    config.write_text(
        f'[log]\ntarget = "{tmp_path / "lbnotify.jsonl"}"\n'
        f'[notify]\nstate_dir = "{tmp_path / "state"}"\n[keepalived]\nconfig = "{conf}"\n'
        f'[announce]\ncount = 3\ninterval = 0.2\n'
        f'[page]\noutbox = "{outbox}"\nsender_give_up = 0\n'
        # Nothing listens on the namespace's loopback: every attempt is refused.
        '[[page.target]]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n')
    target = PageTarget("webhook", "http://127.0.0.1:9/hook")
    [stuck] = Outbox(outbox, [target]).enqueue(Page(
        action=TRIGGER, severity=CRITICAL, dedup_key="lbcheck:lb1:INSTANCE:VI_0:fault",
        summary="FAULT: VRRP instance VI_0 on lb1", router="lb1", kind="INSTANCE", name="VI_0",
        state="FAULT", previous=None, priority=0, at=time.time()))
    record = json.loads(stuck.read_text())
    stuck.write_text(json.dumps({**record, "attempts": 1024}))
    capture = lab.capture(packets=6)
    try:
        result = lab.run(lab.announcer, str(BIN / "lbnotify"), "--config", str(config),
                         "master", "VI_1")
        lines = capture.lines()
    finally:
        capture.stop()
    assert (0, "") == (result.returncode, result.stderr)
    assert (3, 3) == (sum("ARP" in line for line in lines),
                      sum("neighbor advertisement" in line for line in lines)), lines


def _sleeping_between_bursts(pid: int) -> int | None:
    """The thread of hook ``pid`` that sleeps until its next burst (no other sleeps so)."""
    try:
        tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
        for tid in tids:
            if "nanosleep" in Path(f"/proc/{pid}/task/{tid}/wchan").read_text():
                return tid
    except OSError:  # the hook or the thread is gone
        pass
    return None


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


@pytest.mark.skipif(bool(freezer.available()), reason=freezer.available() or "freezer works")
def test_a_hung_announcement_fails_the_hook_at_its_bound(lab: Lab, tmp_path: Path) -> None:
    """An announcement stuck in the kernel (its thread frozen between two bursts) once went
    unsaid: the hook stopped waiting, logged no `announce` at all and exited 0. Now the hook
    gives up at the bound (count × interval + 2 s = 4 s), its line is an error naming it,
    and it does not wait for the thread at exit: its main thread is gone before the thaw."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(f"vrrp_instance VI_1 {{\n  interface {lab.a_if}\n  virtual_router_id 51\n"
                    f"  priority 100\n  virtual_ipaddress {{\n    {VIP4}/24\n  }}\n}}\n")
    log = tmp_path / "lbnotify.jsonl"
    config = tmp_path / "lbcheck.toml"
    config.write_text(  # no page target: no sending thread beside the announcer
        f'[log]\ntarget = "{log}"\n[notify]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[keepalived]\nconfig = "{conf}"\n[announce]\ncount = 4\ninterval = 0.5\n'
        f'[page]\noutbox = "{tmp_path / "outbox"}"\n')
    hook = subprocess.Popen(["ip", "netns", "exec", lab.announcer, str(BIN / "lbnotify"),
                             "--config", str(config), "master", "VI_1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    started = time.monotonic()
    try:
        tid = eventually(lambda: _sleeping_between_bursts(hook.pid), bool, 10, interval=0.01)
        assert tid is not None, "the announcer never slept between two bursts"
        with freezer.frozen([tid], threads=True):
            lines = eventually(lambda: log.read_text() if log.exists() else "",
                               lambda text: '"vrrp_event"' in text, 15)
            took = time.monotonic() - started
            main = eventually(lambda: _state(hook.pid), lambda state: state == "Z", 5)
            assert hook.poll() is None  # its frozen thread holds the exit until the thaw
        out, err = hook.communicate(timeout=10)
    finally:
        if hook.poll() is None:
            hook.kill()
            hook.communicate(timeout=5)
    [event] = [json.loads(line) for line in lines.splitlines() if '"vrrp_event"' in line]
    assert ("error", "announcement still running after 4 s") == (
        event["level"], event["announce"]["error"])
    assert 4000 <= event["announce"]["ms"] < 4500, event
    assert took < 4 + 3, took  # the bound, plus the interpreter's start on a busy machine
    assert "Z" == main  # exited, not waiting for the thread (as an executor's worker would)
    assert (1, "", "lbnotify: error: announce: announcement still running after 4 s\n") == (
        hook.returncode, out, err)
    assert [] == freezer.leftover_groups()


def _missing_include_config(tmp_path: Path, interface: str, vip: str) -> Path:
    """An lbnotify config whose keepalived.conf includes a file that does not exist (keepalived
    logs "Config files missing" and runs) and a FIFO (it skips what is not a regular file)."""
    os.mkfifo(tmp_path / "fifo.conf")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(f"include {tmp_path}/conf.d/lvs.conf\ninclude fifo.conf\n"
                    f"vrrp_instance VI_3 {{\n  interface {interface}\n  virtual_router_id 53\n"
                    f"  priority 100\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n")
    config = tmp_path / "lbcheck.toml"
    config.write_text(f'[log]\ntarget = "{tmp_path / "lbnotify.jsonl"}"\n'
                      f'[notify]\nstate_dir = "{tmp_path / "state"}"\n'
                      f'[keepalived]\nconfig = "{conf}"\n[announce]\ncount = 2\ninterval = 0.1\n'
                      f'[page]\noutbox = "{tmp_path / "outbox"}"\n')
    return config


def test_a_missing_include_still_announces_every_vip_found(lab: Lab, tmp_path: Path) -> None:
    """`lbnotify master VI_3` with a missing include once sent no ARP at all (`error:
    announce: … cannot read include`). keepalived runs with it, so the hook does too: it
    announces the VIP, exits 0 and says what it read around, on stderr and in the log."""
    config = _missing_include_config(tmp_path, lab.a_if, VIP4)
    capture = lab.capture(packets=2)
    try:
        result = lab.run(lab.announcer, str(BIN / "lbnotify"), "--config", str(config),
                         "master", "VI_3")
        lines = capture.lines()
    finally:
        capture.stop()

    assert 0 == result.returncode, result.stderr
    assert 2 == sum(f"tell {VIP4}" in line for line in lines), lines
    warnings = result.stderr.splitlines()
    assert 2 == len(warnings), warnings
    assert warnings[0].startswith("lbnotify: warning: announce: ")
    assert "cannot read include" in warnings[0] and "is a FIFO" in warnings[1]
    [event] = [json.loads(line) for line in (tmp_path / "lbnotify.jsonl").read_text()
               .splitlines() if '"vrrp_event"' in line]
    assert 2 == len(event["announce"]["config_warnings"]), event
    assert [f"{VIP4} on {lab.a_if}: sent 2 gratuitous ARP"] == event["announce"]["sent"]


def test_release_with_a_missing_include_still_releases_the_vip(lab: Lab, tmp_path: Path
                                                               ) -> None:
    """`lbnotify release --force` once refused the whole config over a missing include and
    left the dead keepalived's VIP on the interface; now it deletes it, with a warning."""
    vip = "192.0.2.103"
    ip("-n", lab.announcer, "addr", "add", f"{vip}/24", "dev", lab.a_if)
    config = _missing_include_config(tmp_path, lab.a_if, vip)
    try:
        result = lab.run(lab.announcer, str(BIN / "lbnotify"), "--config", str(config),
                         "release", "--force")
        held = ip("-n", lab.announcer, "-o", "addr", "show", "dev", lab.a_if).stdout
    finally:
        subprocess.run(["ip", "-n", lab.announcer, "addr", "del", f"{vip}/24", "dev",
                        lab.a_if], capture_output=True, timeout=10, check=False)

    assert (0, f"released {vip}/24 dev {lab.a_if}\n") == (result.returncode, result.stdout), \
        result.stderr
    assert f"{vip}/" not in held
    assert 2 == len(result.stderr.splitlines()), result.stderr
    assert "lbnotify: warning: release: " in result.stderr and "cannot read include" in \
        result.stderr
