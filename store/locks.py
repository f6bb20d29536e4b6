"""Locks that hold across the store's worker processes on one machine: ``flock`` on a file.

Each ``with`` opens the lock file afresh, so threads of one process exclude each other as well
as other processes (``flock`` belongs to the open file, not the process); the kernel releases it
when a worker dies, even by SIGKILL. Across machines a file lock is not enough: see
docs/STORE.md, "Several workers".
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType


class FileLock:
    """An exclusive lock named by ``path`` (created 0600, empty, kept)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held = threading.local()

    def __enter__(self) -> FileLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._held.fds = [*getattr(self._held, "fds", []), fd]
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        os.close(self._held.fds.pop())
