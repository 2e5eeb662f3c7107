"""The pair watch of a real `lbnotify fifo` reader, on a segment of two network namespaces.

"This node" (namespace A) runs the reader and the receiver standing in for PagerDuty; "the
peer" (namespace B) is the other end of a veth pair. A VIP is put on both ends (split brain),
on neither (no holder) or on one (as it should be) with ``ip addr``, both families, and the
receiver must get one trigger per VIP and condition within 10 s and one resolve once it is
over — across a restart of the reader, and none at all with the watch off. The addresses are
keepalived's business in real life; here the test moves them, which is all the probe sees.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN
from tests.support.notify import Notify
from tests.support.textfile import convention_problems
from tests.support.waiting import eventually

PID = os.getpid()
MAC_A, MAC_B = "02:00:00:00:b1:01", "02:00:00:00:b1:02"
VIP4, VIP6 = "192.0.2.10", "2001:db8:1::10"
PORT = 8099
RECEIVER = Path(__file__).resolve().parents[1] / "receiver.py"
PAGE_WITHIN = 10.0
INTERVAL = 1.0  # s between rounds: the default is 2; the rules are the same, the test quicker

pytestmark = pytest.mark.netns


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10,
                          check=True)


class Segment:
    """Namespaces A and B joined by a veth pair; every name carries our pid."""

    def __init__(self) -> None:
        self.a, self.b = f"lbpw-a-{PID}", f"lbpw-b-{PID}"
        self.a_if, self.b_if = f"lbpwa{PID}", f"lbpwb{PID}"
        self.created: list[str] = []

    def build(self) -> None:
        for namespace in (self.a, self.b):
            ip("netns", "add", namespace)
            self.created.append(namespace)
            subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-qw",
                            "net.ipv6.conf.all.accept_dad=0",
                            "net.ipv6.conf.default.accept_dad=0"], check=True, timeout=10)
            ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", self.a, "link", "add", self.a_if, "address", MAC_A, "type", "veth",
           "peer", "name", self.b_if, "address", MAC_B, "netns", self.b)
        for namespace, interface, host in ((self.a, self.a_if, 1), (self.b, self.b_if, 2)):
            ip("-n", namespace, "addr", "add", f"192.0.2.{host}/24", "dev", interface)
            ip("-n", namespace, "addr", "add", f"2001:db8:1::{host}/64", "dev", interface,
               "nodad")
            ip("-n", namespace, "link", "set", interface, "up")
        eventually(self._ready, bool, 10)
        assert self._ready(), "veth pair not IPv6-ready within 10 s"

    def _ready(self) -> bool:
        """Link-local addresses on both ends: the NS our probe sends has a source."""
        for namespace, interface in ((self.a, self.a_if), (self.b, self.b_if)):
            (link,) = json.loads(ip("-n", namespace, "-j", "addr", "show", "dev",
                                    interface).stdout)
            if link.get("operstate") != "UP" or not any(
                    a.get("scope") == "link" and not a.get("tentative")
                    for a in link.get("addr_info", [])):
                return False
        return True

    def hold(self, side: str, *addresses: str) -> None:
        namespace, interface = (self.a, self.a_if) if side == "a" else (self.b, self.b_if)
        for address in addresses:
            prefix = "64" if ":" in address else "24"
            extra = ["nodad"] if ":" in address else []
            ip("-n", namespace, "addr", "replace", f"{address}/{prefix}", "dev", interface,
               *extra)

    def release(self, side: str, *addresses: str) -> None:
        namespace, interface = (self.a, self.a_if) if side == "a" else (self.b, self.b_if)
        for address in addresses:
            prefix = "64" if ":" in address else "24"
            subprocess.run(["ip", "-n", namespace, "addr", "del", f"{address}/{prefix}", "dev",
                            interface], capture_output=True, timeout=10, check=False)

    def destroy(self) -> None:
        for namespace in self.created:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10,
                           check=False)


class NsReceiver:
    """tests/receiver.py inside namespace A, recording to a file (the reader's 127.0.0.1)."""

    def __init__(self, namespace: str, record: Path) -> None:
        self.record = record
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, str(RECEIVER), "--port",
             str(PORT), "--record", str(record)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 10)
        if not ready or "listening" not in self.process.stdout.readline():
            self.stop()
            raise RuntimeError("the receiver did not listen within 10 s")

    def pages(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text().split("\n")[:-1]
        return [json.loads(line)["json"] for line in lines if line]

    def vip_pages(self, action: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.pages() if ":vip:" in p.get("dedup_key", "")
                and action in (None, p["event_action"])]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=5)


class Reader:
    """`lbnotify fifo` inside namespace A, as keepalived's vrrp_notify_fifo_script runs it."""

    def __init__(self, notify: Notify, namespace: str, fifo: Path) -> None:
        if not fifo.exists():
            os.mkfifo(fifo)
        self.fifo = fifo
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, str(BIN / "lbnotify"), "--config",
             str(notify.config), "fifo", str(fifo)],
            stderr=subprocess.PIPE, text=True, cwd="/")

    def write(self, line: str) -> None:
        with open(self.fifo, "w") as writer:
            writer.write(line + "\n")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            assert self.process.stderr is not None
            self.process.stderr.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture(scope="module")
def segment() -> Iterator[Segment]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and sends raw Ethernet frames")
    built = Segment()
    try:
        try:
            built.build()
        except subprocess.CalledProcessError as exc:
            if built.created:
                raise
            pytest.skip(f"cannot create a network namespace: {exc.stderr.strip()}")
        yield built
    finally:
        built.destroy()


@pytest.fixture
def watching(segment: Segment, tmp_path: Path) -> Iterator[tuple[Notify, NsReceiver]]:
    """A config paging the receiver in A, keepalived.conf naming both VIPs on A's end; the
    VIPs on neither end to start with, and none left behind."""
    (tmp_path / "keepalived.conf").write_text(
        "vrrp_instance VI_1 {\n"
        f"    interface {segment.a_if}\n    virtual_router_id 51\n    priority 100\n"
        f"    virtual_ipaddress {{\n        {VIP4}/24\n    }}\n"
        f"    virtual_ipaddress_excluded {{\n        {VIP6}/64\n    }}\n}}\n")
    receiver = NsReceiver(segment.a, tmp_path / "pages.jsonl")
    try:
        with Notify(tmp_path, f"http://127.0.0.1:{PORT}", metrics=True) as notify:
            yield notify, receiver
    finally:
        receiver.stop()
        for side in ("a", "b"):
            segment.release(side, VIP4, VIP6)


def watch_config(notify: Notify, interval: float = INTERVAL) -> None:
    with open(notify.config, "a") as config:
        config.write(f"[vips]\nwatch_interval = {interval}\n")


def test_split_brain_pages_once_per_vip_within_10_s_and_resolves_once_it_is_over(
        segment: Segment, watching: tuple[Notify, NsReceiver], tmp_path: Path) -> None:
    notify, receiver = watching
    watch_config(notify)
    segment.hold("a", VIP4, VIP6)
    segment.hold("b", VIP4, VIP6)
    reader = Reader(notify, segment.a, tmp_path / "notify.fifo")
    try:
        started = time.monotonic()
        triggers = eventually(lambda: receiver.vip_pages("trigger"), lambda p: len(p) >= 2,
                              PAGE_WITHIN)
        took = time.monotonic() - started
        assert {f"lbcheck:vip:{VIP4}:split", f"lbcheck:vip:{VIP6}:split"} == {
            p["dedup_key"] for p in triggers}, triggers
        assert took < PAGE_WITHIN
        by_vip = {p["payload"]["component"]: p["payload"] for p in triggers}
        summary = by_vip[VIP4]["summary"]
        assert summary.startswith(f"SPLIT BRAIN: VIP {VIP4} on {segment.a_if} held by 2 "
                                  "nodes: "), summary
        assert f"{MAC_A} (" in summary and "this node)" in summary and MAC_B in summary
        assert MAC_B in by_vip[VIP6]["summary"]
        assert "critical" == by_vip[VIP4]["severity"]

        text = eventually(lambda: notify.metrics.read_text(), lambda t: "vip_holders" in t, 5)
        assert f'lbnotify_vip_holders{{address="{VIP4}",interface="{segment.a_if}"}} 2.0' in text
        assert (f'lbnotify_vip_condition{{address="{VIP4}",interface="{segment.a_if}",'
                'state="split"} 1.0') in text
        assert [] == convention_problems(text, "lbnotify_")

        segment.release("b", VIP4, VIP6)
        resolves = eventually(lambda: receiver.vip_pages("resolve"), lambda p: len(p) >= 2,
                              PAGE_WITHIN)
        assert {f"lbcheck:vip:{VIP4}:split", f"lbcheck:vip:{VIP6}:split"} == {
            p["dedup_key"] for p in resolves}
        assert 2 == len(receiver.vip_pages("trigger"))
        assert 0 == reader.stop()
    finally:
        reader.kill()
    assert 4 == len(receiver.vip_pages()), receiver.vip_pages()
    conditions = [line for line in notify.lines("vip_condition")]
    assert [("trigger", "split")] * 2 + [("resolve", "split")] * 2 == [
        (line["action"], line["condition"]) for line in conditions]


def test_a_vip_on_no_node_pages_no_holder_with_this_nodes_state(
        segment: Segment, watching: tuple[Notify, NsReceiver], tmp_path: Path) -> None:
    notify, receiver = watching
    watch_config(notify)
    segment.hold("b", VIP6)  # IPv6 held by the peer: as it should be, never paged
    assert 0 == notify("backup", "VI_1").returncode  # this node is BACKUP: it holds none
    reader = Reader(notify, segment.a, tmp_path / "notify.fifo")
    try:
        reader.write('INSTANCE "VI_1" BACKUP 100')  # no transition: nothing settles
        [trigger] = eventually(lambda: receiver.vip_pages("trigger"), bool, PAGE_WITHIN)
        assert f"lbcheck:vip:{VIP4}:none" == trigger["dedup_key"]
        summary = trigger["payload"]["summary"]
        assert summary.startswith(f"NO HOLDER: VIP {VIP4} on {segment.a_if} held by no node"
                                  ), summary
        assert "VI_1 BACKUP" in summary
        segment.hold("a", VIP4)
        [resolve] = eventually(lambda: receiver.vip_pages("resolve"), bool, PAGE_WITHIN)
        assert f"lbcheck:vip:{VIP4}:none" == resolve["dedup_key"]
        assert 0 == reader.stop()
    finally:
        reader.kill()
    assert 2 == len(receiver.vip_pages()), receiver.vip_pages()


def test_a_restart_mid_incident_does_not_page_twice_and_still_resolves(
        segment: Segment, watching: tuple[Notify, NsReceiver], tmp_path: Path) -> None:
    notify, receiver = watching
    watch_config(notify)
    segment.hold("a", VIP4)
    segment.hold("b", VIP4, VIP6)
    fifo = tmp_path / "notify.fifo"
    first = Reader(notify, segment.a, fifo)
    try:
        eventually(lambda: receiver.vip_pages("trigger"), bool, PAGE_WITHIN)
        assert 0 == first.stop()
    finally:
        first.kill()
    second = Reader(notify, segment.a, fifo)
    try:
        started = eventually(lambda: notify.lines("vip_watch_started"), lambda s: len(s) >= 2,
                             PAGE_WITHIN)
        assert [f"{VIP4} split"] == started[-1]["open"]
        # Rounds of the restarted reader while the split lasts: a forgetful one pages again.
        repeated = eventually(lambda: receiver.vip_pages("trigger"), lambda p: len(p) > 1,
                              4 * INTERVAL)
        assert 1 == len(repeated), repeated
        segment.release("b", VIP4)
        [resolve] = eventually(lambda: receiver.vip_pages("resolve"), bool, PAGE_WITHIN)
        assert f"lbcheck:vip:{VIP4}:split" == resolve["dedup_key"]
        assert 0 == second.stop()
    finally:
        second.kill()
    assert 2 == len(receiver.vip_pages()), receiver.vip_pages()


def test_with_the_watch_off_nothing_is_asked_or_paged(
        segment: Segment, watching: tuple[Notify, NsReceiver], tmp_path: Path) -> None:
    notify, receiver = watching
    watch_config(notify, interval=0)
    segment.hold("a", VIP4)
    segment.hold("b", VIP4)
    reader = Reader(notify, segment.a, tmp_path / "notify.fifo")
    try:
        reader.write('INSTANCE "VI_1" BACKUP 100')
        assert eventually(lambda: notify.events(), bool, PAGE_WITHIN)
        # What a watch at INTERVAL would have paged by now, twice over.
        pages = eventually(receiver.vip_pages, bool, 4 * INTERVAL)
        assert [] == pages
        assert 0 == reader.stop()
    finally:
        reader.kill()
    assert not (notify.state / "pairwatch.json").exists()
    assert [] == notify.lines("vip_watch_started")
    assert "lbnotify_vip_" not in notify.metrics.read_text()
