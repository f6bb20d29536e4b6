"""What the camera reports about itself, typed: the recording under way, the last one closed,
and the whole status that ``bodycam status``, the control socket and the serial console show.

The JSON form (:meth:`Status.to_json`) is a stable interface: scripts read it. Its keys, their
order and their types are those of every earlier release (``tests/test_status.py``); a field
may be added, none removed or changed. :meth:`Status.from_json` reads it back, for a client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hal.indicators import LedState

#: Status's ``encryption`` when encryption is off: a development setting only (docs/BEHAVIOUR.md).
ENCRYPTION_OFF = "off (development setting)"


@dataclass
class Recording:
    """The recording under way, as the daemon keeps it (its thread alone changes it)."""

    id: str
    reason: str
    started_utc: str
    started_mono: float
    pre_event: bool
    segments: int = 0
    markers: int = 0
    #: When the first frame captured after the press was written (press-to-record latency).
    first_live_written_mono: float | None = None


@dataclass(frozen=True)
class RecordingStatus:
    """The recording under way as the status shows it: how long it has run."""

    id: str
    reason: str
    started_utc: str
    segments: int
    markers: int
    pre_event: bool
    seconds: float
    first_live_written_mono: float | None = None

    @classmethod
    def of(cls, recording: Recording, now_mono: float) -> RecordingStatus:
        return cls(recording.id, recording.reason, recording.started_utc, recording.segments,
                   recording.markers, recording.pre_event,
                   round(now_mono - recording.started_mono, 3),
                   recording.first_live_written_mono)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "reason": self.reason,
                               "started_utc": self.started_utc, "segments": self.segments,
                               "markers": self.markers, "pre_event": self.pre_event}
        if self.first_live_written_mono is not None:  # shown once there is one
            out["first_live_written_mono"] = self.first_live_written_mono
        out["seconds"] = self.seconds
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordingStatus:
        return cls(data["id"], data["reason"], data["started_utc"], data["segments"],
                   data["markers"], data["pre_event"], data["seconds"],
                   data.get("first_live_written_mono"))


@dataclass(frozen=True)
class ClosedRecording:
    """A recording the pipeline has closed: its segments' files and why it ended."""

    id: str
    segments: list[str]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "segments": list(self.segments), "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClosedRecording:
        return cls(data["id"], list(data["segments"]), data["reason"])


@dataclass(frozen=True)
class Status:
    """The camera now. ``recovered`` (what this boot recovered after a power cut, see
    ``device/pipeline/recovery.py``) and ``upload`` (``Uploader.status``) are those parts'
    own reports, passed on as they give them."""

    mode: str
    camera: str
    fault: str | None
    flags: dict[str, bool]
    docked: bool
    device_id: str | None
    led: LedState
    battery_percent: float
    charging: bool
    storage_free_bytes: int
    buffered_s: float
    frames_captured: int
    frames_dropped: int
    recording: RecordingStatus | None
    last_recording: ClosedRecording | None
    recovered: list[dict[str, Any]]
    audit_entries: int | None
    audit_error: str | None
    utc: str
    clock_set: bool
    data_dir: str
    upload: dict[str, Any]
    #: the receiver (on, off or none), the fresh fix or None, unreadable sentences counted
    location: dict[str, Any] = field(default_factory=dict)
    #: the sound: ``level_dbfs`` (the microphone's last block after mute, for a meter),
    #: ``blocks_captured``, ``blocks_dropped``; None on a camera recording picture only
    audio: dict[str, Any] | None = None
    #: "on (force key SHA256:…)" or :data:`ENCRYPTION_OFF` (footage is on the card in the clear)
    encryption: str = ENCRYPTION_OFF
    #: the encoder's settings in force and the real-time watch (device/pipeline/adapt.py):
    #: codec, preset, crf, bitrate_kbps, settings (one line), configured, floor, level,
    #: adapted, hardware, load (work per frame over the frame interval), changes
    encoder: dict[str, Any] = field(default_factory=dict)
    #: who wears the camera: "OFFICER (collar NUMBER)" as the store assigned it at the last
    #: dock, or "unassigned" (device/assignment.py)
    officer: str = "unassigned"

    @property
    def flags_up(self) -> list[str]:
        return [name for name, up in self.flags.items() if up]

    def to_json(self) -> dict[str, Any]:
        """The status as JSON sends it, in its key order."""
        return {
            "mode": self.mode,
            "camera": self.camera,
            "fault": self.fault,
            "flags": dict(self.flags),
            "docked": self.docked,
            "device_id": self.device_id,
            "led": self.led.as_dict(),
            "battery_percent": self.battery_percent,
            "charging": self.charging,
            "storage_free_bytes": self.storage_free_bytes,
            "buffered_s": self.buffered_s,
            "frames_captured": self.frames_captured,
            "frames_dropped": self.frames_dropped,
            "recording": self.recording.to_json() if self.recording else None,
            "last_recording": self.last_recording.to_json() if self.last_recording else None,
            "recovered": [dict(r) for r in self.recovered],
            "audit_entries": self.audit_entries,
            "audit_error": self.audit_error,
            "utc": self.utc,
            "clock_set": self.clock_set,
            "data_dir": self.data_dir,
            "upload": dict(self.upload),
            "location": dict(self.location),
            "audio": dict(self.audio) if self.audio is not None else None,
            "encryption": self.encryption,
            "encoder": dict(self.encoder),
            "officer": self.officer,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Status:
        """A status a daemon sent; raises KeyError, TypeError or ValueError if it is not one."""
        led = data["led"]
        recording, last = data["recording"], data["last_recording"]
        return cls(
            mode=data["mode"], camera=data["camera"], fault=data["fault"],
            flags=dict(data["flags"]), docked=data["docked"], device_id=data["device_id"],
            led=LedState(led["colour"], led["on_s"], led["off_s"], led["alt"],
                         led["every_led"]),
            battery_percent=data["battery_percent"], charging=data["charging"],
            storage_free_bytes=data["storage_free_bytes"], buffered_s=data["buffered_s"],
            frames_captured=data["frames_captured"], frames_dropped=data["frames_dropped"],
            recording=RecordingStatus.from_json(recording) if recording else None,
            last_recording=ClosedRecording.from_json(last) if last else None,
            recovered=[dict(r) for r in data["recovered"]],
            audit_entries=data["audit_entries"], audit_error=data["audit_error"],
            utc=data["utc"], clock_set=data["clock_set"], data_dir=data["data_dir"],
            upload=dict(data["upload"]), location=dict(data.get("location", {})),
            audio=dict(data["audio"]) if data.get("audio") is not None else None,
            encryption=str(data.get("encryption", "off")),
            encoder=dict(data.get("encoder") or {}),
            officer=str(data.get("officer", "unassigned")))
