"""Durable, private file writes: write a temporary file, fsync it, rename it, fsync the directory.

A reader then sees either the old file or the whole new one, also after a power cut. Evidence,
keys and catalogues are the owner's only: files are created 0600 and folders 0700 with the mode
set exactly (``fchmod``/``chmod``), so a permissive umask never widens them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
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
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def open_private(path: Path) -> BinaryIO:
    """``open(path, "wb")``, but a file it creates is 0600 (the owner's only) whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
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
