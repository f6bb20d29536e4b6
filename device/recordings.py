"""Where recordings live in the data directory and how they are named.

``recordings/R000042-1a2b3c/R000042-1a2b3c-S0003.mp4``: a persistent counter (never reused, not
the wall clock, which may be unset) makes names sort in recording order; three random bytes keep
ids unique if a camera is wiped and provisioned again.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from device.fsutil import atomic_write, private_dir

RECORDINGS = Path("recordings")
COUNTER = Path("state") / "recording_counter"
#: A recording id, as a folder name or the start of a segment's file name.
RECORDING_ID = re.compile(r"R\d{6,}-[0-9a-f]{6}")
#: A segment's index in its file name: ``R000042-1a2b3c-S0003.mp4``.
SEGMENT_INDEX = re.compile(r"-S(\d{4,})\.mp4$")


def recordings_dir(data_dir: Path) -> Path:
    return data_dir / RECORDINGS


def next_recording_id(data_dir: Path) -> str:
    """Allocate the next recording id, durably, so a crash never hands one out twice."""
    path = data_dir / COUNTER
    private_dir(path.parent)
    try:
        last = int(path.read_text().strip() or 0)
    except FileNotFoundError:
        last = 0
    except ValueError:
        # A damaged counter must not stop the camera recording: continue past what exists.
        last = len(list(recordings_dir(data_dir).glob("R*")))
    number = last + 1
    atomic_write(path, f"{number}\n".encode())
    return f"R{number:06d}-{secrets.token_hex(3)}"
