"""Export: one playable MP4, the original segments, manifests, signatures, a signed report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from evidence.identity import load_identity, load_public_key, verify_signature
from evidence.manifest import utc_time
from evidence.store_client import StoreHttpError
from evidence.verify import verify
from tests.conftest import have
from tests.evidence import Marked, record_marked
from tests.evidence_store.conftest import Camera, Running
from tests.media import decode, ffprobe
from tests.test_walkthrough import FORMAT_MD, walkthrough


def frames(camera: Camera, recording: int | None = None) -> int:
    return sum(camera.manifest(mp4).frame_count for mp4 in camera.segments(recording))


def unpack(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(dest)
    return dest


def test_recording_export_plays_as_one_mp4_and_verifies(running: Running, enrolled: Camera,
                                                        tmp_path: Path) -> None:
    running.upload_all(enrolled)
    recording_id = enrolled.manifest(enrolled.segments(1)[0]).recording_id
    running.operator().export(tmp_path / "case.zip", recording_id)
    out = unpack(tmp_path / "case.zip", tmp_path / "case")

    decoded = decode(out / "export.mp4")
    assert decoded.codec == "h264" and len(decoded.frame_times) == frames(enrolled, 1)
    gaps = {round(b - a, 6) for a, b in zip(decoded.frame_times, decoded.frame_times[1:],
                                             strict=False)}
    assert gaps == {round(1 / 30, 6)}  # contiguous across segment joins

    report_raw = (out / "report.json").read_bytes()
    store_key = load_public_key(out / "store.pub.pem")
    assert verify_signature(store_key, (out / "report.json.sig").read_bytes(), report_raw)
    report = json.loads(report_raw)
    assert report["all_verified"] and report["export_mp4"]["frame_count"] == frames(enrolled, 1)
    assert [s["segment_index"] for s in report["segments"]] == list(
        range(len(enrolled.segments(1))))
    offsets = [s["export_offset_s"] for s in report["segments"]]
    assert offsets == sorted(offsets) and offsets[0] == 0
    findings = verify([out / "devices" / enrolled.device_id])
    assert findings and all(f.ok for f in findings), findings
    assert running.store.audit.entries()[-1]["event"] == "export"


@pytest.mark.skipif(not have("ffprobe"), reason="ffprobe (Debian package ffmpeg) not installed")
def test_ffprobe_reads_the_export(running: Running, enrolled: Camera, tmp_path: Path) -> None:
    running.upload_all(enrolled)
    recording_id = enrolled.manifest(enrolled.segments(2)[0]).recording_id
    running.operator().export(tmp_path / "x.zip", recording_id)
    info = ffprobe(unpack(tmp_path / "x.zip", tmp_path / "x") / "export.mp4")
    assert info["codec_name"] == "h264" and int(info["nb_read_frames"]) == frames(enrolled, 2)


def test_device_window_export_holds_every_recording_that_overlaps(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    running.upload_all(enrolled)
    first = enrolled.manifest(enrolled.segments(1)[0]).start_utc
    last = enrolled.manifest(enrolled.segments(2)[-1]).end_utc
    running.operator().export(tmp_path / "sar.zip", device_id=enrolled.device_id,
                              since=first, until=last)
    out = unpack(tmp_path / "sar.zip", tmp_path / "sar")
    assert len(decode(out / "export.mp4").frame_times) == frames(enrolled)
    assert len(json.loads((out / "report.json").read_text())["recordings"]) == 2


def test_export_of_nothing_is_a_clear_error(running: Running, enrolled: Camera,
                                            tmp_path: Path) -> None:
    with pytest.raises(StoreHttpError) as err:
        running.operator().export(tmp_path / "none.zip", "R000404-abcdef")
    assert err.value.status == 404 and "R000404-abcdef" in str(err.value)
    with pytest.raises(StoreHttpError) as err:
        running.operator().export(tmp_path / "none.zip", device_id=enrolled.device_id)
    assert err.value.status == 400
    assert not (tmp_path / "none.zip").exists()


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Marked:
    """A recording with pre-event footage, two markers (one with a note) and a gap."""
    return record_marked(tmp_path_factory.mktemp("marked") / "data")


def test_the_report_lists_the_markers_at_their_place_in_the_export(
        running: Running, marked: Marked, tmp_path: Path) -> None:
    camera = Camera(marked.folder.parent.parent,
                    load_identity(marked.folder.parent.parent, "BWV-OPEN-1", "SIM00001"))
    running.operator().enrol(camera.pub_pem)
    (recording_id,) = running.upload_all(camera)
    running.operator().export(tmp_path / "case.zip", recording_id)
    out = unpack(tmp_path / "case.zip", tmp_path / "case")
    report = json.loads((out / "report.json").read_text())
    offsets = {s["file"]: s["export_offset_s"] for s in report["segments"]}

    markers = report["markers"]
    assert [m["note"] for m in markers] == [note for _, note in marked.markers]
    assert markers == [m for m in report["timeline"] if m["kind"] == "marker"]
    start = utc_time(report["segments"][0]["start_utc"])
    decoded = decode(out / "export.mp4")
    for mark in markers:
        assert mark["recording_id"] == recording_id
        assert mark["export_at_s"] == pytest.approx(offsets[mark["file"]] + mark["segment_s"],
                                                    abs=0.001)
        # before the gap, a place in export.mp4 is capture time since the first frame
        assert mark["export_at_s"] == pytest.approx(
            (utc_time(mark["utc"]) - start).total_seconds(), abs=0.002)
        assert min(abs(t - mark["export_at_s"]) for t in decoded.frame_times) < 1 / 30
    kinds = [m["kind"] for m in report["timeline"]]
    assert kinds == ["pre_event", "press", "marker", "marker", "gap"]
    pre, press = report["timeline"][:2]
    assert pre["export_at_s"] == 0 and pre["export_to_s"] == press["export_at_s"] > 0
    gap = report["timeline"][-1]
    assert gap["export_at_s"] == offsets[gap["file"]] and "sensor" in gap["reason"]


def walkthrough_on_export(zip_path: Path, device_id: str, recording_id: str,
                          ) -> subprocess.CompletedProcess[str]:
    """FORMAT.md's way into an export (``unzip`` it, point DATA_DIR at a device folder,
    relative as a reader would type it), then its whole walk-through."""
    unpack = re.search(r"```sh\n(unzip -q case\.zip -d case)\n"
                       r"DATA_DIR=case/devices/bwv-[0-9a-f]+\n```",
                       FORMAT_MD.read_text())
    assert unpack, "FORMAT.md shows how to unpack an export"
    script = f"{unpack.group(1)}\nDATA_DIR=case/devices/{device_id}\n{walkthrough()}"
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                          env={**os.environ, "REC": recording_id}, cwd=zip_path.parent,
                          capture_output=True, text=True, timeout=120)


needs_tools = pytest.mark.skipif(not all(map(have, ("openssl", "jq", "unzip"))),
                                 reason="openssl, jq or unzip not installed")


@pytest.fixture
def case(running: Running, enrolled: Camera, tmp_path: Path) -> tuple[Path, str]:
    """Recording 1 uploaded and exported to case.zip, as an operator does."""
    running.upload_all(enrolled)
    recording_id = enrolled.manifest(enrolled.segments(1)[0]).recording_id
    running.operator().export(tmp_path / "case.zip", recording_id)
    return tmp_path / "case.zip", recording_id


@needs_tools
def test_format_md_walkthrough_on_a_store_export(running: Running, enrolled: Camera,
                                                 case: tuple[Path, str]) -> None:
    zip_path, recording_id = case
    result = walkthrough_on_export(zip_path, enrolled.device_id, recording_id)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "FAILED" not in out and "UNTERMINATED" not in out
    for check in ("signature", "device", "name", "recording", "size", "sha256"):
        assert f"OK {check}\n" in out
    segments = len(enrolled.segments(1))
    assert out.count("OK chained ") == out.count("OK footage ") == segments
    assert "OK complete: " in out
    assert "NO AUDIT LOG" in out and "OK chain:" not in out  # no false "OK chain: 0 lines"
    assert f"OK report by {running.store.store_id}\n" in out and "OK report signed\n" in out
    assert "OK export.mp4 is the one the report names" in out
    assert out.count(".mp4: OK\n") == segments  # sha256sum -c of the report's segment list
    assert "OK the store found every segment intact" in out


@needs_tools
def test_format_md_walkthrough_catches_a_tampered_export(enrolled: Camera,
                                                         case: tuple[Path, str]) -> None:
    zip_path, recording_id = case
    with zipfile.ZipFile(zip_path) as z:
        files = {name: z.read(name) for name in z.namelist()}
    mp4 = bytearray(files["export.mp4"])
    mp4[len(mp4) // 2] ^= 0x40
    files["export.mp4"] = bytes(mp4)
    files["report.json"] = files["report.json"].replace(b'"all_verified": true',
                                                        b'"all_verified": false')
    with zipfile.ZipFile(zip_path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    result = walkthrough_on_export(zip_path, enrolled.device_id, recording_id)
    assert "FAILED report signature" in result.stdout, result.stdout + result.stderr
    assert "FAILED export.mp4" in result.stdout


def test_the_report_names_files_as_they_are_in_the_zip(running: Running, enrolled: Camera,
                                                       case: tuple[Path, str]) -> None:
    """Not in the store's temporary build folder, which is gone once the zip is sent."""
    zip_path, _ = case
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        raw = z.read("report.json")
    report = json.loads(raw)
    assert str(running.directory) not in raw.decode() and "/tmp" not in raw.decode()
    paths = [f["path"] for f in report["findings"]]
    assert paths and all(not p.startswith("/") for p in paths), paths
    prefix = f"devices/{enrolled.device_id}"
    for path in paths:
        assert path == prefix or path.startswith(prefix + "/"), path
        assert path in names or any(n.startswith(path + "/") for n in names), path
