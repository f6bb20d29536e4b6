"""Faces followed across frames, so that a blur does not flicker off between detections.

Detections are associated with tracks greedily by overlap (IoU), or by a centre close to the
track's last box for a face that moved fast. A track whose face is not found is held for
``hold`` frames; when the face is found again its box is interpolated over the missed frames.
Every track is also extended ``hold`` frames before its first and after its last detection
(holding that box), since the detector is late and early rather than never wrong that way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from store.redaction.detector import Box, iou


@dataclass
class Track:
    track_id: int
    found: dict[int, Box] = field(default_factory=dict)  # frame -> detected box

    @property
    def last_frame(self) -> int:
        return max(self.found)

    def last_box(self) -> Box:
        return self.found[self.last_frame]


@dataclass
class Tracker:
    hold: int = 15
    min_iou: float = 0.2
    tracks: list[Track] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"association": "greedy IoU, or a centre within half a box", "min_iou":
                self.min_iou, "hold_frames": self.hold,
                "gaps": "interpolated linearly between detections"}

    def update(self, frame: int, boxes: list[Box]) -> None:
        """Add one frame's detections (frames in increasing order)."""
        live = [t for t in self.tracks if frame - t.last_frame <= self.hold]
        pairs = sorted(((_score(t.last_box(), b, self.min_iou), ti, bi) for ti, t in enumerate(live)
                        for bi, b in enumerate(boxes)), reverse=True)
        used_t: set[int] = set()
        used_b: set[int] = set()
        for score, ti, bi in pairs:
            if score <= 0 or ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            live[ti].found[frame] = boxes[bi]
        for bi, box in enumerate(boxes):
            if bi not in used_b:
                self.tracks.append(Track(len(self.tracks), {frame: box}))

    def boxes(self, frame_count: int) -> dict[int, list[tuple[int, Box]]]:
        """frame -> [(track id, box)] for every frame a track covers."""
        out: dict[int, list[tuple[int, Box]]] = {}
        for track in self.tracks:
            frames = sorted(track.found)
            for a, b in itertools.pairwise(frames):
                for f in range(a, b):
                    out.setdefault(f, []).append((track.track_id, _lerp(
                        track.found[a], track.found[b], (f - a) / (b - a))))
            for f in range(max(0, frames[0] - self.hold), frames[0]):
                out.setdefault(f, []).append((track.track_id, track.found[frames[0]]))
            for f in range(frames[-1], min(frame_count, frames[-1] + self.hold + 1)):
                out.setdefault(f, []).append((track.track_id, track.found[frames[-1]]))
        return out


def _score(track_box: Box, box: Box, min_iou: float) -> float:
    overlap = iou(track_box, box)
    if overlap >= min_iou:
        return 1.0 + overlap
    tx, ty = track_box[0] + track_box[2] / 2, track_box[1] + track_box[3] / 2
    bx, by = box[0] + box[2] / 2, box[1] + box[3] / 2
    reach = max(track_box[2], track_box[3], box[2], box[3]) / 2
    distance = ((tx - bx) ** 2 + (ty - by) ** 2) ** 0.5
    return 1.0 - distance / reach if distance < reach else 0.0


def _lerp(a: Box, b: Box, t: float) -> Box:
    return tuple(round(p + (q - p) * t) for p, q in zip(a, b, strict=True))  # type: ignore[return-value]
