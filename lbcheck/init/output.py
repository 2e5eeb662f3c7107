"""Putting the rendered files on disk: all of them or none, never over the operator's own.

Every target is checked before the first byte is written, so a refusal leaves the directory
as it was. Each file is written to a temporary name beside it and renamed, with its mode set
before it holds anything (lbcheck.toml is 600: it will hold paging keys).
"""

from __future__ import annotations

import os

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
        for file, target in zip(files, targets, strict=True):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            _replace(target, file.text, file.mode)
    except OSError as exc:
        raise InitError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
    return targets


def _replace(target: str, text: str, mode: int) -> None:
    temporary = f"{target}.lbcheck-init.tmp"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        os.fchmod(fd, mode)  # whatever the umask
        stream.write(text)
    os.replace(temporary, target)
