"""Allocating recording ids in the data directory.

``recordings/R000042-1a2b3c/R000042-1a2b3c-S0003.mp4``: the names are the evidence contract's
(:class:`evidence.layout.Layout`); this module hands out the next id, durably.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from evidence.bounded import not_regular, read_regular
from evidence.fsutil import atomic_write, private_dir, set_aside
from evidence.layout import Layout

RECORDINGS = Layout.RECORDINGS
COUNTER = Layout.COUNTER
RECORDING_ID = Layout.RECORDING_ID
SEGMENT_INDEX = Layout.SEGMENT_INDEX
recording_number = Layout.recording_number


def recordings_dir(data_dir: Path) -> Path:
    return data_dir / RECORDINGS


def highest_recording(data_dir: Path) -> int:
    """The highest recording number among the folders (and files) in ``recordings/``: also a
    recording whose footage went to the store leaves its folder, with manifests and receipts."""
    try:
        with os.scandir(recordings_dir(data_dir)) as entries:
            return max((n for e in entries if (n := recording_number(e.name)) is not None),
                       default=0)
    except OSError:
        return 0


def next_recording_id(data_dir: Path, seen: int = 0) -> str:
    """Allocate the next recording id, durably, so a crash never hands one out twice.

    The number is one above the highest of the counter, the recordings here and ``seen`` (the
    highest the audit log started): a counter rolled back, restored or damaged can never make
    the camera reuse a number.
    """
    path = data_dir / COUNTER
    private_dir(path.parent)
    if os.path.lexists(path) and not_regular(path) is not None:
        set_aside(path)  # a folder or FIFO in its place: renamed, never deleted
    try:
        last = int(read_regular(path, 64).decode("ascii").strip() or 0)
    except FileNotFoundError:
        last = 0
    except (OSError, ValueError):
        last = 0  # a damaged counter must not stop the camera recording: what exists decides
    number = max(last, highest_recording(data_dir), seen) + 1
    atomic_write(path, f"{number}\n".encode())
    return f"R{number:06d}-{secrets.token_hex(3)}"

