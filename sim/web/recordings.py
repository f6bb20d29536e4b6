"""The recordings on the camera as the panel lists them: each with its verification status.

Verification is :func:`evidence.verify.verify`, the same check ``bodycam verify`` runs,
so the panel never says "verified" for anything the verifier would not. A recording is checked
again only when its files change (not while the open segment merely grows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from device.recordings import recordings_dir
from evidence.bounded import read_regular
from evidence.manifest import MANIFEST_SUFFIX, MAX_MANIFEST, Manifest, ManifestError
from evidence.timeline import recording_timeline, seconds
from evidence.verify import Finding, verify

#: Worst first: a recording shows the first of these that any of its findings has; "verified"
#: only when every finding is ``ok`` (one that could not be checked is an ``error``).
STATUS_ORDER = ("tampered", "unsigned", "unenrolled", "error", "interrupted", "unterminated")


def media_url(recording_id: str, name: str) -> str:
    return f"/media/{recording_id}/{name}"


def _signature(folder: Path) -> tuple[tuple[str, int], ...]:
    """What verification depends on: finished files and their sizes, and which ``.part`` files
    exist (not their size, which grows with every write)."""
    items = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file():
                size = -1 if entry.name.endswith(".part") else entry.stat().st_size
                items.append((entry.name, size))
    return tuple(sorted(items))


def _manifest(mp4: Path) -> Manifest | None:
    """The segment's manifest, when it is one (the verifier decides whether to trust it)."""
    try:
        return Manifest.from_bytes(read_regular(mp4.with_name(mp4.name + MANIFEST_SUFFIX),
                                                      MAX_MANIFEST))
    except (OSError, ManifestError):
        return None


def _shown(value: object, kind: type) -> Any:
    """A manifest field as the page shows it; None when it is not of its kind (a damaged or
    hostile manifest must not break the list, and the verifier says what is wrong with it)."""
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def summarise(folder: Path, findings: list[Finding]) -> dict[str, Any]:
    recording_id = folder.name
    segments: list[dict[str, Any]] = []
    manifests: list[tuple[str, Manifest | None]] = []
    by_path = {Path(f.path).name: f for f in findings}
    for mp4 in sorted(folder.glob("*.mp4")):
        finding = by_path.get(mp4.name)
        manifest = _manifest(mp4)
        manifests.append((mp4.name, manifest))
        segments.append({
            "file": mp4.name, "url": media_url(recording_id, mp4.name),
            "status": finding.status if finding else "unknown",
            "detail": finding.detail if finding else "",
            "duration_s": None, "frames": None, "start_utc": None, "recovered": False,
            "markers": 0, "reason": None,
        })
        if manifest is not None:
            segments[-1].update(
                duration_s=seconds(manifest.duration_s),
                frames=_shown(manifest.frame_count, int),
                start_utc=_shown(manifest.start_utc, str),
                recovered=manifest.recovered is True, markers=len(manifest.markers),
                reason=_shown(manifest.reason, str))
    timeline = recording_timeline(manifests)
    for seg, shown in zip(timeline["segments"], segments, strict=True):
        seg.update(url=shown["url"], status=shown["status"])
    for mark in timeline["marks"]:  # what the verifier does not vouch for, the page says so
        mark["verified"] = timeline["segments"][mark["segment"]]["status"] == "ok"
    parts = sorted(p.name for p in folder.glob("*.part"))
    statuses = {f.status for f in findings if not f.ok}
    status = next((s for s in (*STATUS_ORDER, *sorted(statuses)) if s in statuses),
                  "verified" if segments else "empty")
    problem = next((f.detail for f in findings if f.status == status), "")
    first = segments[0] if segments else {}
    return {
        "id": recording_id, "status": status, "detail": problem, "segments": segments,
        "parts": parts, "reason": first.get("reason"), "start_utc": first.get("start_utc"),
        "duration_s": round(sum(s["duration_s"] or 0 for s in segments), 3),
        "recovered": any(s["recovered"] for s in segments),
        "markers": sum(s["markers"] for s in segments),
        "timeline": timeline,
    }


class Recordings:
    """The list, newest first, re-verified per recording when its files change."""

    def __init__(self, data_dir: Path) -> None:
        self.root = recordings_dir(data_dir)
        self._cache: dict[str, tuple[tuple[tuple[str, int], ...], dict[str, Any]]] = {}
        self.items: list[dict[str, Any]] = []

    def refresh(self, active: str | None = None) -> bool:
        """Look again; True when anything shown changed. ``active`` is being recorded."""
        folders = sorted((p for p in self.root.glob("*") if p.is_dir()), reverse=True) \
            if self.root.is_dir() else []
        cache: dict[str, tuple[tuple[tuple[str, int], ...], dict[str, Any]]] = {}
        items = []
        for folder in folders:
            try:
                signature = _signature(folder)
            except OSError:
                continue
            cached = self._cache.get(folder.name)
            if cached is None or cached[0] != signature:
                cached = (signature, summarise(folder, verify([folder])))
            cache[folder.name] = cached
            item = cached[1]
            if folder.name == active:  # still being written: not finished, not a problem
                item = {**item, "status": "recording", "detail": "being recorded"}
            items.append(item)
        self._cache = cache
        changed = items != self.items
        self.items = items
        return changed
