"""Reading and writing files as root where someone else may have put something in our way.

lbnotify and lbcheck run as root every second, and use directories an operator may share (a
state directory chowned to the script user, an outbox an admin copies items into). A symlink
to /etc/shadow, a FIFO or a 1 GiB file there must cost one error line, not a hang, the memory
of the box or a root-owned file overwritten. So every such file goes through this module:

- :func:`read_regular`: no symlink followed, no blocking open, a regular file only, at most
  ``limit`` bytes.
- :func:`write_atomic`: the whole file replaced (temp file + rename), the temp file created
  under an unpredictable name with ``O_CREAT|O_EXCL|O_NOFOLLOW``: nothing already at any
  name is ever opened for writing, a planted symlink or FIFO at the path is replaced, never
  followed.
- :func:`open_lock`: a lock (or a small file kept open and rewritten in place, such as the
  outbox's sequence number), only in a trusted directory, never through a symlink, never a
  FIFO, a device or a file someone else owns or has hard-linked.

**The directory rule** (:func:`check_dir`). A directory is *trusted* when it is owned by root
or by the user we run as, and is neither group- nor world-writable (no ``w`` for group or
other, which also catches an ACL granting write, as the group bits show the ACL mask; a
sticky ``1777`` directory is not trusted). Only the directory itself is checked, not its
parents: the path is the operator's (``/run``, ``/var/lib`` are root's).

- What lives in a file we keep open or rewrite in place (locks, the outbox's ``.seq``), or
  what we act on (the outbox's pages, lbnotify's per-instance memory), must be in a trusted
  directory. Anything else is refused with one line naming the directory and the fix
  (:class:`UnsafeDir`): another user there could hold our locks, plant pages or hard links.
- A file we only ever replace whole (lbcheck's state file, keepalived's track file, metrics
  textfiles) may live in a shared directory (``shared_ok=True``): the temp + rename above
  cannot be turned against another file, and what another user there can do (replace the
  file's content) sharing the directory already allows.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from contextlib import suppress

TEMP_PREFIX = ".tmp-"  # write_atomic's temp names: ".tmp-NAME.<16 hex digits>"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_WRITE = stat.S_IWGRP | stat.S_IWOTH


class NotRegular(OSError):
    """The path is a symlink, a FIFO, a device or a directory: not a file we read."""


class TooBig(OSError):
    """The file is larger than the caller will ever need."""


class UnsafeDir(OSError):
    """A directory another user could plant files in, where we must not write as root.

    ``strerror`` is the one line to show: the directory, what is wrong, and the fix.
    """


def read_regular(
    path: str | os.PathLike[str], limit: int, *, follow_links: bool = False
) -> bytes:
    """The whole file, if it is a regular file of at most ``limit`` bytes.

    ``follow_links``: for files the operator names (a config managed as a symlink into a
    deployment tree): the link is followed, but what it points to must still be a regular
    file of bounded size, never a FIFO or a device.
    Raises FileNotFoundError, :class:`NotRegular`, :class:`TooBig` or another OSError.
    """
    return read_regular_stat(path, limit, follow_links=follow_links)[0]


def read_regular_stat(
    path: str | os.PathLike[str], limit: int, *, follow_links: bool = False
) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular`, and the stat of what was read (its device and inode identify
    the file: keepalived.conf's reader reads each included file once by them)."""
    # Look before opening: opening a device can itself do something (a tape rewinds, a
    # modem hangs up); a FIFO or a link is refused without being touched.
    seen = os.stat(path, follow_symlinks=follow_links)
    if stat.S_ISLNK(seen.st_mode):
        raise NotRegular(errno.ELOOP, "is a symlink", str(path))
    if not stat.S_ISREG(seen.st_mode):
        raise NotRegular(errno.EINVAL, "is not a regular file", str(path))
    nofollow = 0 if follow_links else os.O_NOFOLLOW
    flags = os.O_RDONLY | nofollow | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(errno.ELOOP, "is a symlink", str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (seen.st_dev, seen.st_ino):
            raise NotRegular(errno.EAGAIN, "was replaced while being opened", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(errno.EINVAL, "is not a regular file", str(path))
        if info.st_size > limit:
            raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", str(path))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # it grew after the fstat
            raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", str(path))
        return data, info
    finally:
        os.close(fd)


def check_dir(path: str | os.PathLike[str]) -> None:
    """Raise :class:`UnsafeDir` unless ``path`` is a trusted directory (see the module doc).

    Raises FileNotFoundError (or another OSError) when it cannot be opened as a directory.
    """
    fd = os.open(path, _DIR_FLAGS)
    try:
        _require_trusted(fd, path)
    finally:
        os.close(fd)


def _require_trusted(dir_fd: int, path: str | os.PathLike[str]) -> None:
    """One fstat of the directory we already hold open: the one we then write into."""
    info = os.fstat(dir_fd)
    me = os.geteuid()
    wrong = []
    if info.st_uid not in (0, me):
        wrong.append(f"owned by uid {info.st_uid}")
    if info.st_mode & _WRITE:
        wrong.append(f"writable by {'group' if info.st_mode & stat.S_IWGRP else 'others'}"
                     f" (mode {stat.S_IMODE(info.st_mode):04o})")
    if not wrong:
        return
    owner = "root:root" if me == 0 else str(me)
    raise UnsafeDir(errno.EPERM, f"refusing to write as uid {me} in {os.fspath(path)}: "
                    f"{' and '.join(wrong)}, so another user could plant files there "
                    f"(fix: chown {owner} {os.fspath(path)} && chmod go-w {os.fspath(path)})",
                    os.fspath(path))


def _split(path: str | os.PathLike[str]) -> tuple[str, str]:
    directory, name = os.path.split(os.fspath(path))
    return directory or ".", name


def write_atomic(path: str | os.PathLike[str], data: bytes, durable: bool = False, *,
                 mode: int = 0o600, shared_ok: bool = False) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never half.

    The temp file is ``.tmp-NAME.<random>`` beside it, created ``O_EXCL|O_NOFOLLOW`` through
    one descriptor of the directory (so the check, the create and the rename are in the same
    directory whatever happens to the path meanwhile). ``durable``: the bytes and the rename
    are fsynced before this returns (a page the hook acknowledged survives a crash).
    ``shared_ok``: the directory need not be trusted (a file we only ever replace whole).
    A killed writer leaves its temp file; readers skip names starting with ``.tmp-``.
    """
    directory, name = _split(path)
    dir_fd = os.open(directory, _DIR_FLAGS)
    try:
        if not shared_ok:
            _require_trusted(dir_fd, directory)
        temp = f"{TEMP_PREFIX}{name}.{os.urandom(8).hex()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, mode, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
        if durable:
            with suppress(OSError):  # the rename itself, not just the bytes
                os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_lock(path: str | os.PathLike[str]) -> int:
    """A read-write descriptor of the lock file ``path``, created 0600 if missing.

    Only in a trusted directory (:class:`UnsafeDir` otherwise), never through a symlink, and
    only a regular file we own with a single link (:class:`NotRegular` otherwise: a FIFO, a
    device, another user's file, a hard link to a file elsewhere — each is refused with the
    path and "remove it"). Non-blocking, so a FIFO cannot hang the open; flock, pread and
    pwrite on the regular file it returns are unaffected. The caller closes it.
    """
    directory, name = _split(path)
    dir_fd = os.open(directory, _DIR_FLAGS)
    try:
        _require_trusted(dir_fd, directory)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotRegular(errno.ELOOP, f"{os.fspath(path)} is a symlink: remove it",
                                 os.fspath(path)) from None
            raise
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        why = ("is not a regular file" if not stat.S_ISREG(info.st_mode) else
               f"is owned by uid {info.st_uid}" if info.st_uid != os.geteuid() else
               "has other hard links" if info.st_nlink != 1 else None)
        if why:
            raise NotRegular(errno.EINVAL, f"{os.fspath(path)} {why}: remove it",
                             os.fspath(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


LOCK_POLL = 0.002  # s between tries of a bounded wait: short next to any holder's hold


def flock_within(fd: int, timeout: float) -> bool:
    """Exclusive flock, polling LOCK_NB for at most ``timeout`` s; False if still held.

    Bounded, so a wedged holder (another root process, or a stopped one) can never hang a
    hook or a check: the caller decides what "still held" means.
    """
    end = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= end:
                return False
            time.sleep(LOCK_POLL)
