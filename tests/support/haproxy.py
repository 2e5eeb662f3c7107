"""A real, throw-away haproxy in a temp dir: stats socket, a frontend, a backend.

Used by the integration tests, `bin/demo` and `bin/bench`, so all three exercise the same
haproxy the same way. Everything it starts is stopped by :meth:`Haproxy.stop`, which the
callers run in ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

HAPROXY = "haproxy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Haproxy:
    """One haproxy process (or master + worker with ``master_worker=True``) under ``workdir``."""

    def __init__(self, workdir: Path, servers: list[int], backups: list[int] | None = None,
                 master_worker: bool = False, check_inter_ms: int = 200,
                 debian_unit: bool = False, expose_fd: bool = True,
                 extra_backends: int = 0, servers_per_backend: int = 5,
                 root: Path | None = None) -> None:
        # root: run another Debian suite's haproxy (tests/support/debian_root.py) as `chroot
        # ROOT`, the workdir bind-mounted at the same path inside ROOT until stop(), so
        # sockets, pidfile and config keep their host paths and /proc shows the processes.
        self.root = root
        self._mounts: ExitStack | None = None
        self.workdir = workdir
        self.socket = str(workdir / "admin.sock")
        self.master_socket = str(workdir / "master.sock")
        self.pidfile = str(workdir / "haproxy.pid")
        self.config = workdir / "haproxy.cfg"
        self.port = free_port()
        # debian_unit: started as Debian's haproxy.service starts it (`-Ws -p PIDFILE -S
        # MASTER_SOCKET`, master-worker, reloaded with SIGUSR2), stats socket with
        # `expose-fd listeners` as Debian's default haproxy.cfg has it (unless expose_fd=False).
        self.debian_unit = debian_unit
        self.expose_fd = expose_fd
        self.master_worker = master_worker or debian_unit
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_backends = extra_backends  # be1…beN of servers_per_backend: bin/bench scale
        self.servers_per_backend = servers_per_backend
        self.config.write_text(self.render(servers, backups or [], check_inter_ms))

    def render(self, servers: list[int], backups: list[int], inter: int) -> str:
        expose = " expose-fd listeners" if self.debian_unit and self.expose_fd else ""
        lines = ["global", f"    stats socket {self.socket} mode 600 level admin{expose}"]
        if not self.debian_unit:  # the unit passes -p instead
            lines.append(f"    pidfile {self.pidfile}")
        if self.master_worker and not self.debian_unit:
            lines.append("    master-worker no-exit-on-failure")
        lines += [
            "defaults",
            "    mode http",
            "    timeout connect 1s",
            "    timeout client 5s",
            "    timeout server 5s",
            "frontend web",
            f"    bind 127.0.0.1:{self.port}",
            "    default_backend app",
            "backend app",
        ]
        lines += [f"    server web{i} 127.0.0.1:{p} check inter {inter}"
                  for i, p in enumerate(servers, 1)]
        lines += [f"    server spare{i} 127.0.0.1:{p} check inter {inter} backup"
                  for i, p in enumerate(backups, 1)]
        for b in range(1, self.extra_backends + 1):  # no `check`: 20,000 would load the box
            lines.append(f"backend be{b}")
            lines += [f"    server s{i} 127.0.0.1:{servers[0] if servers else 9}"
                      for i in range(1, self.servers_per_backend + 1)]
        return "\n".join(lines) + "\n"

    def argv(self) -> list[str]:
        if self.debian_unit:
            argv = [HAPROXY, "-Ws", "-f", str(self.config), "-p", self.pidfile,
                    "-S", self.master_socket]
        else:
            argv = [HAPROXY, "-db", "-f", str(self.config)]
        if self.master_worker and not self.debian_unit:
            argv[1:1] = ["-W", "-S", self.master_socket]
        if self.root is not None:  # chroot execs haproxy: its pid is haproxy's pid
            argv = ["chroot", str(self.root), "/usr/sbin/haproxy", *argv[1:]]
        return argv

    def start(self, timeout: float = 5.0) -> Haproxy:
        if self.root is not None and self._mounts is None:
            from tests.support.debian_root import chroot_mounts

            self._mounts = ExitStack()
            self._mounts.enter_context(chroot_mounts(self.root, self.workdir))
        log = open(self.workdir / "haproxy.log", "ab")  # noqa: SIM115 - closed by the child
        self.process = subprocess.Popen(self.argv(), stdout=log, stderr=log,
                                        start_new_session=True)
        log.close()
        if not self.master_worker:  # a foreground standalone haproxy writes no pidfile
            Path(self.pidfile).write_text(f"{self.process.pid}\n")
        self.wait_until_answering(timeout)
        return self

    def wait_until_answering(self, timeout: float) -> None:
        """Bounded wait for `show info` to answer (and, in master-worker, for the worker)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log_tail()}")
            if self.query("show info").startswith("Name:") and (
                not self.master_worker or self.workers()
            ):
                return
            time.sleep(0.02)
        raise RuntimeError(f"haproxy did not answer within {timeout} s: {self.log_tail()}")

    def query(self, command: str, path: str | None = None) -> str:
        """One command on the stats socket; empty string when it cannot be reached."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                sock.connect(path or self.socket)
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                    if path == self.master_socket and b"\n\n" in b"".join(chunks):
                        break
                return b"".join(chunks).decode()
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def workers(self) -> list[int]:
        """The master's current worker pids, read from /proc (children named haproxy)."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as fh:
                        stat = fh.read()
                except OSError:
                    continue
                fields = stat.rpartition(b")")[2].split()
                if b"(haproxy)" in stat and int(fields[1]) == self.pid and fields[0] != b"Z":
                    found.append(int(entry))
        return found

    def reload(self) -> None:
        """What `systemctl reload haproxy` does: SIGUSR2 to the master."""
        self.signal(signal.SIGUSR2)

    def signal(self, signum: int, pid: int | None = None) -> None:
        os.kill(pid or self.pid, signum)

    def log_tail(self) -> str:
        try:
            return (self.workdir / "haproxy.log").read_text()[-400:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the whole process group (master, workers) and reap; safe to call twice."""
        if self.process is None:
            self.unmount()
            return
        try:
            os.killpg(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.process = None
        self.unmount()

    def unmount(self) -> None:
        """Undo start()'s mounts into ``root`` (stop() does it; also after a failed start)."""
        if self._mounts is not None:
            mounts, self._mounts = self._mounts, None
            mounts.close()
