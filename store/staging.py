"""Uploads in progress: one local file per upload, appended chunk by chunk, fsynced each time.

The staging file's length is how much the store has; it survives a store restart, so a camera
that reconnects resumes at that offset. When the last byte arrives the file is hashed and handed
to the object store (or to quarantine). Names are upload ids the store made, never client text.

Staging stays on the local disk of the machine that received the bytes, shared by that machine's
workers (one store directory): ``ID.lock`` beside each file is the ``flock`` that makes work on
one upload one worker's at a time. A worker that crashes leaves the file and its lock file; the
camera resumes at the file's length, and staging with no progress for ``staging_max_age_s`` is
removed by the retention pass (:meth:`store.retention.Retention.sweep_staging`), audited.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from evidence.fsutil import fsync_dir, private_dir, write_synced
from evidence.manifest import sha256_file

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class Staging:
    """The caller serialises work on one upload with :meth:`lock`, which holds across worker
    processes; :meth:`append` also checks and writes under the staging file's own ``flock``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)

    def path(self, upload_id: str) -> Path:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise ValueError(f"{upload_id!r} is not an upload id")
        return self.root / upload_id

    @contextlib.contextmanager
    def lock(self, upload_id: str, wait: bool = True) -> Iterator[bool]:
        """Hold the upload's lock against every worker on this machine; with ``wait=False``
        yields False at once if another holds it."""
        fd = os.open(self.path(upload_id).with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def names(self) -> set[str]:
        """The upload ids that have a staging file or a lock file here."""
        return {p.name.removesuffix(".lock") for p in self.root.iterdir()
                if UPLOAD_ID.fullmatch(p.name.removesuffix(".lock"))}

    def remove_lock(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(upload_id).with_suffix(".lock").unlink()

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
