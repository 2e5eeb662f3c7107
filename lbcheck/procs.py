"""Which processes we may believe: process discovery that another local user cannot fake.

lbcheck and lbnotify run as root next to whatever else runs on the load balancer, and decide
from /proc whether haproxy serves (a failover when it does not) and whether keepalived still
runs (`lbnotify release` keeps its VIPs while it does). A process name (comm) is whatever its
owner chose: ``exec -a``, ``prctl(PR_SET_NAME)``, a write to /proc/self/comm or a copy of
/bin/sleep called ``haproxy`` all pass a name match. So a process counts only when all of:

- **its owner is trusted**: every uid of /proc/PID/status (real, effective, saved, fs — a
  setuid-root program started by ``nobody`` keeps ``nobody`` as its real uid) is root, the
  uid running this check, or the service's own user (the account named like the service,
  e.g. Debian's ``haproxy``; plus the owner of a trusted pidfile). Not the owner of /proc/PID:
  a process that makes itself non-dumpable shows /proc/PID as root's.
  A worker forked by a trusted master (ppid = that master, same name, same executable inode)
  is trusted whatever user haproxy's ``user`` directive dropped it to.
- **its executable is root's**: /proc/PID/exe is a regular file owned by root, not writable
  by group or others, and every directory of its path (as /proc/PID/exe names it, also for a
  chroot or a binary deleted by an upgrade) is root-owned and not group/other-writable unless
  sticky (/var/tmp: nobody can rename root's entries there). No fixed path: chroot and
  container installs live elsewhere. A zombie has no executable left (it can only make the
  verdict worse), and a check not run as root may not read another user's exe link (EACCES):
  then the owner rule alone decides, since no other user can create a root-owned process.

Nothing a process names is ever opened: master-ness is read from its command line (-W, -Ws,
-S), never from the config file its ``-f`` points to (``-f /dev/zero`` once OOM-killed the
watcher). Every /proc read and pidfile read is bounded in bytes; pidfiles go through
:func:`lbcheck.files.read_regular` (no symlink, no FIFO, no device) and must be owned by root
or the service user, in directories nobody else may write.

Stdlib only, no forks: the every-second check and the watcher import it.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache

STAT_LIMIT = 1024  # /proc/PID/stat: 52 numbers and a comm of ≤ 15 bytes (≤ 64 escaped)
STATUS_LIMIT = 1024  # the Uid: line is the 9th, well within; Groups: (long) comes after it
CMDLINE_LIMIT = 64 * 1024  # enough for any haproxy/keepalived command line
PIDFILE_LIMIT = 1024  # one pid per line: even an old nbproc haproxy's fits
PID_MAX = 4194304  # the kernel's PID_MAX_LIMIT: a larger "pid" is garbage, not a process


class Untrusted(Exception):
    """A pidfile (or process) that another user could have planted: why, in one line."""


def read_proc_file(pid: int | str, name: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of /proc/PID/NAME; None when the process is gone or hidden."""
    try:
        fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:  # ESRCH: it exited between open and read
        return None
    finally:
        os.close(fd)


def uids(pid: int) -> tuple[int, ...] | None:
    """Real, effective, saved and filesystem uid from /proc/PID/status; None when gone."""
    raw = read_proc_file(pid, "status", STATUS_LIMIT)
    if raw is None:
        return None
    for line in raw.split(b"\n"):
        if line.startswith(b"Uid:"):
            try:
                return tuple(int(word) for word in line.split()[1:])
            except ValueError:
                return None
    return None


def cmdline(pid: int) -> list[bytes]:
    """argv of ``pid`` (bounded; [] when gone or a kernel thread)."""
    raw = read_proc_file(pid, "cmdline", CMDLINE_LIMIT)
    return raw.rstrip(b"\0").split(b"\0") if raw else []


@lru_cache(maxsize=8)
def service_ids(service: str | None) -> tuple[int, int] | None:
    """(uid, gid) of the account named like the service (Debian's ``haproxy``), if any.

    Looked up only when a non-root candidate shows up, then remembered for the process's
    life (the watcher's too: an account created later is seen after a restart).
    """
    if not service:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(service)
    except (KeyError, UnicodeEncodeError, ValueError):
        return None
    return entry.pw_uid, entry.pw_gid


def trusted_uid(uid: int, service: str | None = None, extra: frozenset[int] = frozenset()) -> bool:
    """Root, whoever runs this check, the service's own user, or one the caller vouches for."""
    if uid == 0 or uid == os.geteuid() or uid in extra:
        return True
    ids = service_ids(service)
    return ids is not None and uid == ids[0]


def _trusted_gid(gid: int, service: str | None) -> bool:
    if gid == 0 or gid == os.getegid():
        return True
    ids = service_ids(service)
    return ids is not None and gid == ids[1]


def directory_problem(path: str, service: str | None = None, root_only: bool = False,
                      base: str = "") -> str | None:
    """Why someone else could swap ``path``'s entries, or None: every directory from / down
    to ``path`` must belong to a trusted user (root only, with ``root_only``), and may be
    writable by its group only when that is a trusted group, by others only when sticky.
    ``base``: the root to resolve ``path`` in (/proc/PID/root: another mount namespace)."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    for part in ["", *parts]:
        current = os.path.join(current, part) if part else "/"
        try:
            info = os.lstat(base + current)
        except OSError as exc:
            return f"cannot check directory {current}: {exc.strerror}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{current} is not a directory"
        owner_ok = info.st_uid == 0 if root_only else trusted_uid(info.st_uid, service)
        if not owner_ok:
            return f"directory {current} is owned by uid {info.st_uid}"
        sticky = bool(info.st_mode & stat.S_ISVTX)
        if info.st_mode & stat.S_IWOTH and not sticky:
            return f"directory {current} is writable by everyone"
        group_ok = info.st_gid == 0 if root_only else _trusted_gid(info.st_gid, service)
        if info.st_mode & stat.S_IWGRP and not sticky and not group_ok:
            return f"directory {current} is writable by group {info.st_gid}"
    return None


def exe_problem(pid: int) -> str | None:
    """Why ``pid``'s executable is not one only root could have put there, or None.

    None too when it cannot be told: a zombie (no executable left) or, for a check not run
    as root, another user's process (EACCES on /proc/PID/exe).
    """
    link = f"/proc/{pid}/exe"
    try:
        info = os.stat(link)  # the inode itself, even when the upgrade deleted the file
        path = os.readlink(link)
    except FileNotFoundError:
        return None  # a zombie or a kernel thread: nothing left to judge
    except PermissionError:
        if os.geteuid() == 0:
            return "cannot read its executable"
        return None  # not root: the owner rule alone decides
    except OSError as exc:
        return f"cannot read its executable ({exc.strerror})"
    path = path.removesuffix(" (deleted)")
    if not stat.S_ISREG(info.st_mode):
        return f"its executable {path} is not a regular file"
    if info.st_uid != 0:
        return f"its executable {path} is owned by uid {info.st_uid}, not root"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"its executable {path} is writable by others"
    where = os.path.dirname(path)
    problem = directory_problem(where, root_only=True)
    if problem is not None and problem.startswith("cannot check directory"):
        # Another mount namespace (a container): look at it through the process's own root.
        inside = directory_problem(where, root_only=True, base=f"/proc/{pid}/root")
        if inside is None:
            return None
    return None if problem is None else f"its executable {path}: {problem}"


def exe_inode(pid: int) -> tuple[int, int] | None:
    try:
        info = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return None
    return info.st_dev, info.st_ino


def distrust(pid: int, service: str | None = None,
             extra: frozenset[int] = frozenset()) -> str | None:
    """Why process ``pid`` must not be believed, or None when it may be (see module doc)."""
    found = uids(pid)
    if found is None:
        return "it is gone"
    strangers = sorted({u for u in found if not trusted_uid(u, service, extra)})
    if strangers:
        allowed = "root" + (f" or {service}" if service_ids(service) else "")
        return f"owned by uid {strangers[0]}, not {allowed}"
    return exe_problem(pid)


def is_child_of(pid: int, parent: int) -> bool:
    """A worker: forked by ``parent``, so running the same executable (inode) as it."""
    mine = exe_inode(pid)
    return mine is None or mine == exe_inode(parent)  # None: a zombie worker


def read_pidfile(path: str, service: str | None = None) -> tuple[list[int], int]:
    """The pids in a pidfile we may believe, and its owner's uid.

    Raises FileNotFoundError (no pidfile: the service is not running), :class:`Untrusted`
    (someone else could have written it: a symlink, a FIFO, /dev/zero, a file of another
    user, or a directory another user may write) or another OSError.
    """
    from lbcheck.files import NotRegular, TooBig, read_regular

    try:
        data = read_regular(path, PIDFILE_LIMIT)
        info = os.lstat(path)
    except (NotRegular, TooBig) as exc:
        raise Untrusted(f"pidfile {path} {exc.strerror}: not a pidfile") from None
    except ValueError:  # a NUL byte: no such file can exist
        raise Untrusted(f"pidfile {path!r} is not a path") from None
    if not trusted_uid(info.st_uid, service):
        raise Untrusted(f"pidfile {path} is owned by uid {info.st_uid}, not root"
                        + (f" or {service}" if service_ids(service) else ""))
    problem = directory_problem(os.path.dirname(os.path.abspath(path)), service)
    if problem is not None:
        raise Untrusted(f"pidfile {path} is not safe: {problem}")
    text = data.decode("ascii", errors="replace")
    pids = [int(word) for word in text.split() if word.isascii() and word.isdigit()]
    return [pid for pid in pids if 0 < pid <= PID_MAX], info.st_uid


def shares_namespace(pid: int, kind: str) -> bool:
    """Is ``pid`` in our namespace of ``kind`` ("net", "mnt", "uts")? False when it cannot be
    told (gone, not ours to look at): a caller then treats it as another namespace's."""
    try:
        theirs = os.stat(f"/proc/{pid}/ns/{kind}")
        ours = os.stat(f"/proc/self/ns/{kind}")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)
