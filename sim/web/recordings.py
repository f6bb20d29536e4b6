"""The recordings on the camera as the panel lists them: each with its verification status.

Verification is :func:`device.evidence.verify.verify`, the same check ``bodycam verify`` runs,
so the panel never says "verified" for anything the verifier would not. A recording is checked
again only when its files change (not while the open segment merely grows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from device.bounded import read_json
from device.evidence.manifest import MANIFEST_SUFFIX
from device.evidence.verify import Finding, verify
from device.recordings import recordings_dir

#: Worst first: a recording shows the first of these that any of its findings has.
STATUS_ORDER = ("tampered", "unsigned", "interrupted", "unterminated")


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


def _manifest(mp4: Path) -> dict[str, Any]:
    """The manifest's fields for display (the verifier decides whether to trust them)."""
    try:
        data = read_json(mp4.with_name(mp4.name + MANIFEST_SUFFIX))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def summarise(folder: Path, findings: list[Finding]) -> dict[str, Any]:
    recording_id = folder.name
    segments, parts = [], []
    by_path = {Path(f.path).name: f for f in findings}
    for mp4 in sorted(folder.glob("*.mp4")):
        finding = by_path.get(mp4.name)
        manifest = _manifest(mp4)
        segments.append({
            "file": mp4.name, "url": media_url(recording_id, mp4.name),
            "status": finding.status if finding else "unknown",
            "detail": finding.detail if finding else "",
            "duration_s": manifest.get("duration_s"), "frames": manifest.get("frame_count"),
            "start_utc": manifest.get("start_utc"), "recovered": bool(manifest.get("recovered")),
            "markers": len(manifest.get("markers") or ()), "reason": manifest.get("reason"),
        })
    parts = sorted(p.name for p in folder.glob("*.part"))
    statuses = {f.status for f in findings}
    status = next((s for s in STATUS_ORDER if s in statuses), "verified" if segments else "empty")
    problem = next((f.detail for f in findings if f.status == status), "")
    first = segments[0] if segments else {}
    return {
        "id": recording_id, "status": status, "detail": problem, "segments": segments,
        "parts": parts, "reason": first.get("reason"), "start_utc": first.get("start_utc"),
        "duration_s": round(sum(s["duration_s"] or 0 for s in segments), 3),
        "recovered": any(s["recovered"] for s in segments),
        "markers": sum(s["markers"] for s in segments),
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
