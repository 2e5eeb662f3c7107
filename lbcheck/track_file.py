"""keepalived's track_file: one integer, rewritten only when it changes.

keepalived watches the file with inotify and re-reads it on every change; with weight 0 a
non-zero value means FAULT, otherwise value × weight adjusts the priority. We replace it
atomically (write a temp file in the same directory, then rename), so keepalived never reads
a half-written number. The value already in the file is read at start: a restarted watcher
whose first verdict agrees with it writes nothing at all, and until that verdict the file keeps
what it held (never a made-up failure that would move the VIPs away and back).
"""

from __future__ import annotations

import os


class TrackFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.value: int | None = self.current()

    def current(self) -> int | None:
        """The value in the file now; None when it is missing or holds no integer."""
        try:
            with open(self.path, encoding="ascii", errors="replace") as fh:
                text = fh.read(64).strip()
        except OSError:
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
        temp = f"{self.path}.{os.getpid()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{value}\n".encode())
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        self.value = value
        return True
