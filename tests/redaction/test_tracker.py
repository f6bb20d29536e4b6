"""The tracker: a face missed for a few frames keeps its blur, interpolated between finds and
held after the last; two faces stay two tracks. And the detector's cascades: shipped, recorded,
and a missing one named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.redaction import RedactionError
from store.redaction.detector import FRONTAL, PROFILE, FaceDetector
from store.redaction.tracker import Tracker


def test_missed_frames_are_interpolated_and_the_box_held() -> None:
    tracker = Tracker(hold=5)
    for f in range(20):
        tracker.update(f, [(10 + 2 * f, 20, 30, 30)] if f in (0, 1, 2, 7, 8) else [])
    boxes = tracker.boxes(20)
    assert len(tracker.tracks) == 1
    covered = sorted(boxes)
    assert covered == list(range(0, 14))  # 0..8 found or filled, held 5 more (9..13)
    for f in (3, 4, 5, 6):  # between the finds at 2 and 7: on the line between them
        [(_, box)] = boxes[f]
        assert box == (10 + 2 * f, 20, 30, 30)
    assert boxes[13] == [(0, (26, 20, 30, 30))]  # the last find, held


def test_the_track_starts_early_and_stops_at_the_footage_end() -> None:
    tracker = Tracker(hold=3)
    for f in range(10):
        tracker.update(f, [(50, 50, 20, 20)] if f >= 5 else [])
    assert sorted(tracker.boxes(10)) == list(range(2, 10))


def test_a_face_gone_longer_than_the_hold_starts_a_new_track() -> None:
    tracker = Tracker(hold=2)
    for f in range(10):
        tracker.update(f, [(50, 50, 20, 20)] if f in (0, 9) else [])
    assert len(tracker.tracks) == 2


def test_two_faces_are_two_tracks_and_a_fast_move_stays_one() -> None:
    tracker = Tracker(hold=5)
    for f in range(6):
        tracker.update(f, [(5 + 8 * f, 10, 40, 40), (200, 100, 40, 40)])
    assert len(tracker.tracks) == 2
    assert {len(t.found) for t in tracker.tracks} == {6}


def test_a_missing_cascade_is_one_line_naming_the_package(tmp_path: Path) -> None:
    """As with OpenCV 5.0, which ships no cascades."""
    with pytest.raises(RedactionError) as exc:
        FaceDetector(folder=tmp_path)
    message = str(exc.value)
    assert "haarcascade_frontalface_default.xml not found" in message
    assert "opencv-python-headless 4.x" in message and "\n" not in message
    (tmp_path / "haarcascade_frontalface_default.xml").write_text("<not a cascade/>")
    with pytest.raises(RedactionError, match="not a readable OpenCV cascade"):
        FaceDetector(folder=tmp_path)


def test_the_shipped_cascades_are_found_and_recorded() -> None:
    detector = FaceDetector()
    described = detector.describe()
    assert set(described["cascades_sha256"]) == {FRONTAL, PROFILE}
    assert all(len(h) == 64 for h in described["cascades_sha256"].values())
