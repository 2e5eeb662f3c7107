"""Reading keepalived.conf and its includes without trusting what the path names.

lbnotify reads the config as root on every VRRP event and `lbcheck lint` reads whatever it is
pointed at: a FIFO there must not hang it, `/dev/zero` must not eat the memory of the box,
and a device must not even be opened (opening some has effects: a watchdog starts ticking).

Operators legitimately symlink keepalived.conf and its includes (a config repository checked
out elsewhere), and keepalived follows them — it stat()s each file and skips what is not a
regular, non-executable file. So the links are followed, and everything else is refused as
:func:`lbcheck.files.read_regular_stat` does: stat before opening (nothing but a regular file
is opened), a non-blocking open, the opened file checked to be the one stat() saw, at most
``limit`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat

from lbcheck.files import NotRegular, TooBig, read_regular_stat

__all__ = ["NotRegular", "TooBig", "file_kind", "read_config_file"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words an operator recognises."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_config_file(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of ``path`` (symlinks followed, as keepalived does) and its stat, if it is a
    regular file of at most ``limit`` bytes. Raises FileNotFoundError, NotRegular, TooBig or
    another OSError.

    The kind is judged here first, to say what the file is in keepalived's words ("is a
    FIFO"); the read itself is :func:`lbcheck.files.read_regular_stat`'s.
    """
    _check(path, os.stat(path), limit)
    return read_regular_stat(path, limit, follow_links=True)


def _check(path: str, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotRegular(errno.EINVAL, f"is {file_kind(info.st_mode)}, not a regular file",
                         path)
    if info.st_size > limit:
        raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", path)
