"""keepalived's track_file: one integer, rewritten only when it changes.

keepalived watches the file with inotify and re-reads it on every change; with weight 0 a
non-zero value means FAULT, otherwise value × weight adjusts the priority. We replace it
atomically (write a temp file in the same directory, then rename), so keepalived never reads
a half-written number.
"""

from __future__ import annotations

import os


class TrackFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.value: int | None = None

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
