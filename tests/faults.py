"""Real write failures for tests: ENOSPC and EIO raised at the Nth write, fsync or rename that
the device makes, through the seam in ``evidence/fsutil.py``; and a genuinely full filesystem
(a small tmpfs) where the machine lets a test mount one."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evidence import fsutil


@dataclass
class Faults:
    """Fail the ``after + 1``-th matching operation, and (``sticky``: a full card) every later
    one until :meth:`clear`. ``partial``: the failing write first puts down that many bytes,
    as a card with a few bytes left does. ``where``/``ends``: only targets whose name contains
    / ends with it (a descriptor's file is looked up)."""

    ops: tuple[str, ...] = ("write",)
    error: int = errno.ENOSPC
    after: int = 0
    partial: int = 0
    sticky: bool = True
    where: str = ""
    ends: str = ""
    seen: int = 0
    failed: list[str] = field(default_factory=list)
    armed: bool = True

    def __call__(self, op: str, target: str) -> int | None:
        if not self.armed or op not in self.ops or not self._matches(target):
            return None
        self.seen += 1
        if self.seen <= self.after:
            return None
        if self.partial:
            allowed, self.partial = self.partial, 0
            return allowed  # a short write: the next one fails
        if not self.sticky:
            self.armed = False
        self.failed.append(f"{op} {self._name(target)}")
        raise OSError(self.error, os.strerror(self.error), self._name(target))

    def clear(self) -> None:
        """Space is back (or the card answers again)."""
        self.armed = False

    def _name(self, target: str) -> str:
        if target.isdigit():
            with contextlib.suppress(OSError):
                return os.readlink(f"/proc/self/fd/{target}")
        return target

    def _matches(self, target: str) -> bool:
        name = self._name(target)
        return self.where in name and name.endswith(self.ends)


@contextlib.contextmanager
def injected(faults: Faults) -> Iterator[Faults]:
    previous, fsutil.fault = fsutil.fault, faults
    try:
        yield faults
    finally:
        fsutil.fault = previous


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``path``; the test is skipped where none can be mounted
    (not root, or no mount permission): the seam above covers the same paths there."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(path)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def fill(directory: Path, leave: int) -> Path:
    """Fill the filesystem holding ``directory`` until ``leave`` bytes remain."""
    st = os.statvfs(directory)
    filler = directory / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler
