"""keepalived's track_file: one integer, rewritten only when it changes.

keepalived watches the file with inotify and re-reads it on every change; with weight 0 a
non-zero value means FAULT, otherwise value × weight adjusts the priority. We replace it
atomically (write a temp file in the same directory, then rename), so keepalived never reads
a half-written number. The value already in the file is read at start: a restarted watcher
whose first verdict agrees with it writes nothing at all, and until that verdict the file keeps
what it held (never a made-up failure that would move the VIPs away and back).

The watcher runs as root and the file's directory may be shared (keepalived's script user):
the file is read without following a symlink or blocking on a FIFO, and written only through
:func:`lbcheck.files.write_atomic`, which never opens anything already there for writing.
"""

from __future__ import annotations

import os

from lbcheck.files import read_regular, write_atomic

MAX_TRACK = 4096  # bytes: one integer; anything bigger holds no value we wrote


class TrackFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.value: int | None = self.current()

    def current(self) -> int | None:
        """The value in the file now; None when it is missing or holds no integer."""
        try:
            text = read_regular(self.path, MAX_TRACK).decode("ascii", "replace").strip()
        except OSError:  # missing, a symlink, a FIFO, too big: no value we can trust
            return None
        try:
            return int(text)
        except ValueError:
            return None

    def writable(self) -> str | None:
        """Why the file could not be written, or None: checked at start, without writing."""
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            return f"directory {directory} does not exist"
        if not os.access(directory, os.W_OK):
            return f"directory {directory} is not writable"
        return None

    def write(self, value: int) -> bool:
        """Write ``value`` if it differs from what the file holds; True when written."""
        if value == self.value:
            return False
        write_atomic(self.path, f"{value}\n".encode(), mode=0o644, shared_ok=True)
        self.value = value
        return True
