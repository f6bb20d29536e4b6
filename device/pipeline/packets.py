"""Encoded H.264 packets as they move between pipeline stages, and their codec headers.

Packets are Annex B (start codes). The encoder repeats SPS/PPS before every keyframe, so any
keyframe carries the headers a file needs: a segment cut there, or a recording that starts
wherever the pre-event buffer happens to begin, always plays on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_START_CODE = re.compile(b"\x00\x00\x01")
NAL_SPS = 7
NAL_PPS = 8


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded frame. ``pts`` counts frame slots since the camera started."""

    data: bytes
    pts: int
    keyframe: bool
    t_mono: float
    wall: float

    @property
    def size(self) -> int:
        return len(self.data)


def nal_units(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (without start codes).

    Emulation prevention guarantees ``00 00 01`` never occurs inside a NAL unit, so splitting on
    it is exact; trailing zero bytes before a 4-byte start code are dropped.
    """
    starts = [m.end() for m in _START_CODE.finditer(data)]
    units = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        unit = data[start:end]
        if i + 1 < len(starts):
            unit = unit.rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS of a keyframe packet, as Annex B: the MP4 muxer's ``extradata``."""
    units = [u for u in nal_units(data) if u[0] & 0x1F in (NAL_SPS, NAL_PPS)]
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)
