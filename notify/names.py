"""File names derived from a VRRP instance or sync group name, safe for any name keepalived takes.

keepalived takes any whitespace-free token after ``vrrp_instance`` (its config reader's line
buffer, 1024 bytes, is the only bound: ~1000 bytes of name, measured with keepalived 2.2.7), while
a Linux file name is at most 255 *bytes* (NAME_MAX). Names are counted in characters where they
are checked, so 81 CJK characters (3 bytes each) or 57 emoji (4 bytes each) were enough to make
the page memory or the instance lock "File name too long": the page was lost or its FAULT
incident never resolved. Every per-instance file name comes from :func:`file_stem`.

- An ordinary name keeps today's readable stem, ``instance-VI_1``, byte for byte: an upgrade
  finds the files a previous version wrote.
- A name whose stem would not fit :data:`MAX_STEM_BYTES`, or that holds a character a file name
  must not (``/``, NUL, control characters), gets a readable prefix cut at a character boundary
  plus a hash of the whole name: stable, distinct per name, and still recognisable in ``ls``.
"""

from __future__ import annotations

import hashlib
import os

# NAME_MAX is 255 bytes; the stem also carries a suffix (".json", ".lock") and
# lbcheck.files.write_atomic's temp name adds ".tmp-" + ".<16 hex>" (22 bytes) around it.
NAME_MAX = 255
MAX_STEM_BYTES = 200
HASH_CHARS = 32  # hex digits of SHA-256: 128 bits, so two names never share a file
_UNSAFE = frozenset("/\0") | {chr(c) for c in range(32)} | {"\x7f"}


def encoded(text: str) -> bytes:
    """The bytes ``text`` becomes as a file name (argv may carry undecodable bytes).

    A lone surrogate that no file name can hold is counted by its UTF-8-like encoding, and
    :func:`file_stem` never puts one into a name.
    """
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _safe(char: str) -> bool:
    if char in _UNSAFE:
        return False
    try:
        os.fsencode(char)
    except UnicodeEncodeError:
        return False
    return True


def file_stem(kind: str, name: str) -> str:
    """``instance-NAME`` when that is a safe file name that fits, else prefix + hash.

    Pure and stable: the same (kind, name) always names the same file, across processes and
    versions, which is what lets a resolve find the memory its trigger wrote.
    """
    readable = f"{kind.lower()}-{name}"
    if all(_safe(c) for c in name) and len(encoded(readable)) <= MAX_STEM_BYTES:
        return readable
    digest = hashlib.sha256(encoded(f"{kind}\0{name}")).hexdigest()[:HASH_CHARS]
    safe = "".join(c if _safe(c) else "_" for c in name)
    room = MAX_STEM_BYTES - len(encoded(f"{kind.lower()}-~{digest}"))
    return f"{kind.lower()}-{cut_bytes(safe, room)}~{digest}"


def cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose encoding fits ``limit`` bytes (whole characters)."""
    if len(encoded(text)) <= limit:
        return text
    size = 0
    for i, char in enumerate(text):
        size += len(encoded(char))
        if size > limit:
            return text[:i]
    return text
