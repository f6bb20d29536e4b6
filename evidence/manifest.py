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
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence.assignment import UNASSIGNED, collar_problem, officer_problem
from evidence.bounded import MAX_DOCUMENT, BadJSON, digest_regular, loads
from evidence.crypt import header_problem
from evidence.fsutil import atomic_write
from evidence.identity import DeviceIdentity
from evidence.layout import Layout
from evidence.utc import utc_time as parse_evidence_time

FORMAT = "bodycam.segment"
VERSION = 1
MANIFEST_SUFFIX = Layout.MANIFEST
SIGNATURE_SUFFIX = Layout.MANIFEST_SIGNATURE
#: The largest manifest read (the camera writes about 1 KiB).
MAX_MANIFEST = MAX_DOCUMENT
#: The highest segment index a manifest may carry (a month of 4 s segments is ~650,000).
MAX_SEGMENT_INDEX = 10_000_000

_NUMBER = (int, float)
#: field -> the JSON types it may have (bool is never taken for a number).
TYPES: dict[str, tuple[type, ...]] = {
    "device_id": (str,), "model": (str,), "serial": (str,), "recording_id": (str,),
    "segment_index": (int,), "file": (str,), "sha256": (str,), "size": (int,),
    "start_utc": (str,), "end_utc": (str,), "duration_s": _NUMBER, "frame_count": (int,),
    "codec": (str,), "width": (int,), "height": (int,), "fps": _NUMBER,
    "prev_manifest_sha256": (str, type(None)), "last": (bool,), "recovered": (bool,),
    "clock_set": (bool,), "reason": (str,), "pre_event_s": _NUMBER, "markers": (list,),
    "gaps": (list,), "format": (str,), "version": (int,),
}
MARKER_TYPES: dict[str, tuple[type, ...]] = {"utc": (str,), "offset_s": _NUMBER,
                                             "note": (str,)}
#: The location fields (docs/FORMAT.md, "Location"): absent on a camera without a receiver.
LOCATION_TYPES: dict[str, tuple[type, ...]] = {"track": (list,), "no_fix": (list,)}
FIX_TYPES: dict[str, tuple[type, ...]] = {"utc": (str,), "fix_utc": (str,), "lat": _NUMBER,
                                          "lon": _NUMBER, "accuracy_m": _NUMBER,
                                          "satellites": (int,)}
NO_FIX_TYPES: dict[str, tuple[type, ...]] = {"from_utc": (str,), "to_utc": (str,)}
#: The keys of an assigned ``officer`` (docs/FORMAT.md, "Officer").
OFFICER_KEYS = frozenset({"officer_id", "collar", "assigned_utc", "store_id"})
#: Fixes one manifest may carry (a 4-hour segment at one a second).
MAX_FIXES = 14_400
#: One ``encoding`` interval (docs/FORMAT.md, "Encoder settings"): absent on older data.
ENCODING_TYPES: dict[str, tuple[type, ...]] = {"from_s": _NUMBER, "from_utc": (str,),
                                               "codec": (str,), "preset": (str,),
                                               "crf": (int,), "bitrate_kbps": (int,)}
#: Intervals one manifest may carry (a change a second for a 4-hour segment).
MAX_ENCODING = 14_400


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
    #: on an encrypted segment (docs/FORMAT.md, "Encryption at rest"): the algorithm, the
    #: wrapped key, the IV, the force key's fingerprint and the plaintext's SHA-256 and size;
    #: ``sha256`` and ``size`` are then the stored ciphertext's. Absent on unencrypted data.
    encryption: dict[str, Any] | None = None
    #: the fixes taken while the segment was recorded, and the intervals without one
    #: (docs/FORMAT.md, "Location"). Absent (None) from a camera without a receiver, and on
    #: older data.
    track: tuple[dict[str, Any], ...] | None = None
    no_fix: tuple[dict[str, Any], ...] | None = None
    #: the sound track: codec, rate, channels, what was muxed, muted spans, where sound begins
    #: (docs/FORMAT.md). Absent (None) on a segment without sound, and on older data.
    audio: dict[str, Any] | None = None
    #: the encoder's settings in force for each interval of the segment, from its first frame
    #: (docs/FORMAT.md, "Encoder settings"). Absent (None) on older data and recovered segments.
    encoding: tuple[dict[str, Any], ...] | None = None
    #: who wore the camera (docs/FORMAT.md, "Officer"): the store's assignment at the last
    #: dock, or ``"unassigned"``. Absent (None) on older data.
    officer: dict[str, Any] | str | None = None

    def to_bytes(self) -> bytes:
        """Canonical bytes: sorted keys, two-space indent, a final newline. A field added
        after version 1 is left out while unset, so such manifests stay as they were."""
        data = asdict(self)
        for name in ("recovery", "encryption", "track", "no_fix", "audio", "encoding",
                     "officer"):
            if data[name] is None:
                del data[name]
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str = "manifest") -> Manifest:
        try:
            data = loads(raw, where, MAX_MANIFEST)
        except BadJSON as exc:
            raise ManifestError(str(exc)) from None
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: not a JSON object")
        if data.get("format") != FORMAT:
            raise ManifestError(f"{where}: format is {_short(data.get('format'))}, not "
                                f"{FORMAT!r}")
        if data.get("version") != VERSION or isinstance(data.get("version"), bool):
            raise ManifestError(f"{where}: unsupported version {_short(data.get('version'))}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ManifestError(f"{where}: unknown fields {_short(sorted(unknown))}")
        _check_types(data, TYPES, where)
        for marker in data.get("markers", ()):
            if not isinstance(marker, dict) or set(marker) - set(MARKER_TYPES):
                raise ManifestError(f"{where}: a marker is not an object of "
                                    f"{', '.join(MARKER_TYPES)}")
            _check_types(marker, MARKER_TYPES, f"{where}: marker")
        if not all(isinstance(gap, dict) for gap in data.get("gaps", ())):
            raise ManifestError(f"{where}: a gap is not a JSON object")
        for name in ("segment_index", "size", "frame_count", "width", "height"):
            if name in data and data[name] < 0:
                raise ManifestError(f"{where}: {name} is negative")
        if data.get("segment_index", 0) > MAX_SEGMENT_INDEX:
            raise ManifestError(f"{where}: segment_index {data['segment_index']} is over "
                                f"{MAX_SEGMENT_INDEX}")
        for name in ("recovery", "audio"):
            if not isinstance(data.get(name) or {}, dict):
                raise ManifestError(f"{where}: {name} is not a JSON object")
        _check_location(data, where)
        check_encoding(data, where)
        check_officer(data.get("officer"), where)
        if data.get("encryption") is not None:
            problem = header_problem(data["encryption"], whole=True)
            if problem:
                raise ManifestError(f"{where}: {problem}")
        try:
            data["markers"] = tuple(Marker(**m) for m in data.get("markers", ()))
            data["gaps"] = tuple(data.get("gaps", ()))
            if data.get("encoding") is not None:
                data["encoding"] = tuple(data["encoding"])
            return cls(**data)
        except TypeError as exc:
            raise ManifestError(f"{where}: {exc}") from None


def _check_location(data: dict[str, Any], where: str) -> None:
    """``track`` and ``no_fix``: lists of objects of exactly their keys, each value of its
    type, positions on the Earth, times in the evidence format; made tuples in ``data``."""
    _check_types(data, LOCATION_TYPES, where)
    for name, types in (("track", FIX_TYPES), ("no_fix", NO_FIX_TYPES)):
        if name not in data:
            continue
        if len(data[name]) > MAX_FIXES:
            raise ManifestError(f"{where}: {name} has over {MAX_FIXES} entries")
        for entry in data[name]:
            if not isinstance(entry, dict) or set(entry) != set(types):
                raise ManifestError(f"{where}: a {name} entry is not an object of exactly "
                                    f"{', '.join(types)}")
            _check_types(entry, types, f"{where}: {name}")
            for key, kind in types.items():
                if kind == (str,):
                    try:
                        utc_time(entry[key])
                    except ManifestError as exc:
                        raise ManifestError(f"{where}: {name} {key}: {exc}") from None
            if name == "track" and not (-90 <= entry["lat"] <= 90 and -180 <= entry["lon"] <= 180
                                        and entry["accuracy_m"] >= 0 and entry["satellites"] >= 0):
                raise ManifestError(f"{where}: a track fix is off the Earth or negative: "
                                    f"{_short(entry)}")
        data[name] = tuple(data[name])


def check_encoding(data: dict[str, Any], where: str) -> None:
    """``encoding``: a list of objects of exactly its keys, starting at the segment's first
    frame, in order."""
    entries = data.get("encoding")
    if entries is None:
        return
    if not isinstance(entries, list) or not entries or len(entries) > MAX_ENCODING:
        raise ManifestError(f"{where}: encoding is not a list of 1 to {MAX_ENCODING} intervals")
    last = None
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != set(ENCODING_TYPES):
            raise ManifestError(f"{where}: an encoding interval is not an object of "
                                f"{', '.join(ENCODING_TYPES)}")
        _check_types(entry, ENCODING_TYPES, f"{where}: encoding")
        if not 0 <= entry["from_s"] < float("inf") or (last is not None
                                                        and entry["from_s"] < last):
            raise ManifestError(f"{where}: encoding intervals are not in order from 0: "
                                f"{_short(entry['from_s'])}")
        last = entry["from_s"]
    if entries[0]["from_s"] != 0:
        raise ManifestError(f"{where}: the first encoding interval does not start at 0")
def check_officer(officer: object, where: str) -> None:
    """``officer``: absent, ``"unassigned"``, or an object of exactly :data:`OFFICER_KEYS`
    with an officer id and collar number as the store may assign them."""
    if officer is None or officer == UNASSIGNED:
        return
    if not isinstance(officer, dict) or set(officer) != OFFICER_KEYS:
        raise ManifestError(f"{where}: officer is {_short(officer)}, not \"{UNASSIGNED}\" or an "
                            f"object of exactly {', '.join(sorted(OFFICER_KEYS))}")
    for problem in (officer_problem(officer["officer_id"]), collar_problem(officer["collar"])):
        if problem:
            raise ManifestError(f"{where}: officer: {problem}")
    for name in ("assigned_utc", "store_id"):
        if not isinstance(officer[name], str) or len(officer[name]) > 128:
            raise ManifestError(f"{where}: officer {name} is not text")
    try:
        utc_time(officer["assigned_utc"])
    except ManifestError as exc:
        raise ManifestError(f"{where}: officer assigned_utc: {exc}") from None


def _short(value: object) -> str:
    """A value for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_types(data: dict[str, Any], types: dict[str, tuple[type, ...]], where: str) -> None:
    """Every field present has its JSON type (a bool is not a number, nor a number a bool)."""
    for name, kinds in types.items():
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ManifestError(f"{where}: {name} is {_short(value)}, not "
                                f"{' or '.join(_JSON_NAMES[k] for k in kinds)}")


_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "an array", type(None): "null"}


def manifest_path(mp4: Path) -> Path:
    return Layout.manifest(mp4)


def signature_path(mp4: Path) -> Path:
    return Layout.manifest_signature(mp4)


def utc_time(text: str) -> datetime:
    """A manifest's ``start_utc``/``end_utc`` (``2026-01-01T00:00:04.200Z``) as a datetime."""
    try:
        return parse_evidence_time(text)
    except ValueError as exc:
        raise ManifestError(str(exc)) from None


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a regular file, read in pieces (a symlink, FIFO or device
    raises :class:`evidence.bounded.Refused`, an OSError)."""
    return digest_regular(path)


def write_signed_manifest(identity: DeviceIdentity, mp4: Path, manifest: Manifest) -> str:
    """Write the manifest and its signature next to ``mp4``; return the manifest's SHA-256."""
    raw = manifest.to_bytes()
    atomic_write(manifest_path(mp4), raw)
    atomic_write(signature_path(mp4), identity.sign(raw))
    return hashlib.sha256(raw).hexdigest()
