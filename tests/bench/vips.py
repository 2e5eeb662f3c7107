"""What the pair watch costs, and how fast it pages (issue 19).

`bin/bench vips`, in the two-node lab at the conservative profile (examples/, the pair watch
as examples/lbcheck.toml leaves it):

- probe frames per VIP per round: every frame each node's FIFO reader sends to ask (ARP
  probes, neighbour solicitations) and every answer it gets, counted on the node's own
  interface for WINDOW seconds, divided by the rounds (bursts of questions) and the VIPs;
- CPU per round in the FIFO reader: its utime + stime over the same window (/proc), with the
  watch on, against the same reader with `[vips] watch_interval = 0` (keepalived restarted
  to start it so) and one `lbcheck vips` run (the cost of asking from a one-shot process);
- fault-to-page: from the moment the condition is true on the wire (both nodes' addresses
  every 10 ms) to the first page either node's receiver gets, and from its end to the first
  resolve; ``repeats`` runs per scenario, median and max.
"""

from __future__ import annotations

import ipaddress
import os
import re
import resource
import select
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from tests.lab import vrrp_block
from tests.lab.addrwatch import Watch
from tests.lab.lab import Lab, LabError
from tests.lab.pages import NONE, SPLIT, first, vip_pages
from tests.lab.render import BIN
from tests.lab.topology import VIP4, VIP6, entered, host

WINDOW = 60.0  # s of steady state per cost measurement
ROUND_GAP = 0.5  # s: questions further apart than this belong to different rounds
PAGE_TIMEOUT = 30.0
STARTED = 5.0  # s after keepalived restarts before its new FIFO reader is measured
VIPS = (VIP4, VIP6)
CLK_TCK = os.sysconf("SC_CLK_TCK")
ANY4 = b"\0" * 4


def run(repeats: int = 5, window: float = WINDOW) -> str:
    started = time.monotonic()
    lab = Lab(Path(tempfile.mkdtemp(prefix="lbcheck-bench-vips-")))
    try:
        lab.up()
        frames, cpu_on = steady(lab, window)
        rounds_on = frames["n2"].rounds
        oneshot = one_shot_cpu(lab, "n2")
        watch_off(lab, "n2")
        _, cpu_off = steady(lab, window)
        watch_on(lab, "n2")
        timings = {label: [scenario(lab) for _ in range(repeats)]
                   for label, scenario in SCENARIOS.items()}
    finally:
        lab.down()
    return report(frames, cpu_on, rounds_on, cpu_off, oneshot, timings, window, repeats,
                  time.monotonic() - started)


# -- frames --------------------------------------------------------------------------------


class Frames(NamedTuple):
    questions: int
    answers: int
    rounds: int


def steady(lab: Lab, window: float, node: str = "n2") -> tuple[dict[str, Frames], float]:
    """For ``window`` s of steady state: each node's questions and the answers to them, on
    its own eth0, and the CPU seconds ``node``'s FIFO reader(s) used."""
    lab.wait_for_master("n1", 25)
    readers = lab.fifo_readers(node)
    if not readers:
        raise LabError(f"{node} runs no FIFO reader")
    counters = {name: _Counter(name) for name in ("n1", "n2")}
    for counter in counters.values():
        counter.start()
    before = _cpu(readers)
    time.sleep(window)
    spent = _cpu(readers) - before
    for counter in counters.values():
        counter.stop()
    if lab.fifo_readers(node) != readers:
        raise LabError(f"{node}'s FIFO reader changed while measured: {readers} → "
                       f"{lab.fifo_readers(node)}")
    return {name: counter.frames() for name, counter in counters.items()}, spent


class _Counter(threading.Thread):
    """Questions this node sends (ARP requests from 0.0.0.0, NSs for a VIP) and answers to
    them it receives, with their times."""

    def __init__(self, node: str) -> None:
        super().__init__(name=f"frames-{node}", daemon=True)
        self.node = node
        self.sent: list[float] = []
        self.answers = 0
        self._done = threading.Event()
        self._targets4 = {ipaddress.IPv4Address(VIP4).packed}
        self._targets6 = {ipaddress.IPv6Address(VIP6).packed}

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)

    def frames(self) -> Frames:
        rounds = (1 + sum(b - a > ROUND_GAP for a, b in pairwise(self.sent))
                  if self.sent else 0)
        return Frames(len(self.sent), self.answers, rounds)

    def run(self) -> None:
        with entered(host(self.node).netns), socket.socket(
                socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)) as sock:
            sock.bind(("eth0", 0))
            while not self._done.is_set():
                if not select.select([sock], [], [], 0.1)[0]:
                    continue
                frame, address = sock.recvfrom(2048)
                outgoing = address[2] == socket.PACKET_OUTGOING
                kind = _kind(frame, self._targets4, self._targets6)
                if kind == "question" and outgoing:
                    self.sent.append(time.monotonic())
                elif kind == "answer" and not outgoing:
                    self.answers += 1


def _kind(frame: bytes, v4: set[bytes], v6: set[bytes]) -> str | None:
    """question: an ARP probe (sender IP 0) or an NS (not DAD) for a VIP; answer: an ARP
    reply with target IP 0, or a Solicited NA, for one."""
    if frame[12:14] == b"\x08\x06" and len(frame) >= 42:
        op, sender, target = frame[20:22], frame[28:32], frame[38:42]
        if op == b"\0\x01" and sender == ANY4 and target in v4:
            return "question"
        if op == b"\0\x02" and sender in v4 and target == ANY4:
            return "answer"
    if frame[12:14] == b"\x86\xdd" and len(frame) >= 78 and frame[20] == 58:
        kind, target = frame[54], frame[62:78]
        if kind == 135 and target in v6 and frame[22:38] != b"\0" * 16:
            return "question"
        if kind == 136 and target in v6 and frame[58] & 0x40:
            return "answer"
    return None


# -- CPU -----------------------------------------------------------------------------------


def _cpu(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def one_shot_cpu(lab: Lab, node: str, runs: int = 10) -> float:
    """CPU seconds of one `lbcheck vips` process (median of ``runs``)."""
    config = str(lab.workdir / node / "lbcheck.toml")
    spent = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["ip", "netns", "exec", host(node).netns, str(BIN / "lbcheck"),
                        "--config", config, "vips"], capture_output=True, timeout=10,
                       check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(spent)


def watch_off(lab: Lab, node: str) -> None:
    _set_interval(lab, node, "0")


def watch_on(lab: Lab, node: str) -> None:
    _set_interval(lab, node, None)


def _set_interval(lab: Lab, node: str, value: str | None) -> None:
    """``[vips] watch_interval`` in the node's lbcheck.toml (None: the default), then a
    keepalived restart, which starts a FIFO reader reading it."""
    path = lab.workdir / node / "lbcheck.toml"
    text = re.sub(r"(?m)^watch_interval = .*\n", "", path.read_text())
    if value is not None:
        if re.search(r"(?m)^\[vips\]$", text):
            text = re.sub(r"(?m)^\[vips\]$", f"[vips]\nwatch_interval = {value}", text)
        else:
            text += f"\n[vips]\nwatch_interval = {value}\n"
    path.write_text(text)
    lab.restart_keepalived(node)
    lab.wait_for_master("n1", 25)
    time.sleep(STARTED)  # the new reader's start-up (imports, its first events) is not a round


# -- fault to page ---------------------------------------------------------------------------


class Timing(NamedTuple):
    page: float  # s from the condition to its first page
    resolve: float  # s from its end to the first resolve


def split_brain(lab: Lab) -> Timing:
    """VRRP blocked in n2's namespace until paged, then let through until resolved."""
    return _episode(lab, SPLIT, lambda: vrrp_block.block(host("n2").netns),
                    lambda: vrrp_block.unblock(host("n2").netns),
                    {"n1": set(VIPS), "n2": set(VIPS)})


def no_holder(lab: Lab) -> Timing:
    """haproxy killed on both nodes (weight 0: both FAULT) until paged, then started."""

    def kill() -> None:
        for node in ("n2", "n1"):
            lab.inject(node, "killed")

    def start() -> None:
        for node in ("n1", "n2"):
            lab.start_haproxy(node)

    return _episode(lab, NONE, kill, start, {"n1": set(), "n2": set()})


SCENARIOS: dict[str, Callable[[Lab], Timing]] = {
    "split brain (VRRP blocked in n2)": split_brain,
    "held by no node (haproxy down on both)": no_holder,
}


def _episode(lab: Lab, condition: str, cause: Callable[[], None], end: Callable[[], None],
             wanted: dict[str, set[str]]) -> Timing:
    lab.wait_for_master("n1", 25)
    since = time.time()
    with Watch(VIPS) as watch:
        cause()
        try:
            began = _when(watch, lambda: {n: set(watch.now(n)) for n in watch.nodes} == wanted)
            opened = _page(lab, since, "trigger", condition)
        finally:
            stopped = time.time()
            end()
        over = _when(watch, lambda: any(watch.now(n) for n in watch.nodes)
                     if condition == NONE else not watch.now("n2"))
        closed = _page(lab, stopped, "resolve", condition)
    lab.wait_for_master("n1", 25)
    return Timing(opened - began, closed - over)


def _when(watch: Watch, done: Callable[[], bool]) -> float:
    end = time.monotonic() + PAGE_TIMEOUT
    while not done():
        if time.monotonic() > end:
            seen = {n: sorted(watch.now(n)) for n in watch.nodes}
            raise LabError(f"the lab did not get there: {seen}")
        time.sleep(0.01)
    return max(cs[-1].at for cs in watch.changes.values() if cs)


def _page(lab: Lab, since: float, action: str, condition: str) -> float:
    end = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < end:
        pages = vip_pages(lab, since)
        found = [first(pages, action, vip, condition) for vip in VIPS]
        if all(found):
            return min(p.at for p in found if p is not None)
        time.sleep(0.1)
    raise LabError(f"no {condition} {action} page within {PAGE_TIMEOUT:g} s")


# -- the report ------------------------------------------------------------------------------


def report(frames: dict[str, Frames], cpu_on: float, rounds_on: int, cpu_off: float,
           oneshot: float, timings: dict[str, list[Timing]], window: float, repeats: int,
           took: float) -> str:
    lines = [f"the pair watch in the lab (conservative profile; {took:.0f} s in all)", "",
             f"frames per VIP per round ({window:g} s, {len(VIPS)} VIPs, each node):"]
    for node, f in frames.items():
        per = max(f.rounds, 1) * len(VIPS)
        lines.append(f"  {node}: {f.rounds} rounds, {f.questions / per:.2f} question(s) sent, "
                     f"{f.answers / per:.2f} answer(s) received")
    per_round = cpu_on / max(rounds_on, 1)
    idle = cpu_off / max(rounds_on, 1)
    lines += ["", (f"FIFO reader CPU on n2 over {window:g} s: watch on {cpu_on * 1000:.0f} ms "
                   f"({rounds_on} rounds: {per_round * 1000:.1f} ms a round), watch off "
                   f"{cpu_off * 1000:.0f} ms ({(per_round - idle) * 1000:.1f} ms a round for "
                   f"the watch itself); one `lbcheck vips` process: {oneshot * 1000:.0f} ms"),
              "",
              f"fault to page, resolve (s; median / max of {repeats}):", "",
              "| scenario | condition → first page | end → first resolve |", "|---|---|---|"]
    for label, runs in timings.items():
        pages = [t.page for t in runs]
        resolves = [t.resolve for t in runs]
        lines.append(f"| {label} | {statistics.median(pages):.1f} / {max(pages):.1f} | "
                     f"{statistics.median(resolves):.1f} / {max(resolves):.1f} |")
    return "\n".join(lines)
