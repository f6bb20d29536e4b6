"""Durable file writes: write a temporary file, fsync it, rename it, fsync the directory.

A reader then sees either the old file or the whole new one, also after a power cut.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the descriptor's position, then fsync it."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` durably; ``mode`` is applied before the bytes are written."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        write_synced(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def durable_rename(src: Path, dst: Path) -> None:
    os.replace(src, dst)
    fsync_dir(dst.parent)


def set_aside(path: Path) -> Path:
    """Rename ``path`` out of the way, durably, as ``NAME.refused-N`` (never deleted): for a
    FIFO, folder or link found where the camera keeps a file it must read and write."""
    n = 1
    while os.path.lexists(aside := path.with_name(f"{path.name}.refused-{n}")):
        n += 1
    durable_rename(path, aside)
    return aside
