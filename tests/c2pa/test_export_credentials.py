"""An export as a third party gets it: export.mp4 carries the store's C2PA Content Credentials,
the zip carries the CA to trust, the device's own segments are untouched, a redacted copy made
from export.mp4 names it as its parent, and ``bodycam store credentials`` reads all of it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from evidence.store_client import StoreHttpError
from evidence.verify import verify
from store.c2pa_sign import (
    EVIDENCE_LABEL,
    ContentCredentialsError,
    credentials_for,
    read_credentials,
    sign_derived,
)
from store.credentials import CA_CERT, CA_KEY, SIGNING_CERT, SIGNING_KEY, ensure_credentials
from tests.c2pa.conftest import boxes, flip_byte, frame_count, reencode
from tests.evidence_store.conftest import Camera, Running

STORE = [sys.executable, "-m", "store.cli"]


def export(running: Running, camera: Camera, tmp_path: Path, name: str = "case") -> Path:
    running.upload_all(camera)
    recording_id = camera.manifest(camera.segments(1)[0]).recording_id
    running.operator().export(tmp_path / f"{name}.zip", recording_id)
    out = tmp_path / name
    with zipfile.ZipFile(tmp_path / f"{name}.zip") as z:
        z.extractall(out)
    return out


def credentials_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STORE, "credentials", *args], capture_output=True, text=True,
                          timeout=60)


def test_export_mp4_carries_trusted_credentials_naming_the_devices_segments(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    out = export(running, enrolled, tmp_path)
    anchor = (out / "c2pa-ca.pem").read_bytes()
    assert anchor == (running.directory / CA_CERT).read_bytes()
    read = read_credentials(out / "export.mp4", anchor)
    assert read.trusted, read.failures
    assert [a["action"] for a in read.actions] == ["c2pa.created"]
    assert enrolled.device_id in read.actions[0]["description"]
    evidence = read.assertion(EVIDENCE_LABEL)
    assert evidence is not None and evidence["store_id"] == running.store.store_id
    segments = sorted((out / "devices" / enrolled.device_id / "recordings").glob("*/*.mp4"))
    assert [s["sha256"] for s in evidence["segments"]] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in segments]
    report = json.loads((out / "report.json").read_text())
    assert report["export_mp4"]["sha256"] == hashlib.sha256(
        (out / "export.mp4").read_bytes()).hexdigest()  # the hash is of the signed file
    assert report["c2pa"]["manifest"] == read.manifest["label"]
    assert report["c2pa"]["trust_anchor"] == "c2pa-ca.pem" and report["c2pa"]["state"] == \
        "Trusted"
    assert frame_count(out / "export.mp4") == report["export_mp4"]["frame_count"]
    # a non-fragmented MP4 that still starts playing at once: the manifest, then moov, then mdat
    kinds = [b[0] for b in boxes(out / "export.mp4")]
    assert "moof" not in kinds and kinds.index("uuid") < kinds.index("moov") < kinds.index(
        "mdat")


def test_the_devices_segments_in_the_export_get_no_credentials(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    out = export(running, enrolled, tmp_path)
    device_dir = out / "devices" / enrolled.device_id
    originals = {p.name: p.read_bytes() for p in enrolled.segments(1)}
    for mp4 in sorted(device_dir.glob("recordings/*/*.mp4")):
        assert mp4.read_bytes() == originals[mp4.name]
        with pytest.raises(ContentCredentialsError, match="no C2PA Content Credentials"):
            read_credentials(mp4)
    findings = verify([device_dir])
    assert findings and all(f.ok for f in findings), findings


def test_a_store_made_before_credentials_gets_them_at_its_first_export(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    for part in (CA_CERT, CA_KEY, SIGNING_CERT, SIGNING_KEY):
        (running.directory / part).unlink()
    out = export(running, enrolled, tmp_path)
    assert (running.directory / CA_CERT).exists()
    assert read_credentials(out / "export.mp4", (out / "c2pa-ca.pem").read_bytes()).trusted


def test_every_export_chains_to_the_same_ca(running: Running, enrolled: Camera,
                                           tmp_path: Path) -> None:
    first = export(running, enrolled, tmp_path, "first")
    running.operator().export(tmp_path / "second.zip",
                              enrolled.manifest(enrolled.segments(2)[0]).recording_id)
    with zipfile.ZipFile(tmp_path / "second.zip") as z:
        z.extractall(tmp_path / "second")
    anchor = (first / "c2pa-ca.pem").read_bytes()
    assert (tmp_path / "second" / "c2pa-ca.pem").read_bytes() == anchor
    assert read_credentials(tmp_path / "second" / "export.mp4", anchor).trusted


def test_a_redacted_copy_of_the_export_names_it_as_parent(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    out = export(running, enrolled, tmp_path)
    creds = credentials_for(running.store)
    redacted = reencode(out / "export.mp4", tmp_path / "redacted.mp4")
    sign_derived(redacted, ingredient=out / "export.mp4", credentials=creds,
                 actions=[{"action": "c2pa.edited", "description": "faces blurred"}])
    read = read_credentials(redacted, (out / "c2pa-ca.pem").read_bytes())
    assert read.trusted, read.failures
    [parent] = read.ingredients
    assert parent["relationship"] == "parentOf" and parent["title"] == "export.mp4"
    original = read_credentials(out / "export.mp4", (out / "c2pa-ca.pem").read_bytes())
    assert parent["active_manifest"] == original.manifest["label"]

    shown = credentials_cli(str(redacted), "--trust-anchor", str(out / "c2pa-ca.pem"))
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["state"] == "Trusted" and summary["actions"] == ["c2pa.opened", "c2pa.edited"]
    assert summary["ingredients"] == [{"title": "export.mp4", "relationship": "parentOf",
                                       "manifest": original.manifest["label"]}]


def test_the_credentials_command_reads_trusts_and_reports_tampering(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    out = export(running, enrolled, tmp_path)
    mp4, anchor = out / "export.mp4", str(out / "c2pa-ca.pem")

    shown = credentials_cli(str(mp4), "--trust-anchor", anchor)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["state"] == "Trusted" and summary["failures"] == []
    assert summary["claim_generator"] == ["bodycam evidence store"]
    assert summary["signed_by"]["alg"] == "Ed25519"

    untrusted = credentials_cli(str(mp4))
    assert untrusted.returncode == 1
    assert json.loads(untrusted.stdout)["failures"] == ["signingCredential.untrusted"]
    assert "no --trust-anchor given" in untrusted.stderr

    flip_byte(mp4, "mdat")
    tampered = credentials_cli(str(mp4), "--trust-anchor", anchor)
    assert tampered.returncode == 1
    assert "assertion.bmffHash.mismatch" in json.loads(tampered.stdout)["failures"]
    assert "Invalid" in tampered.stderr and len(tampered.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: _write(d / "notes.mp4", b"case notes\n"), "not readable as a C2PA-signed MP4"),
    (lambda d: _write(d / "empty.mp4", b""), "not readable as a C2PA-signed MP4"),
])
def test_the_credentials_command_gives_one_line_for_a_file_without_credentials(
        tmp_path: Path, make, message: str) -> None:
    done = credentials_cli(str(make(tmp_path)))
    assert done.returncode == 1 and done.stdout == ""
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_the_credentials_command_refuses_a_trust_anchor_that_is_no_ca(tmp_path: Path) -> None:
    ensure_credentials(tmp_path, 1.78e9)
    done = credentials_cli(str(tmp_path / "x.mp4"), "--trust-anchor",
                           str(tmp_path / SIGNING_CERT))
    assert done.returncode == 1 and "is not a CA certificate" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_store_init_on_the_command_line_names_the_trust_anchor(tmp_path: Path) -> None:
    done = subprocess.run([*STORE, "init", "--dir", str(tmp_path / "store"), "--token-file",
                           str(tmp_path / "token")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"C2PA trust anchor for exported MP4s: {tmp_path / 'store' / CA_CERT}" in done.stdout
    assert (tmp_path / "store" / CA_CERT).read_bytes().startswith(b"-----BEGIN CERTIFICATE")


def test_damaged_credentials_stop_the_export_with_one_line(
        running: Running, enrolled: Camera, tmp_path: Path) -> None:
    running.upload_all(enrolled)
    (running.directory / CA_KEY).write_bytes(b"overwritten")
    recording_id = enrolled.manifest(enrolled.segments(1)[0]).recording_id
    with pytest.raises(StoreHttpError, match=r"C2PA credentials: .*c2pa-ca\.key: unreadable") \
            as raised:
        running.operator().export(tmp_path / "case.zip", recording_id)
    assert raised.value.status == 500 and "\n" not in str(raised.value)
    assert not (tmp_path / "case.zip").exists()
    assert list((running.directory / "exports").iterdir()) == []  # nothing half-built left
