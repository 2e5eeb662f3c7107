"""Putting the rendered files on disk: all of them or none, never over the operator's own.

Every target is checked before the first byte is written, so a refusal leaves the directory
as it was. Each file is written to a temporary name beside it and renamed, with its mode set
before it holds anything (lbcheck.toml is 600: it will hold paging keys).

Run as root, the writes must not be redirected by another user: every directory written into
(``--out`` and the node directories under it) must be a real directory — no symlink — owned by
us (or root) and writable by no one else. A `lb1` symlinked to /etc/systemd/system by a user
who guessed `--out /tmp/pair` would otherwise install the watcher unit there.
"""

from __future__ import annotations

import os
import stat

from lbcheck.init import InitError
from lbcheck.init.render import File


def write(out: str, files: list[File], force: bool = False) -> list[str]:
    """Write ``files`` under ``out``; the paths written. InitError if one exists (unless
    ``force``) or cannot be written."""
    targets = [os.path.join(out, f.path) for f in files]
    if os.path.exists(out) and not os.path.isdir(out):
        raise InitError(f"--out {out} exists and is no directory")
    for target in targets:
        if os.path.lexists(target) and (not force or os.path.isdir(target)):
            raise InitError(f"{target} exists: --force to overwrite it"
                            if not os.path.isdir(target) else f"{target} is a directory")
    try:
        for directory in sorted({os.path.dirname(t) for t in targets}):
            _directories(out, directory)  # all checked before the first file is written
        for file, target in zip(files, targets, strict=True):
            _replace(target, file.text, file.mode)
    except OSError as exc:
        raise InitError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
    return targets


def _directories(out: str, directory: str) -> None:
    """Make ``directory`` (under ``out``) one level at a time, each checked as it is reached:
    a symlink, another user's directory or one others may write is refused."""
    parts = os.path.relpath(directory, out).split(os.sep)
    current = out
    for part in ["", *([] if parts == ["."] else parts)]:
        current = os.path.join(current, part) if part else current
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            pass
        info = os.lstat(current)
        why = ("is a symlink" if stat.S_ISLNK(info.st_mode) else
               "is no directory" if not stat.S_ISDIR(info.st_mode) else
               f"belongs to uid {info.st_uid}" if info.st_uid not in (os.geteuid(), 0) else
               "is writable by others" if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) else
               None)
        if why:
            raise InitError(f"{current} {why}: another user could redirect what is written "
                            "there; use a directory of your own for --out")


def _replace(target: str, text: str, mode: int) -> None:
    temporary = f"{target}.lbcheck-init.tmp"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        os.fchmod(fd, mode)  # whatever the umask
        stream.write(text)
    os.replace(temporary, target)
