"""Reading keepalived.conf and its includes without trusting what the path names.

lbnotify reads the config as root on every VRRP event and `lbcheck lint` reads whatever it is
pointed at: a FIFO there must not hang it, `/dev/zero` must not eat the memory of the box,
and a device must not even be opened (opening some has effects: a watchdog starts ticking).

Why not :func:`lbcheck.files.read_regular`: that one refuses symlinks, which is right in a
state directory someone else can write to, but operators legitimately symlink keepalived.conf
and its includes (a config repository checked out elsewhere), and keepalived follows them —
it stat()s each file and skips what is not a regular, non-executable file. So this reader
follows symlinks too, and refuses everything else the way read_regular does: stat before
opening (nothing but a regular file is opened), a non-blocking open, the opened file checked
to be the one stat() saw, at most ``limit`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat

from lbcheck.files import NotRegular, TooBig

__all__ = ["NotRegular", "TooBig", "file_kind", "read_config_file"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words an operator recognises."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_config_file(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of ``path`` (symlinks followed) and its stat, if it is a regular file of at
    most ``limit`` bytes. Raises FileNotFoundError, NotRegular, TooBig or another OSError."""
    info = os.stat(path)
    _check(path, info, limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise NotRegular(errno.EAGAIN, "was replaced while being opened", path)
        _check(path, opened, limit)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # it grew after the fstat
            raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", path)
        return data, opened
    finally:
        os.close(fd)


def _check(path: str, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotRegular(errno.EINVAL, f"is {file_kind(info.st_mode)}, not a regular file",
                         path)
    if info.st_size > limit:
        raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", path)
