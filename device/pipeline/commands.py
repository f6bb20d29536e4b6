"""What the daemon sends down the pipeline, in band with the frames.

Commands travel in the same queues as frames, so a record press lands exactly between the frames
captured before it and those after, whatever the threads' timing.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.location import LocationSample
from device.pipeline.segments import RecordingInfo


@dataclass(frozen=True)
class StartRecording:
    info: RecordingInfo
    with_pre_event: bool
    t_press: float  # when the gesture or trigger asked for it (monotonic)


@dataclass(frozen=True)
class StopRecording:
    wall: float  # when the stop happened, for a recording that ends while the camera is out
    reason: str = "stopped"  # what ended it ("record hold", "battery critical (2 %)", ...)


@dataclass(frozen=True)
class SetBuffering:
    on: bool


@dataclass(frozen=True)
class AddMarker:
    t_mono: float
    utc: str
    note: str


@dataclass(frozen=True)
class CameraRestarted:
    """The sensor (re)started: timestamps continue from the last slot, on a keyframe."""


@dataclass(frozen=True)
class CameraLost:
    """The sensor failed mid-recording: finalise the open segment and note the gap."""

    wall: float
    reason: str


@dataclass(frozen=True)
class CameraBack:
    """The sensor answers again: the recording continues in a new segment, from a keyframe."""


Command = (StartRecording | StopRecording | SetBuffering | AddMarker | CameraRestarted
           | CameraLost | CameraBack | LocationSample)
