"""Redaction from the store: a real export zip and a stored recording, through ``bodycam store
redact``; sources without sound get a silent track; the reviewer's add and remove; and every bad
input refused with one line."""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from evidence.identity import load_public_key
from store.auditlog import AuditLog, verify_chain
from store.cli import main as store_main
from store.redaction import RedactionError
from store.redaction.derivation import verify_derivation
from store.redaction.plan import build_plan, load_plan, parse_box_spec, parse_silence_spec
from store.redaction.run import redact, unpacked
from store.service import init_store
from tests.evidence_store.conftest import Camera, Running
from tests.redaction.scene import build_scene
from tests.redaction.test_faces import decoded, found_in, sharpness


def one_line_error(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_export_zip_and_stored_recording_redact_and_check(
        running: Running, enrolled: Camera, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    running.upload_all(enrolled)
    recording_id = enrolled.manifest(enrolled.segments(1)[0]).recording_id
    running.operator().export(tmp_path / "case.zip", recording_id)
    store = str(running.directory)
    rc = store_main(["redact", str(tmp_path / "case.zip"), "--dir", store, "--reviewer", "DC 1",
                     "--add", "0-10:0,0,40,40", "--silence", "0.5-1", "--out",
                     str(tmp_path / "from-zip")])
    assert rc == 0, capsys.readouterr().err
    rc = store_main(["redact", "--recording", recording_id, "--dir", store, "--reviewer", "DC 1",
                     "--no-auto", "--out", str(tmp_path / "from-store")])
    assert rc == 0, capsys.readouterr().err
    key = load_public_key(running.directory / "store.pub.pem")
    with unpacked(tmp_path / "case.zip") as root:
        for out in ("from-zip", "from-store"):
            assert verify_derivation(tmp_path / out, key, root) == []
    zipped = json.loads((tmp_path / "from-zip" / "derivation.json").read_text())
    stored = json.loads((tmp_path / "from-store" / "derivation.json").read_text())
    assert [s["manifest_sha256"] for s in zipped["sources"]] == [
        s["manifest_sha256"] for s in stored["sources"]]
    assert len(zipped["sources"]) == len(enrolled.segments(1))
    # the simulator records sound (issue 14): the redacted copy keeps it, silenced as listed
    assert zipped["output"]["sound"] == "the sources' sound, silenced where listed"
    assert stored["automatic"] is None and zipped["automatic"] is not None
    events = [e for e in running.store.audit.entries() if e["event"] == "redaction"]
    assert len(events) == 2 and events[0]["reviewer"] == "DC 1"
    running.operator().flag(recording_id, "CASE-1")  # the server appends after the CLI did
    count, problems = verify_chain(running.directory / "audit.jsonl")
    assert problems == [] and count == len(running.store.audit.entries())
    tlog = running.store.tlog.log  # the CLI's leaves and the server's, in one log
    tlog.refresh()
    tail = [json.loads(x) for x in tlog.leaves(tlog.size - 4, tlog.size)]
    assert [(x["kind"], x.get("redacted", False)) for x in tail] == [
        ("export", False), ("export", True), ("export", True), ("flag", False)]
    assert tail[1]["export_mp4_sha256"] == zipped["output"]["sha256"]
    assert tail[1]["manifest_sha256s"] == [s["manifest_sha256"] for s in zipped["sources"]]
    assert store_main(["check-redaction", str(tmp_path / "from-zip"), "--store-key",
                       str(running.directory / "store.pub.pem"), "--sources",
                       str(tmp_path / "case.zip")]) == 0


def test_two_appenders_keep_one_chain(tmp_path: Path) -> None:
    """The server's log and a local command's, on one file: the chain stays whole."""
    path = tmp_path / "audit.jsonl"
    server, local = AuditLog(path, lambda: 0.0), AuditLog(path, lambda: 0.0)
    for n in range(3):
        server.append("a", n=n)
        local.append("b", n=n)
    with open(path, "ab") as f:
        f.write(b'{"torn')  # a third writer died mid-line
    server.append("c")
    count, problems = verify_chain(path)
    lines = path.read_bytes().splitlines()
    assert count == 8 and [p.rsplit(":", 2)[-2] for p in problems] == ["7"], problems
    assert json.loads(lines[7])["prev_sha256"] == hashlib.sha256(lines[6]).hexdigest()


def test_no_sound_gets_a_silent_track_and_add_and_remove_apply(tmp_path: Path) -> None:
    scene = build_scene(tmp_path / "export", seconds=1.0, segments=1, audio=False)
    n = scene.frame_count
    badge = [150, 128, 64, 40]  # over the caption and the colour bars: detail to lose
    left_half = [0, 0, 160, 240]
    plan = build_plan({"reviewer": "DC 2", "boxes": [
        {"op": "add", "frames": [0, n - 1], "box": badge},
        {"op": "remove", "frames": [0, 4], "box": left_half, "note": "not a face"}]})
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    d = redact(scene.root, plan, tmp_path / "out", key, "store-x", "2026-01-01T00:00:00.000Z")
    mp4 = tmp_path / "out" / "redacted.mp4"
    with av.open(str(mp4)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        samples = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert samples.shape[1] >= 0.9 * 48000 and np.count_nonzero(samples) == 0
    assert d["output"]["sound"] == "silence (the sources have no sound)"
    before, after = decoded(scene.segments), decoded([mp4])
    # removed in frames 0-4: the face there is sharp; from frame 5 on it is blurred
    assert found_in(after[:5], scene.subject[:5], 0.3) == 5
    assert found_in(after[5:], scene.subject[5:], 0.0) == 0
    assert {r["by_operation"] for r in d["left_sharp"]} == {1}
    badge_box = tuple(badge)
    for b, a in zip(before, after, strict=True):
        assert sharpness(a, badge_box) < 0.2 * sharpness(b, badge_box)
    assert any(r["source"] == "reviewer" and r["frames"] == [0, n - 1] for r in d["blurred"])


@pytest.mark.parametrize("spec", ["0-10:1,2,3", "ten-20:1,2,3,4", "5-2:1,1,1,1", "0-1:0,0,0,5",
                                  "-1-3:1,1,1,1", "0-1:1,1,1,1,1", ""])
def test_a_malformed_box_spec_is_refused(spec: str) -> None:
    with pytest.raises(RedactionError) as exc:
        parse_box_spec("add", spec)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("spec", ["-1-2", "2-1", "nan-3", "1-inf", "3", "1-1"])
def test_a_bad_silence_spec_is_refused(spec: str) -> None:
    with pytest.raises(RedactionError):
        parse_silence_spec(spec)


@pytest.mark.parametrize("plan, says", [
    ('{"reviewer": "x", "silence": [{"from_s": NaN, "to_s": 1}]}', "NaN"),
    ('{"reviewer": "x", "silence": [{"from_s": -1, "to_s": 1}]}', "negative"),
    ('{"reviewer": "x", "silence": [{"from_s": 1, "to_s": Infinity}]}', "Infinity"),
    ('{"reviewer": "x", "boxes": [{"op": "blur", "frames": [0, 1], "box": [0, 0, 9, 9]}]}',
     "not one of"),
    ('{"reviewer": "x", "boxes": [{"op": "add", "frames": [true, 1], "box": [0, 0, 9, 9]}]}',
     "whole number"),
    ('{"reviewer": "x", "boxes": [{"op": "add", "frames": [0, 1], "box": [0, 0, 9]}]}',
     "x, y, width, height"),
    ('{"reviewer": "x", "colour": 1}', "unknown fields"),
    ('{"boxes": []}', "name the reviewer"),
    ('[1, 2]', "not a JSON object"),
    ('{"reviewer": "x", "auto": "yes"}', "true or false"),
])
def test_a_bad_plan_is_refused_with_one_line(tmp_path: Path, plan: str, says: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(plan)
    with pytest.raises(RedactionError) as exc:
        build_plan(load_plan(path))
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_out_of_range_frames_boxes_and_times_are_refused() -> None:
    plan = build_plan({"reviewer": "x", "boxes": [
        {"op": "keep", "frames": [0, 30], "box": [0, 0, 10, 10]}]})
    with pytest.raises(RedactionError, match="out of range, the footage has 30 frames"):
        plan.check(30, 320, 240, 2.0)
    plan = build_plan({"reviewer": "x", "boxes": [
        {"op": "add", "frames": [0, 3], "box": [300, 0, 40, 10]}]})
    with pytest.raises(RedactionError, match="outside the 320x240 picture"):
        plan.check(30, 320, 240, 2.0)
    plan = build_plan({"reviewer": "x", "silence": [{"from_s": 5, "to_s": 6}]})
    with pytest.raises(RedactionError, match="after the end"):
        plan.check(30, 320, 240, 2.0)
    assert math.isfinite(2.0)


@pytest.fixture
def store_only(tmp_path: Path) -> Path:
    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory)
    return directory


def test_bad_inputs_get_one_line_errors(store_only: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    scene = build_scene(tmp_path / "export", seconds=1.0, segments=1, audio=False)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escaped.txt", "x")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    tampered = tmp_path / "tampered"
    import shutil

    shutil.copytree(scene.root / "devices", tampered / "devices")
    seg = next((tampered / "devices").glob("*/recordings/*/*.mp4"))
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 1
    seg.write_bytes(bytes(data))
    base = ["--dir", str(store_only), "--reviewer", "DC 3", "--no-auto"]
    cases = {
        "no recording R999999-000000": ["redact", "--recording", "R999999-000000", *base,
                              "--out", str(tmp_path / "o1")],
        "no such export zip or folder": ["redact", str(tmp_path / "nothing.zip"), *base,
                                         "--out", str(tmp_path / "o2")],
        "outside the export": ["redact", str(evil), *base, "--out", str(tmp_path / "o3")],
        "not a readable export zip": ["redact", str(tmp_path / "junk.zip"), *base,
                                      "--out", str(tmp_path / "o4")],
        "no source segments": ["redact", str(tmp_path / "empty"), *base,
                               "--out", str(tmp_path / "o5")],
        "the sources do not verify (hash_mismatch": [
            "redact", str(tampered), *base, "--out", str(tmp_path / "o6")],
        "expected FIRST-LAST:X,Y,W,H": ["redact", str(scene.root), *base, "--add", "1-2:3",
                                        "--out", str(tmp_path / "o7")],
        "out of range": ["redact", str(scene.root), *base, "--keep", "0-999:0,0,8,8",
                         "--out", str(tmp_path / "o8")],
        "expected FROM-TO": ["redact", str(scene.root), *base, "--silence=-1-2",
                             "--out", str(tmp_path / "o9")],
        "name an export": ["redact", *base, "--out", str(tmp_path / "o10")],
        "name the reviewer": ["redact", str(scene.root), "--dir", str(store_only),
                              "--out", str(tmp_path / "o11")],
        "not an evidence store": ["redact", str(scene.root), "--dir", str(tmp_path / "nostore"),
                                  "--reviewer", "x", "--out", str(tmp_path / "o12")],
        "--store-key": ["check-redaction", str(tmp_path / "o1")],
        "File exists": ["redact", str(scene.root), *base, "--out", str(tmp_path / "a-file")],
    }
    for says, argv in cases.items():
        err = one_line_error(capsys, store_main(argv))
        assert says in err, (says, err)
    assert not (tmp_path / "escaped.txt").exists()
    assert not any((tmp_path / f"o{i}" / "derivation.json").exists() for i in range(1, 13))


def test_an_existing_copy_is_never_overwritten(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    scene = build_scene(tmp_path / "export", seconds=1.0, segments=1, audio=False)
    plan = build_plan({"reviewer": "x", "auto": False})
    key = Ed25519PrivateKey.generate()
    redact(scene.root, plan, tmp_path / "out", key, "store-x", "2026-01-01T00:00:00.000Z")
    before = (tmp_path / "out" / "derivation.json").read_bytes()
    with pytest.raises(RedactionError, match="already holds a redacted copy"):
        redact(scene.root, plan, tmp_path / "out", key, "store-x", "2026-01-01T00:00:01.000Z")
    assert (tmp_path / "out" / "derivation.json").read_bytes() == before


def test_a_zip_larger_than_the_free_disk_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from store.redaction import run

    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("report.json", "{}" * 1000)
    monkeypatch.setattr(run.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(RedactionError, match="more than the free disk space"), \
            unpacked(archive):
        pass
