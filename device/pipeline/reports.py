"""What the pipeline tells the daemon, as typed reports (posted to the daemon's queue).

The daemon audits them with :func:`dataclasses.asdict`, so each report's fields, in order,
are the audit entry's (unchanged from when they were keyword arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SegmentClosed:
    """A segment was finalised, signed and renamed into place."""

    recording_id: str
    file: str
    index: int
    frames: int
    last: bool
    manifest_sha256: str


@dataclass(frozen=True)
class RecordingClosed:
    """A recording ended (its last segment, or terminator, is published)."""

    recording_id: str
    segments: list[str]
    reason: str


@dataclass(frozen=True)
class FirstLiveFrame:
    """The first frame captured after the press is in the segment: press-to-record latency."""

    recording_id: str
    captured: float  # monotonic
    written: float  # monotonic


@dataclass(frozen=True)
class StorageFull:
    """Free space fell below the reserve; the recording was finalised."""


@dataclass(frozen=True)
class StorageError:
    """A write, fsync or rename failed (ENOSPC, EIO); ``recording_id`` is the one it cut."""

    error: str
    recording_id: str | None


@dataclass(frozen=True)
class PipelineError:
    """A thread caught an unexpected exception and carries on."""

    stage: str  # "encoder" or "recorder"
    error: str


@dataclass(frozen=True)
class PipelineStats:
    """The numbers ``status`` shows, read from any thread."""

    buffered_s: float
    frames_captured: int
    frames_dropped: int
    #: the sound (None: picture only): the last block's level after the gate, dBFS
    #: (-120 for digital silence), and the microphone's blocks taken and dropped
    audio_level_dbfs: float | None = None
    blocks_captured: int = 0
    blocks_dropped: int = 0
    #: the encoder's settings in force and the real-time watch's state (adapt.py)
    encoder: dict[str, Any] | None = None


@dataclass(frozen=True)
class EncoderAdapted:
    """Once per recording whose encoder settings changed under load: how many changes, and the
    seconds recorded at each setting (each segment's manifest has the intervals)."""

    recording_id: str
    changes: int
    seconds: dict[str, float]


Report = SegmentClosed | RecordingClosed | FirstLiveFrame | StorageFull | StorageError | \
    PipelineError | EncoderAdapted
ReportSink = Callable[[Report], None]
