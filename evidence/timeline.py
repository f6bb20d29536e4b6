"""A recording's timeline, read from its signed manifests: the one place it is computed.

The panel draws it and the store's export report lists it. Times are seconds of *playable*
footage from the recording's first frame: segment after segment, each as long as its manifest
says. A gap (time the camera did not record: a sensor fault, a power cut) takes no playing time,
so it is a point at the start of the segment after it, with the wall time it lasted.

Every mark is a dict with ``kind``, ``at_s`` (and ``to_s`` when it spans an interval), the
segment it lies in (``segment``, a position in ``segments``; ``segment_s``, seconds into that
segment's own file, where a player seeks) and a ``label`` for people. The kinds so far:

- ``pre_event``: from 0 to the press, the footage kept from before the recording started;
- ``press``: where the recording was started (a button press or a trigger);
- ``marker``: a bookmark the officer set, with its ``utc`` and ``note``;
- ``gap``: ``from_utc``, ``to_utc``, ``missing_s`` and ``reason``.

New kinds (mute intervals, locations) are further marks of the same shape: a reader that does
not know a kind still has its time, its place and its label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evidence.manifest import Manifest, ManifestError, utc_time

#: Kinds a mark may have; a later version may add more (readers show a kind they do not know
#: by its label).
MARK_KINDS = ("pre_event", "press", "marker", "gap")


def seconds(value: object) -> float | None:
    """A finite, non-negative number of seconds from a manifest field, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _missing_s(gap: dict[str, Any]) -> float | None:
    try:
        missing = (utc_time(gap.get("to_utc")) - utc_time(gap.get("from_utc"))).total_seconds()
    except ManifestError:
        return None
    return round(missing, 3) if missing >= 0 else None


def _span(length: float) -> str:
    """``3.2 s`` or ``2 min 05 s``: a length for a label."""
    if length < 60:
        return f"{length:.1f} s"
    return f"{int(length // 60)} min {int(length % 60):02d} s"


def recording_timeline(segments: Sequence[tuple[str, Manifest | None]]) -> dict[str, Any]:
    """The timeline of one recording from its segments in playing order: each as its file
    name and its manifest (None when it could not be read: it then takes no time and has no
    marks, and the segments after it keep their own marks).

    Never raises on what a manifest holds: a field of the wrong type is left out."""
    out_segments: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    start = 0.0

    def mark(kind: str, position: int, segment_s: float, label: str,
             **extra: Any) -> dict[str, Any]:
        item = {"kind": kind, "at_s": round(start + segment_s, 3), "segment": position,
                "segment_s": round(segment_s, 3), "label": label, **extra}
        marks.append(item)
        return item

    for position, (file, manifest) in enumerate(segments):
        duration = (seconds(manifest.duration_s) if manifest else None) or 0.0
        out_segments.append({"file": file, "start_s": round(start, 3),
                             "end_s": round(start + duration, 3),
                             "index": _count(manifest.segment_index) if manifest else None,
                             "frames": _count(manifest.frame_count) if manifest else None})
        if manifest is None:
            continue
        for gap in manifest.gaps:
            if isinstance(gap, dict):
                missing = _missing_s(gap)
                reason = _text(gap.get("reason"))
                # a power cut's gap has no known length (from and to are the same moment)
                mark("gap", position, 0.0,
                     f"gap{' of ' + _span(missing) if missing else ''}"
                     f"{': ' + reason if reason else ''}",
                     from_utc=_text(gap.get("from_utc")), to_utc=_text(gap.get("to_utc")),
                     missing_s=missing, reason=reason)
        if manifest.segment_index == 0:
            pre = min(seconds(manifest.pre_event_s) or 0.0, duration)
            if pre > 0:
                mark("pre_event", position, 0.0, f"pre-event {_span(pre)}",
                     to_s=round(start + pre, 3))
            reason = _text(manifest.reason)
            mark("press", position, pre, f"started{' by ' + reason if reason else ''}",
                 reason=reason)
        found = []
        for marker in manifest.markers:
            offset = seconds(getattr(marker, "offset_s", None))
            if offset is not None:
                found.append((min(offset, duration), marker))
        for offset, marker in sorted(found, key=lambda m: m[0]):
            note = _text(marker.note)
            mark("marker", position, offset, f"marker{': ' + note if note else ''}",
                 utc=_text(marker.utc), note=note)
        start += duration
    marks.sort(key=lambda m: m["at_s"])  # stable: at one time, in the order added above
    return {"duration_s": round(start, 3), "segments": out_segments, "marks": marks}
