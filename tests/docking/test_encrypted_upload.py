"""Docking with encryption at rest (issue 15): encrypted segments upload, get receipts and leave
the camera exactly as plain ones do; the store holds the camera's ciphertext, byte for byte,
which the force's key decrypts to the plaintext the device signed."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from device.upload.uploader import IDLE
from evidence.crypt import (
    CryptError,
    der_b64,
    force_key_fingerprint,
    new_force_key,
    private_pem,
    public_pem,
)
from evidence.decrypt import decrypt_file, read_manifest
from evidence.layout import Layout
from evidence.manifest import manifest_path, sha256_file, signature_path
from evidence.store_client import StoreHttpError
from evidence.verify import verify
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.export import FORCE_PRIVATE_KEY
from store.service import CAMERA_SETTINGS, Store, StoreDirError
from tests.docking.conftest import (
    audit,
    dock,
    dock_config,
    drive,
    enrol,
    record,
    segments,
    undock,
)
from tests.evidence_store.conftest import Running
from tests.media import decode


def test_encrypted_segments_upload_and_leave_the_camera_as_plain_ones_do(
        make_sim, running: Running, tmp_path: Path) -> None:
    force = new_force_key(2048)
    data = tmp_path / "data0"  # make_sim's first data directory: pinned before it boots
    data.mkdir()
    (data / Layout.FORCE_KEY).write_bytes(public_pem(force.public_key()))
    sim = make_sim(dock_config(running).replace(encryption={"enabled": True}))
    assert sim.daemon.status().encryption.startswith("on")
    enrol(running, sim)
    record(sim, 6.0)
    recorded = {mp4: sha256_file(mp4) for mp4 in segments(sim)}
    manifests = {mp4: read_manifest(mp4) for mp4 in recorded}
    assert len(recorded) >= 2 and all(m.encryption for m in manifests.values())
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []
    for mp4, (digest, size) in recorded.items():
        held = running.store.objects.read_bytes(digest)
        assert (hashlib.sha256(held).hexdigest(), len(held)) == (digest, size)
        assert b"ftyp" not in held and b"mdat" not in held  # the store got the ciphertext
        assert manifest_path(mp4).exists() and signature_path(mp4).exists()
        copy = tmp_path / "store-copy" / mp4.name  # the store's bytes, beside their manifest
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(held)
        shutil.copy(manifest_path(mp4), manifest_path(copy))
        out = tmp_path / "plain" / mp4.name
        out.parent.mkdir(exist_ok=True)
        _, plain = decrypt_file(copy, force, out)
        assert plain == manifests[mp4].encryption["plaintext_sha256"]
    deleted = [e["data"]["file"] for e in audit(sim, "upload_deleted")]
    assert deleted == [m.name for m in recorded]
    shutil.copy(running.directory / "store.pub.pem", sim.data_dir / "store.pub.pem")
    findings = verify([sim.data_dir])
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    assert len([f for f in findings if f.code == "uploaded"]) == len(recorded)


def test_the_store_decrypts_at_export_and_the_export_plays_and_verifies(
        make_sim, running: Running, tmp_path: Path) -> None:
    force = new_force_key(2048)
    data = tmp_path / "data0"
    data.mkdir()
    (data / Layout.FORCE_KEY).write_bytes(public_pem(force.public_key()))
    sim = make_sim(dock_config(running).replace(encryption={"enabled": True}))
    enrol(running, sim)
    record(sim, 6.0)
    manifests = [read_manifest(mp4) for mp4 in segments(sim)]
    recording_id = manifests[0].recording_id
    dock(sim)
    assert drive(sim)[-1] == IDLE
    with pytest.raises(StoreHttpError) as refused:  # no key: a clear refusal, nothing written
        running.operator().export(tmp_path / "none.zip", recording_id)
    assert "encrypted" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "none.zip").exists()
    (running.directory / FORCE_PRIVATE_KEY).write_bytes(private_pem(force))
    running.operator().export(tmp_path / "case.zip", recording_id)
    with zipfile.ZipFile(tmp_path / "case.zip") as z:
        z.extractall(tmp_path / "case")
    case = tmp_path / "case"
    decoded = decode(case / "export.mp4")
    assert len(decoded.frame_times) == sum(m.frame_count for m in manifests)
    report = json.loads((case / "report.json").read_text())
    assert report["all_verified"]
    for m in manifests:  # sha256sum checks the plaintext against the device's signed hash
        plain = case / "plaintext" / recording_id / m.file
        assert hashlib.sha256(plain.read_bytes()).hexdigest() == m.encryption["plaintext_sha256"]
    findings = verify([case / "devices" / sim.daemon.identity.device_id])
    assert findings and all(f.ok for f in findings), findings


def test_the_force_key_rotates_by_a_signed_setting_from_the_next_segment_on(
        running: Running, tmp_path: Path) -> None:
    old, new = new_force_key(2048), new_force_key(2048)
    data = tmp_path / "cam"
    data.mkdir()
    (data / Layout.FORCE_KEY).write_bytes(public_pem(old.public_key()))
    config = dock_config(running).replace(encryption={"enabled": True})
    sim = Simulator(config, data, encoder=FakeEncoder)
    sim.power_on()
    enrol(running, sim)
    record(sim, 2.0)
    before = {read_manifest(mp4).encryption["force_key_sha256"] for mp4 in segments(sim)}
    assert before == {force_key_fingerprint(old.public_key())}
    (running.directory / CAMERA_SETTINGS).write_text(json.dumps(
        {"encryption": {"force_key": der_b64(new.public_key())}}))
    running.restart()
    dock(sim)
    assert drive(sim)[-1] == IDLE
    [change] = [e["data"] for e in audit(sim, "setting")]
    assert change["key"] == "encryption.force_key" and change["new"] == der_b64(new.public_key())
    undock(sim)
    record(sim, 2.0)
    after = {read_manifest(mp4).encryption["force_key_sha256"] for mp4 in segments(sim)}
    assert after == {force_key_fingerprint(new.public_key())}
    mp4 = segments(sim)[0]  # the old key no longer decrypts what follows
    with pytest.raises(CryptError, match="wrong force key"):
        decrypt_file(mp4, old, tmp_path / "old.mp4")
    sim.shutdown()
    again = Simulator(config, data, encoder=FakeEncoder)  # kept across a restart
    again.power_on()
    assert again.daemon.force_key is not None
    assert force_key_fingerprint(again.daemon.force_key) == force_key_fingerprint(
        new.public_key())
    again.shutdown()


def test_a_store_may_rotate_the_force_key_but_not_switch_encryption_off(store_dir) -> None:
    directory, _ = store_dir
    for document, says in (({"encryption": {"enabled": False}}, "encryption.enabled"),
                           ({"encryption": {"force_public_key": "/tmp/k.pem"}},
                            "encryption.force_public_key"),
                           ({"encryption": {"force_key": "bm90IGEga2V5"}}, "not base64 DER")):
        (directory / CAMERA_SETTINGS).write_text(json.dumps(document))
        with pytest.raises(StoreDirError, match=says):
            Store(directory)
