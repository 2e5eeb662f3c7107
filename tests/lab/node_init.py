"""PID 1 of a lab node: its own /run, its services, and the orphan reaping an init owes.

Runs inside `ip netns exec NODE unshare --pid --fork --mount-proc`, as root, stdlib only.
It mounts a private /run (so keepalived, haproxy and lbcheck use their Debian default paths
without colliding with the other node), starts two web servers, the paging receiver, haproxy
under a "sitter" parent, and keepalived, then reaps every orphan forever. PID 1 ignores
SIGTERM from outside its namespace: the lab takes a node down with SIGKILL.

The sitter exists for the zombie scenario: haproxy's parent is the sitter, not init, so
SIGSTOPping the sitter and killing haproxy leaves a zombie nobody reaps — as on a host
whose supervisor does not reap. It restarts haproxy when it exits (systemd's Restart=always).
haproxy runs one of two ways (spec "haproxy"):

- "standalone": `haproxy -db`; the sitter writes /run/haproxy.pid (haproxy writes none).
- "master-worker": as Debian's unit runs it, `haproxy -Ws -f CFG -p /run/haproxy.pid -S
  /run/haproxy-master.sock`; haproxy writes its pidfile itself (the master's pid, rewritten on
  every reload) and SIGUSR2 to the master reloads it, as `systemctl reload haproxy` does.

SIGUSR1 to this init starts the watcher again, with the very code, argv, environment and log
it started with at boot: the second half of `systemctl restart lbcheck-watch` (the lab sends
the SIGTERM first). SIGUSR2 does the same for keepalived (`systemctl restart keepalived`).
PID 1 only receives signals it has a handler for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import BinaryIO

WEB = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
node, port = sys.argv[1], int(sys.argv[2])
class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{node}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", port), Hello).serve_forever()
"""


SITTER = r"""
import os, signal, subprocess, sys, time
cfg, mode = sys.argv[1], sys.argv[2]
argv = {"standalone": ["haproxy", "-db", "-f", cfg],
        "master-worker": ["haproxy", "-Ws", "-f", cfg, "-p", "/run/haproxy.pid",
                          "-S", "/run/haproxy-master.sock"]}[mode]
while True:
    p = subprocess.Popen(argv)
    if mode == "standalone":
        with open("/run/haproxy.pid", "w") as fh:
            fh.write(f"{p.pid}\n")
    p.wait()
    if os.path.exists("/run/haproxy.norestart"):
        while os.path.exists("/run/haproxy.norestart"):
            time.sleep(0.1)
    time.sleep(0.2)
"""


def start_watcher(command: str, log: BinaryIO, env: dict[str, str]) -> None:
    """Start `lbcheck watch` as this node's unit does; at boot and again on SIGUSR1."""
    subprocess.Popen(command.split(), stdout=log, stderr=log, env=env)


def enter_root(root: str, workdir: str) -> list[str]:
    """Prepare ``root`` for keepalived, in this node's private mount namespace only: its /run
    (track file, notify FIFO, pid files) and workdir (keepalived.conf) at the same paths inside,
    a /proc of its own. Mounts in this namespace end with the node: nothing to undo."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)  # never leak to the host
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", f"{root}/tmp"], check=True)
    inside = f"{root}{workdir}"
    os.makedirs(inside, exist_ok=True)  # under the root's /tmp: in the tmpfs just mounted
    subprocess.run(["mount", "--bind", workdir, inside], check=True)
    subprocess.run(["mount", "--bind", "/run", f"{root}/run"], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", f"{root}/proc"], check=True)
    return [root]


def start_keepalived(argv: list[str], workdir: str, env: dict[str, str]
                     ) -> subprocess.Popen[bytes]:
    """keepalived in the foreground, logging to the node's keepalived.log; at boot and again
    on SIGUSR2."""
    log = open(os.path.join(workdir, "keepalived.log"), "ab")  # noqa: SIM115
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def start_fifo_reader(command: str, log: BinaryIO, env: dict[str, str],
                      timeout: float = 10.0) -> None:
    """`lbnotify fifo PATH` once keepalived has made the FIFO (bounded wait)."""
    path = command.split()[-1]
    end = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)
    subprocess.Popen(command.split(), stdout=log, stderr=log, env=env)


def main() -> int:
    spec = json.loads(sys.argv[1])
    node, workdir = spec["node"], spec["dir"]
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    subprocess.run(["hostname", node], check=True)  # own UTS namespace: pages name the node
    os.makedirs("/run/haproxy", exist_ok=True)
    os.makedirs("/run/keepalived", exist_ok=True)
    if spec.get("haproxy_down"):
        open("/run/haproxy.norestart", "w").close()
    log = open(os.path.join(workdir, "services.log"), "ab")  # noqa: SIM115 - lives with init
    for port in spec["web_ports"]:  # processes, so a scenario can take the backends down
        subprocess.Popen([sys.executable, "-c", WEB, node, str(port)], stdout=log, stderr=log)
    env = {**os.environ, "LBCHECK_CONFIG": spec["lbcheck_config"]}
    subprocess.Popen([sys.executable, spec["receiver"], "--port", str(spec["receiver_port"]),
                      "--record", os.path.join(workdir, "pages.jsonl")], stdout=log, stderr=log,
                     env=env)
    subprocess.Popen([sys.executable, "-c", SITTER, spec["haproxy_cfg"],
                      spec.get("haproxy", "standalone")], stdout=log, stderr=log)
    if spec.get("watch"):  # the watcher starts before keepalived, as the unit orders it
        os.makedirs("/run/lbcheck", exist_ok=True)
        signal.signal(signal.SIGUSR1, lambda *_: start_watcher(spec["watch"], log, env))
        start_watcher(spec["watch"], log, env)
        time.sleep(0.5)
    keepalived = ["keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                  "-f", spec["keepalived_conf"]]
    if spec.get("keepalived_root"):
        keepalived = ["chroot", *enter_root(spec["keepalived_root"], workdir), *keepalived]
    started = [start_keepalived(keepalived, workdir, env)]  # the one running now: last
    signal.signal(signal.SIGUSR2,
                  lambda *_: started.append(start_keepalived(keepalived, workdir, env)))
    if spec.get("fifo_reader"):  # keepalived in a root cannot exec our lbnotify: start it here
        start_fifo_reader(spec["fifo_reader"], log, env)
    with open(os.path.join(workdir, "init.ready"), "w") as fh:
        fh.write(f"{os.getpid()}\n")
    stop_post = spec.get("keepalived_stop_post")
    while True:  # reap orphans forever, as an init must
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.5)
            continue
        if pid == started[-1].pid and stop_post:  # systemd's ExecStopPost, however it ended
            subprocess.Popen(stop_post.split(), stdout=log, stderr=log, env=env)


if __name__ == "__main__":
    sys.exit(main())
