"""Which running keepalived to ask, and where it writes its dumps.

A host may run more than one keepalived (a container, the lab's two nodes, ``instance``s),
and every one of them writes ``keepalived.data`` into *its* temporary directory. So the
daemon is found first — its pidfile, else the only keepalived in our network namespace, else
the only one in our PID namespace — and the dump paths are derived from what that process
was started with (``-f``, ``-s``, ``TMPDIR``) and its config (``instance``,
``net_namespace``, ``state_dump_file``, ``data_use_instance``), exactly as keepalived's
``open_dump_file`` derives them. The path is then read through ``/proc/PID/root``: a
keepalived with a private /tmp (systemd's PrivateTmp, a chroot, a container) writes where
only that view sees it, and another keepalived's /tmp is never ours by accident.

Only processes :func:`lbcheck.procs.distrust` believes count: a ``nobody`` process renamed
keepalived must not be signalled or believed by a root tool.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from lbcheck import procs

PIDFILE = "/run/keepalived.pid"  # Debian's keepalived.service (-p default)
DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
DEFAULT_TMP = "/tmp"  # keepalived's KA_TMP_DIR
ENVIRON_LIMIT = 256 * 1024
DATA_SIGNAL = signal.SIGUSR1  # keepalived --signum=DATA (lib/signals.c, 2.0 – 2.4)
JSON_SIGNAL = signal.SIGRTMIN + 2  # --signum=JSON: SIGJSON = SIGRTMIN + 2 (lib/signals.h)


class NoDaemon(Exception):
    """No keepalived to ask, or more than one and nothing says which: one line why."""


@dataclass(frozen=True)
class Daemon:
    """A running keepalived (its parent process) and what it was started with."""

    pid: int
    config_path: str
    tmp_dir: str  # as keepalived resolved it: $TMPDIR when that is a directory, else /tmp
    namespace: str | None  # -s / --namespace (overrides the config's net_namespace)

    @property
    def root(self) -> str:
        """Where this daemon's files are seen from here (its mount namespace and root)."""
        return f"/proc/{self.pid}/root"

    def seen(self, path: str) -> str:
        """``path`` as this daemon sees it, from here."""
        return self.root + path if path.startswith("/") else f"{self.root}/{path}"


def running() -> list[int]:
    """Pids of live keepalived processes we may believe, in this PID namespace.

    keepalived runs as root: a process merely called keepalived counts only when
    :func:`lbcheck.procs.distrust` believes it (root's, a root-owned executable in root-owned
    directories). A zombie is not running.
    """
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = procs.read_proc_file(entry, "stat", procs.STAT_LIMIT) or b""
            head, _, tail = stat.rpartition(b")")
            alive = tail.split()[:1] not in ([b"Z"], [b"X"])
            if (alive and head.partition(b"(")[2] == b"keepalived"
                    and procs.distrust(int(entry)) is None):
                found.append(int(entry))
    return found


def _parent_of(pid: int) -> int | None:
    stat = procs.read_proc_file(pid, "stat", procs.STAT_LIMIT) or b""
    fields = stat.rpartition(b")")[2].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def _parents(pids: list[int]) -> list[int]:
    """keepalived's parent processes: those whose parent is not a keepalived too (the VRRP
    and checker children are forked by the parent)."""
    known = set(pids)
    return [pid for pid in pids if _parent_of(pid) not in known]


def find(pidfile: str | None = None) -> int:
    """The pid of the keepalived to ask (its parent process); :class:`NoDaemon` otherwise.

    ``pidfile`` given: that one, or nothing. Else Debian's pidfile when it names a believed
    keepalived of our network namespace, else the only keepalived parent in our network
    namespace, else the only one at all (a keepalived started with ``-s`` moved itself out).
    """
    parents = _parents(running())
    if pidfile is not None:
        return _from_pidfile(pidfile, parents, required=True)
    try:
        chosen = _from_pidfile(PIDFILE, parents, required=False)
    except NoDaemon:
        chosen = 0
    if chosen and procs.shares_namespace(chosen, "net"):
        return chosen
    here = [pid for pid in parents if procs.shares_namespace(pid, "net")]
    for candidates in (here, parents):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            listed = ", ".join(str(p) for p in sorted(candidates))
            raise NoDaemon(f"{len(candidates)} keepalived processes here (pids {listed}): "
                           "name one with --pidfile")
    raise NoDaemon("keepalived is not running" + (
        "" if os.geteuid() == 0 else " (or not visible to this user: run as root)"))


def _from_pidfile(path: str, parents: list[int], required: bool) -> int:
    try:
        pids, _ = procs.read_pidfile(path)
    except FileNotFoundError:
        raise NoDaemon(f"keepalived is not running (no pidfile {path})") from None
    except procs.Untrusted as exc:
        raise NoDaemon(str(exc)) from None
    except OSError as exc:
        raise NoDaemon(f"cannot read pidfile {path}: {exc.strerror}") from None
    believed = [pid for pid in pids if pid in parents]
    if believed:
        return believed[0]
    if required and pids:
        raise NoDaemon(f"pidfile {path} names pid {pids[0]}, which is not a running "
                       "keepalived we may believe")
    raise NoDaemon(f"keepalived is not running (pidfile {path} is stale)")


def describe(pid: int) -> Daemon:
    """What keepalived ``pid`` was started with: config file, -s and its TMPDIR."""
    argv = [a.decode(errors="replace") for a in procs.cmdline(pid)]
    config = _option(argv, "-f", "--use-file") or DEFAULT_CONFIG
    namespace = _option(argv, "-s", "--namespace")
    tmp_dir = _environ(pid).get("TMPDIR") or DEFAULT_TMP
    if not os.path.isdir(f"/proc/{pid}/root{tmp_dir}"):
        tmp_dir = DEFAULT_TMP  # keepalived falls back the same way (set_tmp_dir)
    return Daemon(pid, config, tmp_dir.rstrip("/") or "/", namespace)


def _option(argv: list[str], short: str, long: str) -> str | None:
    """The value of ``-x VALUE``, ``-xVALUE``, ``--long=VALUE`` or ``--long VALUE``."""
    value = None
    for i, arg in enumerate(argv[1:], start=1):
        if arg in (long, short):
            value = argv[i + 1] if i + 1 < len(argv) else None
        elif arg.startswith(long + "="):
            value = arg[len(long) + 1:]
        elif arg.startswith(short) and not arg.startswith("--"):
            value = arg[len(short):]
    return value


def _environ(pid: int) -> dict[str, str]:
    raw = procs.read_proc_file(pid, "environ", ENVIRON_LIMIT) or b""
    found = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            found[key.decode(errors="replace")] = value.decode(errors="replace")
    return found


@dataclass(frozen=True)
class DumpPaths:
    """Where this daemon writes its dumps, as it names them (not yet seen through its root)."""

    data: str
    json: str


def dump_paths(daemon: Daemon, *, state_dump_file: str | None = None,
               data_use_instance: bool = False, net_namespace: str | None = None,
               instance: str | None = None) -> DumpPaths:
    """keepalived's ``open_dump_file("")`` for the .data dump and ``make_tmp_filename`` for
    the JSON dump (``json_dump_file`` is parsed but not used by keepalived up to 2.4:
    vrrp_json.c writes ``TMP/keepalived.json`` whatever it says)."""
    tmp = daemon.tmp_dir
    if state_dump_file and state_dump_file.startswith("/"):
        directory = state_dump_file if state_dump_file.endswith("/") \
            else state_dump_file.rpartition("/")[0]
        directory = directory.rstrip("/")
    else:
        directory = tmp
    if state_dump_file and not state_dump_file.endswith("/"):
        name = state_dump_file.rpartition("/")[2]
    else:
        name = "keepalived.data"
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    namespace = daemon.namespace or net_namespace
    suffix = ""
    if data_use_instance and (instance or namespace):
        suffix = "." + (namespace or "") + ("_" if instance and namespace else "") \
            + (instance or "")
    data = f"{directory}/{stem}{suffix}" + (f".{extension}" if dot else "")
    return DumpPaths(data, f"{tmp}/keepalived.json")
