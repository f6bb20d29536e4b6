"""Uploads in progress: one local file per upload, appended chunk by chunk, fsynced each time.

The staging file's length is how much the store has; it survives a store restart, so a camera
that reconnects resumes at that offset. When the last byte arrives the file is hashed and handed
to the object store (or to quarantine). Names are upload ids the store made, never client text.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from device.evidence.manifest import sha256_file
from device.fsutil import fsync_dir, private_dir, write_synced
from store.locks import FileLock

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class Staging:
    """The caller serialises work on one upload with :meth:`lock`, which holds across worker
    processes; :meth:`append` also checks and writes under the staging file's own ``flock``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)
        private_dir(root / "locks")

    def lock(self, upload_id: str) -> FileLock:
        """Held while one request works on the upload, in whichever worker it arrived."""
        return FileLock(self.root / "locks" / self.path(upload_id).name)

    def path(self, upload_id: str) -> Path:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise ValueError(f"{upload_id!r} is not an upload id")
        return self.root / upload_id

    def size(self, upload_id: str) -> int:
        try:
            return self.path(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, upload_id: str, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``, which must be the current end; return the new size."""
        path = self.path(upload_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            end = os.lseek(fd, 0, os.SEEK_END)
            if end != offset:
                raise ValueError(f"staging file holds {end} bytes, not {offset}")
            write_synced(fd, data)
        finally:
            os.close(fd)
        if offset == 0:
            fsync_dir(self.root)  # the new file's name is durable too
        return offset + len(data)

    def digest(self, upload_id: str) -> tuple[str, int]:
        path = self.path(upload_id)
        if not path.exists():
            path.touch(0o600)
        return sha256_file(path)

    def remove(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(upload_id).unlink()
