"""Is haproxy really running? Read from /proc, because `killall -0` is not enough.

`killall -0` succeeds for a zombie (dead, not yet reaped) and for a SIGSTOPped process; both
serve nothing. We read each process's state letter from /proc/PID/stat, and in master-worker
mode we also require the master to have at least one live worker child.

A name (or a pid in a pidfile) is only a candidate: lbcheck.procs says which candidates may be
believed (root's or the ``haproxy`` user's, running a root-owned executable; a worker forked
by a believed master), and the others are named in the reason as ignored, never trusted. A
``nobody`` process renamed ``haproxy`` does not make a dead haproxy look alive.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from lbcheck import procs
from lbcheck.outcome import ProbeError, Sample, State

# /proc/PID/stat state letters that mean "not serving anything".
_DEAD_STATES = {"Z": "a zombie (exited, parent has not reaped it)", "X": "dead"}
_STOPPED_STATES = {"T": "stopped (SIGSTOP: hung)", "t": "stopped by a debugger (traced)"}


class Proc(NamedTuple):
    pid: int
    ppid: int
    name: str
    state: str

    @property
    def alive(self) -> bool:
        return self.state not in _DEAD_STATES and self.state not in _STOPPED_STATES


def read_proc(pid: int) -> Proc | None:
    """One process from /proc/PID/stat, or None when it is gone (or was never there)."""
    raw = _read_stat(pid)
    return None if raw is None else _parse_stat(pid, raw)


def scan(name: str | None = None) -> list[Proc]:
    """Every process (or every one called ``name``), read once from /proc.

    This runs every second over every process on the box, so it uses raw ``os.open``/``read``
    (2.5x cheaper than ``open()``, measured) and only parses the lines whose name matches.
    Anyone can call a process anything: callers believe a match only through lbcheck.procs.
    """
    comm = None if name is None else _comm(name)
    wanted = None if comm is None else b"(" + comm + b")"
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            raw = _read_stat(int(entry))
            if raw is not None and (wanted is None or wanted in raw):
                proc = _parse_stat(int(entry), raw)
                if comm is None or _comm(proc.name) == comm:
                    procs.append(proc)
    return procs


def _comm(name: str) -> bytes:
    """What the kernel keeps of a name: its first 15 bytes (a non-UTF-8 argv byte included)."""
    return os.fsencode(name)[:15]


def _read_stat(pid: int) -> bytes | None:
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        return os.read(fd, 4096)
    except ProcessLookupError:  # exited between open and read
        return None
    finally:
        os.close(fd)


def _parse_stat(pid: int, raw: bytes) -> Proc:
    # The name sits in parentheses and may itself contain spaces or parentheses.
    head, _, tail = raw.rpartition(b")")
    name = os.fsdecode(head.partition(b"(")[2])
    fields = tail.split()
    return Proc(pid=pid, ppid=int(fields[1]), name=name, state=fields[0].decode())


def read_pidfile(path: str, service: str | None = "haproxy") -> list[int]:
    """The pids in a pidfile; HAProxy writes one per line (the master's in master-worker)."""
    return _read_pidfile(path, service)[0]


def _read_pidfile(path: str, service: str | None) -> tuple[list[int], int]:
    """The pids and the owner of a pidfile only root (or the service user) could have written:
    bounded, no symlink, FIFO or device (procs.read_pidfile)."""
    try:
        pids, owner = procs.read_pidfile(path, service)
    except FileNotFoundError:
        raise ProbeError(State.CRITICAL, f"pidfile {path} does not exist: haproxy is not "
                         "running", transient=True) from None  # re-created on each reload
    except procs.Untrusted as exc:
        raise ProbeError(State.UNKNOWN, str(exc)) from None
    except PermissionError:
        raise ProbeError(State.UNKNOWN, f"permission denied reading pidfile {path}") from None
    except OSError as exc:
        raise ProbeError(State.UNKNOWN, f"cannot read pidfile {path}: {exc.strerror}") from None
    if not pids:
        raise ProbeError(State.UNKNOWN, f"pidfile {path} holds no pid",
                         transient=True)  # read between haproxy's truncate and write
    return pids, owner


_MASTER_FLAGS = (b"-W", b"-Ws", b"-S")  # -S (master CLI) exists only in master-worker mode


def is_master(pid: int) -> bool:
    """A master-worker master, by its command line: -W/-Ws, or -S (the master CLI).

    Never by reading the config its ``-f`` names: that path is the process owner's choice
    (``-f /dev/zero`` OOM-killed the watcher). ``master-worker`` set only in the config is
    still recognised by its worker children (see :func:`collect`).
    """
    return any(arg in _MASTER_FLAGS for arg in procs.cmdline(pid))


class ProcessReport(NamedTuple):
    """What /proc said: the processes we were asked about, and every haproxy seen."""

    name: str
    roots: tuple[Proc, ...]  # the pidfile's processes, or every process named ``name``
    named: tuple[Proc, ...]  # every process named ``name`` (to find worker children)
    masters: frozenset[int]
    source: str  # "pidfile PATH" or "name NAME"
    refused: tuple[str, ...] = ()  # "pid N (why)": named so, but not to be believed


def collect(name: str = "haproxy", pidfile: str | None = None) -> ProcessReport:
    """The processes to judge, believed only as lbcheck.procs allows (the service user is the
    account named like the process, Debian's ``haproxy``)."""
    refused: list[str] = []
    if pidfile is not None:
        listed, owner = _read_pidfile(pidfile, name)
        found = [p for pid in listed if (p := read_proc(pid)) is not None]
        roots = tuple(_believed(found, name, refused, frozenset({owner})))
        if not roots:
            why = f" ({'; '.join(refused)})" if refused else ""
            raise ProbeError(State.CRITICAL, f"no process with the pid in {pidfile}{why}: "
                             "haproxy is not running")
        masters = frozenset(p.pid for p in roots if p.alive and (
            is_master(p.pid) or _has_named_child(p.pid, name)))
        named = workers_of(masters, name)
        return ProcessReport(name, roots, named, masters, f"pidfile {pidfile}", tuple(refused))
    everyone = tuple(scan(name))
    # Workers are children of a master of the same name: judge the topmost ones, and their
    # children only as forked by a believed master (same executable).
    pids = {p.pid for p in everyone}
    roots = tuple(_believed([p for p in everyone if p.ppid not in pids], name, refused))
    believed = {p.pid for p in roots}
    named = roots + tuple(p for p in everyone if p.ppid in believed
                          and procs.is_child_of(p.pid, p.ppid))
    masters = frozenset(
        p.pid for p in roots if p.alive and (_has_children(p, named) or is_master(p.pid))
    )
    return ProcessReport(name, roots, named, masters, f"name {name}", tuple(refused))


def _believed(found: list[Proc], name: str, refused: list[str],
              vouched: frozenset[int] = frozenset()) -> list[Proc]:
    """``found`` minus what another user could have started (lbcheck.procs.distrust)."""
    kept = []
    for proc in found:
        why = procs.distrust(proc.pid, service=name, extra=vouched)
        if why is None:
            kept.append(proc)
        else:
            refused.append(f"pid {proc.pid} ({why})")
    return kept


def _has_named_child(pid: int, name: str) -> bool:
    """A worker of ``pid`` is alive or a zombie now: /proc/PID/task/PID/children, bounded."""
    raw = procs.read_proc_file(pid, f"task/{pid}/children", 4096) or b""
    return any((child := read_proc(int(word))) is not None and _comm(child.name) == _comm(name)
               for word in raw.split() if word.isdigit())


_known_workers: dict[int, tuple[int, ...]] = {}  # master pid → its workers, last time we looked


def workers_of(masters: frozenset[int], name: str) -> tuple[Proc, ...]:
    """The masters' children called ``name``.

    Scanning all of /proc is most of a check's cost (measured: ~70 % of a watcher cycle), so
    a long-running caller first re-reads the workers it found last time and rescans only when
    one of them is gone or no longer the master's child.
    """
    if not masters:
        return ()
    cached = [pid for master in masters for pid in _known_workers.get(master, ())]
    if cached:
        again = [read_proc(pid) for pid in cached]
        # A worker that exited (a zombie until its master reaps it) may have been replaced by
        # a new one during a reload: only live, still-adopted workers spare the rescan.
        if all(p is not None and p.alive and p.ppid in masters and _comm(p.name) == _comm(name)
               for p in again):
            return tuple(p for p in again if p is not None)
    found = tuple(p for p in scan(name)
                  if p.ppid in masters and procs.is_child_of(p.pid, p.ppid))
    _known_workers.clear()
    for master in masters:
        _known_workers[master] = tuple(p.pid for p in found if p.ppid == master)
    return found


def _has_children(parent: Proc, procs: tuple[Proc, ...]) -> bool:
    return any(p.ppid == parent.pid for p in procs)


def judge(report: ProcessReport) -> Sample:
    """Healthy when at least one process (or master with a live worker) serves. Pure.

    A master with no live worker raises a transient error instead of judging: between an old
    worker exiting and the master reaping it, a reload under load can look like that for a
    moment. The caller looks again briefly; a worker that really died stays dead.
    """
    ignored = f" (ignored: {'; '.join(report.refused)})" if report.refused else ""
    if not report.roots:
        return Sample("process", State.CRITICAL,
                      f"no process named {report.name} is running{ignored}")
    problems: list[str] = []
    serving: list[str] = []
    between_workers = False  # a master whose worker exited and whose next may not be up yet
    for proc in report.roots:
        if proc.state in _DEAD_STATES:
            problems.append(f"pid {proc.pid} is {_DEAD_STATES[proc.state]} (parent {proc.ppid})")
        elif proc.state in _STOPPED_STATES:
            problems.append(f"pid {proc.pid} is {_STOPPED_STATES[proc.state]}")
        elif proc.pid in report.masters:
            workers = [p for p in report.named if p.ppid == proc.pid]
            live = [p for p in workers if p.alive]
            if live:
                serving.append(f"master {proc.pid} with worker(s) {_pids(live)}")
            elif workers:
                states = ", ".join(f"{p.pid} {p.state}" for p in workers)
                problems.append(f"master {proc.pid} has no live worker ({states})")
                between_workers |= all(p.state in _DEAD_STATES for p in workers)  # not hung
            else:
                problems.append(f"master {proc.pid} has no worker (did the worker die?)")
                between_workers = True
        else:
            serving.append(f"pid {proc.pid}")
    details = tuple(problems) + tuple(f"ignored {why}" for why in report.refused)
    if serving:
        state = State.WARN if problems else State.OK
        reason = f"running ({', '.join(serving)}; found by {report.source})"
        if problems:
            reason += f"; but {'; '.join(problems)}"
        return Sample("process", state, reason, details=details)
    if between_workers:  # seen once under load in a reload storm: look again (briefly)
        raise ProbeError(State.CRITICAL, "; ".join(problems), transient=True)
    return Sample("process", State.CRITICAL, "; ".join(problems))


def _pids(procs: list[Proc]) -> str:
    return ",".join(str(p.pid) for p in procs)
