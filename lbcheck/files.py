"""Reading files as root where someone else may have put something in our way.

lbnotify and lbcheck run as root every second, and read files from directories an operator
may share (a state directory chowned to the script user, an outbox an admin copies items
into). A symlink to /dev/zero, a FIFO or a 1 GiB file there must cost one error line, not a
hang or the memory of the box, so every such read goes through :func:`read_regular`:
no symlink followed, no blocking open, a regular file only, at most ``limit`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat


class NotRegular(OSError):
    """The path is a symlink, a FIFO, a device or a directory: not a file we read."""


class TooBig(OSError):
    """The file is larger than the caller will ever need."""


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The whole file, if it is a regular file of at most ``limit`` bytes.

    Raises FileNotFoundError, :class:`NotRegular`, :class:`TooBig` or another OSError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(errno.ELOOP, "is a symlink", str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(errno.EINVAL, "is not a regular file", str(path))
        if info.st_size > limit:
            raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", str(path))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # it grew after the fstat
            raise TooBig(errno.EFBIG, f"is larger than {limit} bytes", str(path))
        return data
    finally:
        os.close(fd)
