"""A recording's timeline from its signed manifests (evidence/timeline.py), as the panel
lists it: on a real recording made by the simulator on its virtual clock, and on manifests a
hostile hand edited (the list must still come, and never vouch for them)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from evidence.manifest import Manifest, manifest_path, utc_time
from evidence.timeline import recording_timeline
from evidence.verify import verify
from sim.web.recordings import summarise
from tests.evidence import Marked, record_marked

FRAME_S = 1 / 30


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Marked:
    return record_marked(tmp_path_factory.mktemp("marked") / "data")


def listed(folder: Path) -> dict[str, Any]:
    item = summarise(folder, verify([folder]))
    json.dumps(item, allow_nan=False)  # what the page gets is JSON a browser can parse
    return item


def of_kind(timeline: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in timeline["marks"] if m["kind"] == kind]


def test_the_timeline_of_a_real_recording(marked: Marked) -> None:
    item = listed(marked.folder)
    assert item["status"] == "verified"
    timeline = item["timeline"]
    segments = timeline["segments"]
    assert [s["file"] for s in segments] == [s["file"] for s in item["segments"]]
    assert segments[0]["start_s"] == 0
    for before, after in itertools.pairwise(segments):
        assert after["start_s"] == before["end_s"]  # played one after the other
    assert timeline["duration_s"] == segments[-1]["end_s"] == pytest.approx(
        item["duration_s"], abs=0.002)
    start_wall = utc_time(item["segments"][0]["start_utc"])

    (pre,) = of_kind(timeline, "pre_event")
    (press,) = of_kind(timeline, "press")
    assert pre["at_s"] == 0 and pre["to_s"] == press["at_s"]
    assert 0.9 <= press["at_s"] <= 2.0  # 1 s asked for, from the keyframe before it
    assert press["reason"] == "record double" and "record double" in press["label"]

    markers = of_kind(timeline, "marker")
    assert [m["note"] for m in markers] == [note for _, note in marked.markers]
    assert "suspect left" in markers[0]["label"]
    assert [m["segment"] for m in markers] == [0, 1]  # the second lies in the next segment
    for mark in markers:
        # before the gap, playing time is capture time since the first frame
        assert mark["at_s"] == pytest.approx(
            (utc_time(mark["utc"]) - start_wall).total_seconds(), abs=0.002)
        seg = segments[mark["segment"]]
        assert mark["at_s"] == pytest.approx(seg["start_s"] + mark["segment_s"], abs=0.002)
        assert seg["start_s"] <= mark["at_s"] <= seg["end_s"]
    assert markers[1]["at_s"] - markers[0]["at_s"] == pytest.approx(
        marked.markers[1][0] - marked.markers[0][0], abs=0.002)

    (gap,) = of_kind(timeline, "gap")
    after = segments[gap["segment"]]
    assert gap["segment_s"] == 0 and gap["at_s"] == after["start_s"] > markers[1]["at_s"]
    assert gap["missing_s"] == pytest.approx(marked.replugged - marked.unplugged,
                                             abs=FRAME_S + 0.002)
    assert "sensor" in gap["reason"] and "gap of 1.0 s" in gap["label"]
    assert all(m["verified"] for m in timeline["marks"])
    times = [m["at_s"] for m in timeline["marks"]]
    assert times == sorted(times)


HOSTILE = {
    "markers not a list": lambda m: {**m, "markers": 5},
    "markers of the wrong types": lambda m: {**m, "markers": [
        {"utc": 1, "offset_s": "soon", "note": 7}, {"utc": "x", "offset_s": float("nan"),
                                                   "note": ""}]},
    "gaps of the wrong types": lambda m: {**m, "gaps": [1, "x", {"from_utc": 5, "to_utc": []}]},
    "duration not a number": lambda m: {**m, "duration_s": float("nan")},
    "counts not numbers": lambda m: {**m, "frame_count": float("nan"), "segment_index": [0]},
    "endless pre-event": lambda m: {**m, "pre_event_s": float("inf"), "reason": ["x"]},
    "negative times": lambda m: {**m, "pre_event_s": -4, "duration_s": -1,
                                 "markers": [{"utc": "x", "offset_s": -3, "note": "n"}]},
}


def copy_camera(marked: Marked, tmp_path: Path) -> Path:
    """The camera's data directory copied (with its key): the recording's folder in it."""
    data = tmp_path / "data"
    shutil.copytree(marked.folder.parent.parent, data)
    return data / "recordings" / marked.folder.name


def test_a_recording_that_cannot_be_checked_is_never_called_verified(
        marked: Marked, tmp_path: Path) -> None:
    folder = copy_camera(marked, tmp_path)
    (folder.parent.parent / "device.pub.pem").unlink()  # no key to check against
    item = listed(folder)
    assert item["status"] == "error" and "device.pub.pem" in item["detail"]
    assert not any(m["verified"] for m in item["timeline"]["marks"])


@pytest.mark.parametrize("edit", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_manifest_gets_a_listing_and_no_vouching(marked: Marked, tmp_path: Path,
                                                          edit: Any) -> None:
    folder = copy_camera(marked, tmp_path)
    first = manifest_path(sorted(folder.glob("*.mp4"))[0])
    first.write_text(json.dumps(edit(json.loads(first.read_text()))))
    item = listed(folder)
    assert item["status"] == "tampered"
    timeline = item["timeline"]
    for mark in timeline["marks"]:
        assert math.isfinite(mark["at_s"]) and 0 <= mark["at_s"] <= timeline["duration_s"]
        assert mark["verified"] is (mark["segment"] != 0)
    # the other segments keep their marks: the gap is still where it was
    assert [g["segment"] for g in of_kind(timeline, "gap") if g["verified"]] == [3]


def test_a_manifest_that_is_not_json_leaves_its_segment_without_marks(
        marked: Marked, tmp_path: Path) -> None:
    folder = copy_camera(marked, tmp_path)
    manifest_path(sorted(folder.glob("*.mp4"))[0]).write_bytes(b"\xff not json")
    item = listed(folder)
    assert item["status"] == "tampered"
    assert item["timeline"]["segments"][0]["end_s"] == 0
    assert {m["kind"] for m in item["timeline"]["marks"]} == {"marker", "gap"}
    assert all(m["segment"] != 0 for m in item["timeline"]["marks"])


def test_a_gap_of_unknown_length_does_not_claim_one(marked: Marked) -> None:
    """Recovery after a power cut notes a gap whose two ends are the same moment: what was lost
    is not known, and the label does not say "0.0 s"."""
    mp4 = sorted(marked.folder.glob("*.mp4"))[-1]
    manifest = Manifest.from_bytes(manifest_path(mp4).read_bytes())
    moment = manifest.start_utc
    cut = dataclasses.replace(manifest, gaps=({"from_utc": moment, "to_utc": moment,
                                               "reason": "power lost between two segments"},))
    (gap,) = recording_timeline([(mp4.name, cut)])["marks"]
    assert gap["missing_s"] == 0 and gap["label"] == "gap: power lost between two segments"
