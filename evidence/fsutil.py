"""Durable, private file writes: write a temporary file, fsync it, rename it, fsync the directory.

A reader then sees either the old file or the whole new one, also after a power cut. Evidence,
keys and catalogues are the owner's only: files are created 0600 and folders 0700 with the mode
set exactly (``fchmod``/``chmod``), so a permissive umask never widens them. A write that fails
(ENOSPC on a full card, EIO) raises ``OSError`` and leaves no temporary file behind.

The device's writes (these helpers, the audit log, the segment being recorded) go through
:func:`write_all`, :func:`fsync`, :func:`replace` and :func:`open_stream`, so a test can make
them fail for real at the Nth call: set :data:`fault` (``tests/faults.py``).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Test seam: ``fault(op, target)`` runs before each ``"write"``, ``"fsync"`` and ``"rename"``
#: made here (``target`` names the file, or the descriptor). It may raise ``OSError`` (ENOSPC,
#: EIO), or return how many bytes a write may put down (a short write, as a filling card
#: makes). None in production: nothing is checked.
fault: Callable[[str, str], int | None] | None = None


def _allowed(op: str, target: object) -> int | None:
    return None if fault is None else fault(op, str(target))


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the descriptor's position (a short write is continued; the
    write that finds no room raises)."""
    view = memoryview(data)
    while view:
        limit = _allowed("write", fd)
        view = view[os.write(fd, view if limit is None else view[:limit]):]


def fsync(fd: int) -> None:
    _allowed("fsync", fd)
    os.fsync(fd)


def replace(src: Path, dst: Path) -> None:
    _allowed("rename", dst)
    os.replace(src, dst)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """Make ``path`` and any missing parents, owner-only (0700) whatever the umask; ``path``
    itself is tightened to 0700 if it exists (a folder an older version left 0755). Parents
    that already existed are left as they are: they are not ours."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in [path, *missing[1:]]:
        if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o777 != 0o700:
            os.chmod(folder, 0o700)
    return path


def write_synced(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the descriptor's position, then fsync it."""
    write_all(fd, data)
    fsync(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` durably; ``mode`` is applied before the bytes are written.
    On failure ``path`` is as it was and the temporary file is gone (it would hold space)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(fd, mode)
            write_synced(fd, data)
        finally:
            os.close(fd)
        replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def durable_rename(src: Path, dst: Path) -> None:
    replace(src, dst)
    fsync_dir(dst.parent)


class _CheckedFile(io.FileIO):
    """A raw file whose writes pass the :data:`fault` seam."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        limit = _allowed("write", self.name)
        return super().write(data if limit is None else memoryview(data)[:limit])


def _private_opener(path: str, flags: int) -> int:
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_stream(path: Path) -> io.BufferedWriter:
    """A new file for a stream of writes (the segment being recorded), truncated, 0600 (the
    owner's only) whatever the umask."""
    return io.BufferedWriter(_CheckedFile(path, "w", opener=_private_opener))


def open_private(path: Path) -> BinaryIO:
    """``open(path, "wb")`` for a private file: 0600 whatever the umask, writes through the
    :data:`fault` seam."""
    return open_stream(path)


def set_aside(path: Path) -> Path:
    """Rename ``path`` out of the way, durably, as ``NAME.refused-N`` (never deleted): for a
    FIFO, folder or link found where the camera keeps a file it must read and write."""
    n = 1
    while os.path.lexists(aside := path.with_name(f"{path.name}.refused-{n}")):
        n += 1
    durable_rename(path, aside)
    return aside
