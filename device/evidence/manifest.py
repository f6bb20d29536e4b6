"""The segment manifest: what a segment is, bound to its bytes, its recording and its neighbour.

For every ``NAME.mp4`` there is ``NAME.mp4.json`` (this manifest, UTF-8 JSON) and
``NAME.mp4.json.sig`` (the raw 64-byte Ed25519 signature over the manifest file's exact bytes).
``prev_manifest_sha256`` is the SHA-256 of the previous segment's manifest *file*, so the segments
of a recording form a hash chain. docs/FORMAT.md documents every field; this is the one place
that writes and reads them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from device.evidence.identity import DeviceIdentity
from device.fsutil import atomic_write

FORMAT = "bodycam.segment"
VERSION = 1
MANIFEST_SUFFIX = ".json"
SIGNATURE_SUFFIX = ".json.sig"


class ManifestError(ValueError):
    """A manifest is not valid JSON of this format; the message says what is wrong."""


@dataclass(frozen=True)
class Marker:
    """A bookmark the officer set (function button), at a time within the segment."""

    utc: str
    offset_s: float
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    device_id: str
    model: str
    serial: str
    recording_id: str
    segment_index: int
    file: str
    sha256: str
    size: int
    start_utc: str
    end_utc: str
    duration_s: float
    frame_count: int
    codec: str
    width: int
    height: int
    fps: float
    prev_manifest_sha256: str | None
    last: bool
    recovered: bool = False
    clock_set: bool = True
    reason: str = "button"
    pre_event_s: float = 0.0
    markers: tuple[Marker, ...] = field(default_factory=tuple)
    gaps: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    #: True: ``end_utc`` is a capture time too (docs/FORMAT.md). Older manifests (and a
    #: segment rebuilt after power loss) took it from the frame slots, which may run ahead.
    capture_times: bool = False
    format: str = FORMAT
    version: int = VERSION
    #: on a segment recovered after power loss: what its fragment signatures vouched for and
    #: what was set aside unverified (docs/FORMAT.md). Absent (None) otherwise, and on older data.
    recovery: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        """Canonical bytes: sorted keys, two-space indent, a final newline. A field added
        after version 1 is left out while unset, so such manifests stay as they were."""
        data = asdict(self)
        if data["recovery"] is None:
            del data["recovery"]
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str = "manifest") -> Manifest:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{where}: not UTF-8 JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: not a JSON object")
        if data.get("format") != FORMAT:
            raise ManifestError(f"{where}: format is {data.get('format')!r}, not {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ManifestError(f"{where}: unsupported version {data.get('version')!r}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ManifestError(f"{where}: unknown fields {sorted(unknown)}")
        if not isinstance(data.get("recovery") or {}, dict):
            raise ManifestError(f"{where}: recovery is not a JSON object")
        try:
            data["markers"] = tuple(Marker(**m) for m in data.get("markers", ()))
            data["gaps"] = tuple(data.get("gaps", ()))
            return cls(**data)
        except TypeError as exc:
            raise ManifestError(f"{where}: {exc}") from None


def manifest_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + MANIFEST_SUFFIX)


def signature_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + SIGNATURE_SUFFIX)


def utc_time(text: str) -> datetime:
    """A manifest's ``start_utc``/``end_utc`` (``2026-01-01T00:00:04.200Z``) as a datetime."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ManifestError(f"time {text!r} is not UTC ISO-8601 with milliseconds and Z") from None


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file (read into one reused buffer, never all at once)."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
        return digest.hexdigest(), f.tell()


def write_signed_manifest(identity: DeviceIdentity, mp4: Path, manifest: Manifest) -> str:
    """Write the manifest and its signature next to ``mp4``; return the manifest's SHA-256."""
    raw = manifest.to_bytes()
    atomic_write(manifest_path(mp4), raw)
    atomic_write(signature_path(mp4), identity.sign(raw))
    return hashlib.sha256(raw).hexdigest()
