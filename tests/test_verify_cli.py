"""``bodycam verify``: its table, its JSON, its exit codes, bad input, and that it only reads."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device.cli import main
from evidence.findings import CODES, STATUSES
from evidence.identity import PUBLIC_KEY
from evidence.manifest import manifest_path, signature_path
from tests.evidence import Camera, copy_template, identity_of, template_fixture, tree_digest

template = template_fixture()


@pytest.fixture
def cam(template: Path, tmp_path: Path) -> Camera:
    return copy_template(template, tmp_path / "copy")["a"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_intact_footage_prints_a_table_and_exits_0(cam: Camera, capsys) -> None:
    code, out, err = run(capsys, str(cam.data_dir))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["STATUS", "REASON", "CHECK", "ITEM"]
    segments = len(list(cam.data_dir.glob("recordings/*/*.mp4")))
    assert segments >= 6  # two recordings of a few 4 s segments each
    assert lines[-1] == (f"{segments} segment(s), 2 recording(s), 1 audit log(s) checked: "
                         f"all intact")
    assert all(line.startswith("OK ") for line in lines[1:-1])


def test_json_gives_a_status_and_reason_code_per_item(cam: Camera, capsys) -> None:
    mp4 = cam.segments(1)[0]
    mp4.write_bytes(mp4.read_bytes() + b"appended")
    code, out, _ = run(capsys, "--json", str(cam.data_dir))
    report = json.loads(out)
    assert code == 1 and report["intact"] is False
    for item in report["findings"]:
        assert item["status"] in STATUSES and CODES[item["code"]][0] == item["status"]
        assert set(item) == {"path", "status", "detail", "code", "kind"}
    bad = [(i["kind"], i["path"], i["code"]) for i in report["findings"] if i["status"] != "ok"]
    assert bad == [("segment", str(mp4), "size_mismatch"),
                   ("recording", str(cam.recording(1)), "segment_failed")]


def test_bad_usage_exits_2_with_one_line(cam: Camera, tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, str(tmp_path / "nowhere"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such file" in err
    code, _, err = run(capsys, "--keys", str(tmp_path / "nokeys"), str(cam.data_dir))
    assert code == 2 and "not a directory" in err
    empty = tmp_path / "empty-keys"
    empty.mkdir()
    code, _, err = run(capsys, "--keys", str(empty), str(cam.data_dir))
    assert code == 2 and "no enrolled public keys" in err
    (empty / "fleet.pem").write_bytes(ec_pem())
    code, _, err = run(capsys, "--keys", str(empty), str(cam.data_dir))
    assert code == 2 and err.count("\n") == 1
    assert f"{empty / 'fleet.pem'}: not an Ed25519 public key" in err
    with pytest.raises(SystemExit) as usage:
        main(["verify"])
    assert usage.value.code == 2


def test_nothing_to_verify_is_not_intact(tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, str(tmp_path))
    assert code == 1 and "nothing to verify" in out


def test_a_lone_segment_or_recording_is_checked_without_its_neighbours(cam: Camera,
                                                                       capsys) -> None:
    code, out, _ = run(capsys, "--json", str(cam.segments(0)[1]))
    report = json.loads(out)
    assert code == 0 and [f["kind"] for f in report["findings"]] == ["segment"]
    code, out, _ = run(capsys, "--json", str(cam.recording(0)))
    kinds = [f["kind"] for f in json.loads(out)["findings"]]
    assert code == 0 and kinds == ["segment"] * 5 + ["recording"]


def test_verify_never_modifies_what_it_checks(cam: Camera, tmp_path: Path, capsys) -> None:
    mp4 = cam.segments(0)[2]
    mp4.write_bytes(mp4.read_bytes()[:-10])  # something to report, too
    (mp4.parent / (mp4.name + ".part")).write_bytes(b"partial")
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(cam.data_dir / PUBLIC_KEY, keys / "a.pem")
    before = tree_digest(tmp_path)
    assert run(capsys, str(cam.data_dir))[0] == 1
    assert run(capsys, "--json", "--keys", str(keys), str(cam.data_dir), str(mp4))[0] == 1
    assert tree_digest(tmp_path) == before


def damage_manifest_text(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    manifest_path(mp4).write_text("{ not json")
    return mp4


def damage_manifest_type(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    manifest_path(mp4).write_text("[1, 2, 3]\n")
    return mp4


def signed_nonsense(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    raw = b'{"format": "something else"}\n'
    manifest_path(mp4).write_bytes(raw)
    signature_path(mp4).write_bytes(identity_of(cam.data_dir).sign(raw))
    return mp4


def empty_signature(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    signature_path(mp4).write_bytes(b"")
    return mp4


def no_signature(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    signature_path(mp4).unlink()
    return mp4


def no_manifest(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    manifest_path(mp4).unlink()
    return mp4


def no_mp4(cam: Camera) -> Path:
    mp4 = cam.segments(0)[1]
    mp4.unlink()
    return mp4


def garbage_key(cam: Camera) -> Path:
    (cam.data_dir / PUBLIC_KEY).write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n")
    return cam.segments(0)[0]


def ec_key(cam: Camera) -> Path:
    (cam.data_dir / PUBLIC_KEY).write_bytes(ec_pem())
    return cam.segments(0)[0]


def garbage_log(cam: Camera) -> Path:
    cam.log.write_bytes(b"\x00\xff garbage\n" + cam.log.read_bytes()[5:])
    return cam.log


@pytest.mark.parametrize("damage, kind, status, code", [
    (damage_manifest_text, "segment", "tampered", "bad_signature"),
    (damage_manifest_type, "segment", "tampered", "bad_signature"),
    (signed_nonsense, "segment", "tampered", "manifest_invalid"),
    (empty_signature, "segment", "tampered", "bad_signature"),
    (no_signature, "segment", "unsigned", "no_signature"),
    (no_manifest, "segment", "unsigned", "no_manifest"),
    (no_mp4, "segment", "tampered", "missing_file"),
    (garbage_key, "segment", "error", "bad_key"),
    (ec_key, "segment", "error", "bad_key"),
    (garbage_log, "audit", "tampered", "not_an_entry"),
])
def test_damaged_input_is_reported_never_a_crash(
        cam: Camera, capsys, damage: Callable[[Camera], Path], kind: str, status: str,
        code: str) -> None:
    item = damage(cam)
    exit_code, out, err = run(capsys, "--json", str(cam.data_dir))
    assert exit_code == 1 and err == ""
    findings = json.loads(out)["findings"]
    assert {"kind": kind, "path": str(item), "status": status, "code": code} in [
        {k: f[k] for k in ("kind", "path", "status", "code")} for f in findings]
    assert all("\n" not in f["detail"] for f in findings)


def test_format_md_documents_every_status_and_reason_code() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "FORMAT.md").read_text()
    for name in [*STATUSES, *CODES]:
        assert f"| `{name}` |" in doc, f"docs/FORMAT.md does not list {name}"


def test_a_path_given_twice_is_checked_once(cam: Camera, capsys) -> None:
    relative = os.path.relpath(cam.data_dir)
    code, out, _ = run(capsys, "--json", str(cam.data_dir), relative, str(cam.segments(0)[0]))
    kinds = [f["kind"] for f in json.loads(out)["findings"]]
    segments = len(list(cam.data_dir.glob("recordings/*/*.mp4")))
    assert code == 0 and kinds.count("segment") == segments and kinds.count("audit") == 1
