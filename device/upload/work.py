"""What is left to upload: every closed segment still on the camera, marked recordings first.

A closed segment is ``NAME.mp4`` with its manifest and signature (the pipeline renames a
``.part`` only after both are written, so a ``.part`` or its pending record is never offered).
A recording goes first when any of its segments has a marker or it was started by a trigger
(``reason`` ``trigger:NAME``); then recordings in the order they were made, each segment in
chain order (the store checks the chain in order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.recordings import recordings_dir
from evidence.bounded import not_regular, read_regular
from evidence.kept import is_quarantined
from evidence.manifest import (
    MAX_MANIFEST,
    Manifest,
    ManifestError,
    manifest_path,
    signature_path,
)


@dataclass(frozen=True)
class Segment:
    mp4: Path
    manifest: Manifest
    priority: bool

    @property
    def recording_id(self) -> str:
        return self.manifest.recording_id


def is_priority(manifest: Manifest) -> bool:
    return bool(manifest.markers) or manifest.reason.startswith("trigger:")


def pending_segments(data_dir: Path) -> tuple[list[Segment], list[str]]:
    """Segments to upload in order, and one line for each MP4 that cannot be offered."""
    found: list[tuple[Path, Manifest]] = []
    problems: list[str] = []
    for mp4 in sorted(recordings_dir(data_dir).glob("R*/*.mp4")):
        if is_quarantined(mp4):
            continue
        if not signature_path(mp4).exists():
            problems.append(f"{mp4.name}: no signature next to it; not uploaded")
            continue
        odd = _not_regular(mp4, manifest_path(mp4), signature_path(mp4))
        if odd is not None:  # a link, FIFO or folder: reading it could hang or leave the card
            problems.append(f"{odd}; not uploaded")
            continue
        try:
            manifest = Manifest.from_bytes(read_regular(manifest_path(mp4), MAX_MANIFEST),
                                           mp4.name + ".json")
        except (OSError, ManifestError) as exc:
            problems.append(f"{mp4.name}: manifest unreadable ({exc}); not uploaded")
            continue
        found.append((mp4, manifest))
    marked = {m.recording_id for _, m in found if is_priority(m)}
    segments = [Segment(mp4, m, m.recording_id in marked) for mp4, m in found]
    segments.sort(key=lambda s: (not s.priority, s.recording_id, s.manifest.segment_index))
    return segments, problems


def _not_regular(*paths: Path) -> str | None:
    """The first of ``paths`` that is there but not a regular file, and what it is."""
    for path in paths:
        try:
            why = not_regular(path)
        except OSError:
            continue  # missing: reported as such by the caller
        if why is not None:
            return f"{path.name} is {why}"
    return None
