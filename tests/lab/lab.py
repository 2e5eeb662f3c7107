"""The two-node lab: bring it up and down, see who holds the VIPs, inject faults, measure.

Each node lives in its own network namespace *and* its own PID + mount namespace (a shared
PID namespace would let n1's process check see n2's haproxy), with tests/lab/node_init.py as
PID 1. Nodes are taken down with SIGKILL on their `unshare` (--kill-child), which ends every
process in them. All waits are bounded.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from tests.lab import poller, topology
from tests.lab.render import BIN, MASTER_SOCKET, Generated, generated_files, node_files
from tests.lab.topology import VIP4, VIP6, host, netns
from tests.support.waiting import eventually

HERE = Path(__file__).resolve().parent
RECEIVER = HERE.parent / "receiver.py"
PRIORITY = {"n1": 150, "n2": 100}
# examples/fast/: VRRPv3, advert_int 0.1, priorities 250/249, weight -20 on the watcher's file
PRIORITIES = {"conservative": PRIORITY, "fast": {"n1": 250, "n2": 249}}
FREEZER_PREFIX = "lbcheck-lab-"  # the "frozen" fault's cgroups: lbcheck-lab-n1
STATE_FILE = "lab.json"
LOG_WAIT = 10.0  # s: a ceiling for what a node logs after an event; the wait ends earlier


class LabError(Exception):
    """The lab did not reach the state asked for within its bound."""


class Failover(NamedTuple):
    fault: str
    at: float  # when the fault was injected (epoch seconds)
    ipv4: float  # client-seen outage, seconds; nan when the pair has no VIP of the family
    ipv6: float

    def outages(self) -> dict[str, float]:
        """The measured families' outages (a one-family pair has one)."""
        return {f: o for f, o in (("ipv4", self.ipv4), ("ipv6", self.ipv6))
                if not math.isnan(o)}


class Lab:
    def __init__(self, workdir: Path, check: str = "lbcheck",
                 variant: str = "keepalived.conf", haproxy: str = "standalone",
                 keepalived_root: str | None = None, profile: str = "conservative",
                 generated: Generated | None = None) -> None:
        self.workdir = workdir
        # A pair `lbcheck init` writes (tests/lab/render.py) instead of examples/: then
        # profile, check and variant are its own, and only its VIPs are looked for.
        self.generated = generated
        self.profile = profile  # conservative (examples/) | fast (examples/fast/)
        self.check = check
        self.variant = variant
        self.haproxy = haproxy  # standalone | master-worker (Debian's unit: -Ws, -S, -p)
        # Another Debian suite's keepalived (tests/support/debian_root.py), run under chroot
        # inside each node's own mount namespace: its mounts vanish with the node.
        self.keepalived_root = keepalived_root
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        saved = workdir / STATE_FILE
        self.saved: dict[str, int] = (json.loads(saved.read_text()).get("unshare", {})
                                      if saved.exists() else {})

    # -- life cycle ------------------------------------------------------------------------

    def up(self, timeout: float = 30.0) -> None:
        self.down()
        for name in PRIORITY:
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        topology.create()
        for name in PRIORITY:
            self.start_node(name)
        self._save()
        self.wait_for_master("n1", timeout)

    def configure(self, timeout: float = 30.0, **options: str | Generated | None) -> bool:
        """The pair with other options (variant, profile, check, haproxy, keepalived_root,
        generated):
        brought up afresh, as up() makes it, so one lab can serve scenarios that need
        different configurations. False, and nothing touched, when it already runs so."""
        unknown = set(options) - {"variant", "profile", "check", "haproxy", "keepalived_root",
                                  "generated"}
        if unknown:
            raise ValueError(f"cannot configure {sorted(unknown)}")
        if all(getattr(self, key) == value for key, value in options.items()):
            return False
        for key, value in options.items():
            setattr(self, key, value)
        self.up(timeout)
        return True

    def _save(self) -> None:
        self.saved = {n: p.pid for n, p in self.nodes.items()}
        (self.workdir / STATE_FILE).write_text(json.dumps(
            {"check": self.check, "variant": self.variant, "haproxy": self.haproxy,
             "keepalived_root": self.keepalived_root, "profile": self.profile,
             "generated": self.generated._asdict() if self.generated else None,
             "unshare": self.saved}))

    def start_node(self, name: str, timeout: float = 10.0) -> None:
        workdir = self.workdir / name  # kept across restarts: lbnotify's memory lives there
        (workdir / "init.ready").unlink(missing_ok=True)
        if self.generated is not None:
            files = generated_files(name, workdir, self.generated)
        else:
            files = node_files(name, workdir, PRIORITIES[self.profile][name], self.check,
                               self.variant, self.haproxy, self.keepalived_root, self.profile)
        spec = {"node": name, "dir": str(workdir), "web_ports": [8081, 8082],
                "receiver": str(RECEIVER), "receiver_port": 8099, **files}
        self.nodes[name] = subprocess.Popen(
            ["ip", "netns", "exec", host(name).netns, "unshare", "--pid", "--fork",
             "--mount-proc", "--uts", "--kill-child=SIGKILL", sys.executable,
             str(HERE / "node_init.py"), json.dumps(spec)],
            stdout=subprocess.DEVNULL, stderr=open(workdir / "init.log", "ab"),  # noqa: SIM115
            start_new_session=True)
        _wait(lambda: (workdir / "init.ready").exists() and self._haproxy_answers(name),
              timeout, f"{name} did not start: see {workdir}/init.log and services.log")

    def stop_node(self, name: str) -> None:
        """SIGKILL the node's unshare: the kernel ends every process in its PID namespace."""
        process = self.nodes.pop(name, None)
        if process is not None:
            process.kill()
            process.wait(timeout=10)
        elif name in self.saved:
            _kill(self.saved[name], signal.SIGKILL)
        for pid in self.pids(name):
            _kill(pid, signal.SIGKILL)

    def restart_node(self, name: str) -> None:
        self.stop_node(name)
        self.start_node(name)
        self._save()

    def down(self) -> None:
        """Remove everything the lab made, even if this process did not make it."""
        thaw_all()  # a frozen process does not die of SIGKILL until it is thawed
        for name in list(self.nodes):
            self.stop_node(name)
        saved = self.workdir / STATE_FILE
        if saved.exists():
            for pid in json.loads(saved.read_text()).get("unshare", {}).values():
                _kill(int(pid), signal.SIGKILL)
            saved.unlink()
        for ns in topology.ours():
            for pid in topology.run("ip", "netns", "pids", ns, check=False).stdout.split():
                _kill(int(pid), signal.SIGKILL)
        topology.destroy()

    # -- looking -----------------------------------------------------------------------------

    @property
    def vips(self) -> tuple[str, ...]:
        """The pair's VIPs: both families', or a generated one-family pair's."""
        return self.generated.vips if self.generated is not None else (VIP4, VIP6)

    def holders(self) -> dict[str, set[str]]:
        """Which node holds which of the pair's VIPs, from each node's own addresses (on any
        interface: with use_vmac keepalived puts them on its macvlan, vrrp.51)."""
        found: dict[str, set[str]] = {}
        for name in PRIORITY:
            out = netns(host(name).netns, "ip", "addr", "show", check=False).stdout
            found[name] = {vip for vip in self.vips if f" {vip}/" in out}
        return found

    def wait_for_master(self, name: str, timeout: float) -> float:
        """Seconds until ``name`` alone holds the pair's VIPs; LabError after ``timeout``."""
        started = time.monotonic()
        _wait(lambda: self.holders() == {n: (set(self.vips) if n == name else set())
                                         for n in PRIORITY},
              timeout, f"{name} did not become sole master: {self.holders()}")
        return time.monotonic() - started

    def pids(self, name: str, comm: str | None = None) -> list[int]:
        """Host pids of the processes in node ``name`` (optionally only those called comm)."""
        out = topology.run("ip", "netns", "pids", host(name).netns, check=False).stdout.split()
        pids = [int(p) for p in out]
        return [p for p in pids if comm is None or _comm(p) == comm]

    def log(self, name: str, kind: str = "lbcheck.jsonl") -> list[dict]:
        """The node's JSON-lines log, its complete lines only (a writer may be mid-line)."""
        path = self.workdir / name / kind
        if not path.exists():
            return []
        complete = path.read_text().split("\n")[:-1]
        return [json.loads(line) for line in complete if line.strip()]

    def wait_for_log(self, name: str, done: Callable[[list[dict]], bool],
                     timeout: float = LOG_WAIT, kind: str = "lbcheck.jsonl") -> list[dict]:
        """The node's log once ``done`` holds for it, or as it stands after ``timeout`` s.

        lbnotify's FIFO worker logs an event after announcing it, and the receiver records
        a page when it arrives: both may come after the VIPs have moved.
        """
        return eventually(lambda: self.log(name, kind), done, timeout)

    def ask(self, sender: str = "0.0.0.0", wait: float = 1.0, where: str = "c") -> list[dict]:
        """Who answers for the VIPs on the wire, asked from ``where`` (tests/lab/asker.py: an
        ARP request from ``sender`` — 0.0.0.0, an RFC 5227 probe, by default — and a DAD
        solicitation); one row per answer: family, mac, after (s), override (IPv6)."""
        out = netns(host(where).netns, sys.executable, str(HERE / "asker.py"), "eth0", VIP4,
                    VIP6, str(wait), sender).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def neighbour_mac(self, address: str) -> str:
        out = netns(host("c").netns, "ip", "neigh", "show", address, check=False).stdout
        words = out.split()
        return words[words.index("lladdr") + 1] if "lladdr" in words else ""

    def _haproxy_answers(self, name: str) -> bool:
        return bool(self.pids(name, "haproxy")) and bool(self.pids(name, "keepalived"))

    # -- the routine day: what operators and config management do to a healthy node ----------

    def haproxy_master(self, name: str) -> int:
        """Host pid of the master-worker master: the haproxy whose parent is not a haproxy."""
        masters = [p for p in self.pids(name, "haproxy") if _comm(_ppid(p)) != "haproxy"]
        if len(masters) != 1:
            raise LabError(f"{name}: expected one haproxy master, found {masters}")
        return masters[0]

    def reload_haproxy(self, name: str) -> int:
        """`systemctl reload haproxy` on Debian: SIGUSR2 to the master. Returns its pid."""
        if self.haproxy != "master-worker":
            raise LabError("reload needs Lab(haproxy='master-worker'): standalone has no master")
        master = self.haproxy_master(name)
        os.kill(master, signal.SIGUSR2)
        return master

    def master_cli(self, name: str, command: str, timeout: float = 2.0) -> str:
        """One command on the node's master CLI (reached through the master's own root).

        The master CLI keeps a connection open for the next command: `quit` ends it.
        """
        path = f"/proc/{self.haproxy_master(name)}/root{MASTER_SOCKET}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(f"{command};quit\n".encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def reload_keepalived(self, name: str) -> int:
        """`systemctl reload keepalived`: SIGHUP to keepalived's parent. Returns its pid."""
        parent = self.keepalived_parent(name)
        os.kill(parent, signal.SIGHUP)
        return parent

    def keepalived_parent(self, name: str) -> int:
        parents = [p for p in self.pids(name, "keepalived") if _comm(_ppid(p)) != "keepalived"]
        if len(parents) != 1:
            raise LabError(f"{name}: expected one keepalived parent, found {parents}")
        return parents[0]

    def restart_keepalived(self, name: str, timeout: float = 10.0) -> int:
        """`systemctl restart keepalived`: SIGTERM (it gives its VIPs up and sends priority
        0), wait for every keepalived process to exit, start it again through the node's init
        (SIGUSR2). Returns the new parent's pid."""
        self.stop_keepalived(name, timeout)
        return self.start_keepalived(name, timeout)

    def stop_keepalived(self, name: str, timeout: float = 10.0) -> None:
        """`systemctl stop keepalived`: SIGTERM to its parent, then wait (bounded) until no
        keepalived process is left in the node; the rest of the node runs on."""
        os.kill(self.keepalived_parent(name), signal.SIGTERM)
        _wait(lambda: not self.pids(name, "keepalived"), timeout,
              f"{name}: keepalived did not exit on SIGTERM")

    def start_keepalived(self, name: str, timeout: float = 10.0) -> int:
        """`systemctl start keepalived` after stop_keepalived: the node's init starts it
        (SIGUSR2) as it did at boot. Returns the new parent's pid."""
        _kill(self._init_pid(name), signal.SIGUSR2)
        _wait(lambda: bool(self.pids(name, "keepalived")), timeout,
              f"{name}: keepalived did not start again: see {self.workdir}/{name}/keepalived.log")
        return self.keepalived_parent(name)

    def set_priority(self, name: str, priority: int) -> int:
        """Every instance of the node's keepalived.conf at ``priority``, then a reload
        (SIGHUP), as config management changes a priority. Returns keepalived's pid."""
        path = self.workdir / name / "keepalived.conf"
        path.write_text(re.sub(r"(?m)^(\s*priority )\d+", rf"\g<1>{priority}",
                               path.read_text()))
        return self.reload_keepalived(name)

    def watcher_pids(self, name: str) -> list[int]:
        return [p for p in self.pids(name) if b"\0watch\0--track-file\0" in _cmdline(p)]

    def fifo_readers(self, name: str) -> list[int]:
        """lbnotify processes reading keepalived's notify FIFO on node ``name``."""
        return [p for p in self.pids(name)
                if b"lbnotify" in _cmdline(p) and b"\0fifo\0" in _cmdline(p)]

    def restart_watcher(self, name: str, timeout: float = 5.0) -> int:
        """`systemctl restart lbcheck-watch`: SIGTERM, wait for the exit, start it again.

        The node's init starts it (SIGUSR1), with the argv, environment and log it used at
        boot. Returns the new watcher's pid.
        """
        old = self.watcher_pids(name)
        if not old:
            raise LabError(f"{name} runs no watcher (Lab(check='watch') starts one)")
        for pid in old:
            _kill(pid, signal.SIGTERM)
        _wait(lambda: not set(old) & set(self.watcher_pids(name)), timeout,
              f"{name}: watcher {old} did not exit on SIGTERM")
        _kill(self._init_pid(name), signal.SIGUSR1)
        _wait(lambda: bool(self.watcher_pids(name)), timeout,
              f"{name}: the watcher did not start again: see {self.workdir}/{name}/services.log")
        return self.watcher_pids(name)[0]

    # -- faults ------------------------------------------------------------------------------

    def inject(self, name: str, fault: str) -> None:
        """killed | hung | frozen | zombie | backends | keepalived | keepalived-kill |
        interface — on node ``name``."""
        haproxy = self.pids(name, "haproxy")
        if fault in ("killed", "zombie"):
            self.exec(name, "touch", "/run/haproxy.norestart")  # the sitter must not restart it
        if fault == "zombie":
            sitter = [p for p in self.pids(name, "python3") + self.pids(name, "python")
                      if b"haproxy.norestart" in _cmdline(p)]
            for pid in sitter:
                _kill(pid, signal.SIGSTOP)  # a parent that does not reap
        if fault in ("killed", "zombie"):
            for pid in haproxy:
                _kill(pid, signal.SIGKILL)
        elif fault == "hung":
            for pid in haproxy:
                _kill(pid, signal.SIGSTOP)
        elif fault == "frozen":  # /proc says running (D), nothing answers: the realistic hang
            freeze(name, haproxy)
        elif fault == "backends":
            for pid in self.pids(name):
                if b"BaseHTTPRequestHandler" in _cmdline(pid):
                    _kill(pid, signal.SIGKILL)
        elif fault == "keepalived":  # stopped, as `systemctl stop keepalived` does it
            # (SIGKILL would leave the VIPs configured on this node while the peer takes
            # over: both hold them. Measured in this lab; a crash needs a cleanup hook.)
            for pid in self.pids(name, "keepalived"):
                _kill(pid, signal.SIGTERM)
        elif fault == "keepalived-kill":  # the OOM killer: no chance to clean up
            for pid in self.pids(name, "keepalived"):
                _kill(pid, signal.SIGKILL)
        elif fault == "interface":  # the node is gone, as far as its peer and clients can tell
            netns(host(name).netns, "ip", "link", "set", "eth0", "down")
        else:
            raise LabError(f"unknown fault {fault!r}")

    def start_haproxy(self, name: str, timeout: float = 5.0) -> None:
        """haproxy back after the "killed" fault, as systemd's Restart= would bring it: the
        node's sitter restarts it once /run/haproxy.norestart is gone (bounded wait)."""
        self.exec(name, "rm", "-f", "/run/haproxy.norestart")
        _wait(lambda: bool(self.pids(name, "haproxy")), timeout,
              f"{name}: haproxy did not start again: see {self.workdir}/{name}/services.log")

    def exec(self, name: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the node's PID + mount + network namespaces."""
        init = self._init_pid(name)
        return subprocess.run(["nsenter", "-t", str(init), "-p", "-m", "-n", *argv],
                              capture_output=True, text=True, timeout=20, check=False)

    def status(self, name: str, *args: str, timeout: float = 20.0
               ) -> subprocess.CompletedProcess[str]:
        """`lbcheck status ARGS` run inside node ``name`` as an operator on it would: in its
        PID, mount, network and UTS namespaces, with the node's LBCHECK_CONFIG (what
        node_init gives its services), this checkout's lbcheck by absolute path (the node
        has no PATH entry of its own for it). ``timeout`` bounds it (TimeoutExpired)."""
        config = self.workdir / name / "lbcheck.toml"
        return subprocess.run(["nsenter", "-t", str(self._init_pid(name)), "-p", "-m", "-n",
                               "-u", "env", f"LBCHECK_CONFIG={config}", str(BIN / "lbcheck"),
                               "status", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def _init_pid(self, name: str) -> int:
        process = self.nodes.get(name)
        parent = process.pid if process is not None else self.saved.get(name)
        for pid in self.pids(name):
            if _ppid(pid) == parent:
                return pid
        raise LabError(f"{name} has no init")

    # -- measuring -----------------------------------------------------------------------------

    def measure(self, fault: str, timeout: float = 15.0) -> Failover:
        """Break n1 while the client polls; the client-seen outage per family.

        An outage is ``inf`` when the VIPs never moved within ``timeout`` (the `killall -0`
        baseline with a hung or zombie haproxy), ``nan`` for a family the pair has no VIP of.
        """
        self.wait_for_master("n1", 25)
        process, out = self.poll(timeout + 10)
        # A random moment within keepalived's 1 s script interval: a fixed one would measure
        # the phase between our injection and keepalived's schedule, not the check.
        time.sleep(1.5 + random.random())
        at = time.time()
        self.inject("n1", fault)
        moved = True
        try:
            self.wait_for_master("n2", timeout)
            time.sleep(1.0)
        except LabError:
            moved = False
        finally:
            rows = stop_poll(process, out)
        polled = {"ipv4": VIP4, "ipv6": VIP6}
        found = {family: (outage(rows, family, at) if moved else float("inf"))
                 if vip in self.vips else float("nan") for family, vip in polled.items()}
        return Failover(fault, at, found["ipv4"], found["ipv6"])

    def recover(self, fault: str) -> None:
        """Undo ``fault`` on n1 and wait for it to take the VIPs back (preempt)."""
        if fault == "hung":
            for pid in self.pids("n1", "haproxy"):
                _kill(pid, signal.SIGCONT)
        elif fault == "frozen":
            thaw_all()
        elif fault == "interface":
            self.exec("n1", "ip", "link", "set", "eth0", "up")
            # The kernel flushed n1's own IPv6 address with the link (keep_addr_on_down is
            # 0); the host's network configuration gives it back, as this does: a pair
            # advertising over IPv6 from it (unicast_src_ip) needs it.
            n1 = host("n1")
            self.exec("n1", "ip", "addr", "replace", f"{n1.v6}/64", "dev", "eth0", "nodad")
        else:
            self.restart_node("n1")
        self.wait_for_master("n1", 25)

    # -- the client ----------------------------------------------------------------------------

    def poll(self, duration: float) -> tuple[subprocess.Popen[bytes], Path]:
        """Start the client's open-loop poller (a GET every 20 ms per VIP) for ``duration`` s;
        a family the pair has no VIP of is not polled ("-")."""
        out = self.workdir / f"poll-{time.time_ns()}.jsonl"
        v4, v6 = (vip if vip in self.vips else poller.NONE for vip in (VIP4, VIP6))
        process = subprocess.Popen(["ip", "netns", "exec", host("c").netns, sys.executable,
                                    str(HERE / "poller.py"), v4, v6, str(duration),
                                    str(out)], cwd="/")
        return process, out


def stop_poll(process: subprocess.Popen[bytes], out: Path) -> list[dict]:
    """Stop the poller (it writes what it saw) and return its rows."""
    process.terminate()
    process.wait(timeout=10)
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def outage(rows: list[dict], family: str, fault_at: float) -> float:
    """The longest gap between two successful answers that spans or follows the fault.

    Answers, not starts: with the open-loop poller a request started before the VIPs moved can
    still succeed long after (a retransmitted SYN); by its start it would hide the outage.
    """
    times = sorted(r["done"] for r in rows if r["family"] == family and r["ok"])
    after = [t for t in times if t > fault_at]
    if not after:
        return float("inf")
    before = [t for t in times if t <= fault_at]
    points = ([before[-1]] if before else [fault_at]) + after
    return max((b - a for a, b in pairwise(points)), default=0.0)


def freeze(name: str, pids: list[int]) -> None:
    """Freeze ``pids`` in the cgroup-v1 freezer group of node ``name`` until thaw_all()."""
    from tests.support.freezer import FREEZER, available, wait_state

    if reason := available():
        raise LabError(f"cannot freeze: {reason}")
    group = FREEZER / f"{FREEZER_PREFIX}{name}"
    group.mkdir(exist_ok=True)
    for pid in pids:
        (group / "cgroup.procs").write_text(f"{pid}\n")
    (group / "freezer.state").write_text("FROZEN\n")
    wait_state(group, "FROZEN", 5.0)


def thaw_all() -> None:
    """Thaw and remove every freezer group the lab made (tests/support/freezer.py's release)."""
    from tests.support.freezer import FREEZER, release

    for group in sorted(FREEZER.glob(f"{FREEZER_PREFIX}*")):
        release(group, 5.0)


def _wait(predicate, timeout: float, message: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise LabError(message)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
