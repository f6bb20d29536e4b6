"""The verifier and the store's receipts (issue 11, items 1 and 8): a segment whose MP4 left the
camera is ``uploaded`` only with a receipt that verifies with the *pinned* store key and an
``upload_receipt`` entry in the audit log; the log is never shorter than a snapshot the store
acknowledged.

One camera is recorded and docked into a real store on loopback once per module: recording A,
dock (A uploaded, a log snapshot), a restart, recording B, dock again, a restart, recording C
(never uploaded). Each test works on a copy, with the store's key pinned at the data directory's
root as provisioning puts it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.audit import AUDIT_LOG, AuditLog
from device.upload.uploader import IDLE
from evidence.identity import IDENTITY, PUBLIC_KEY, IdentityError, public_pem
from evidence.kept import (
    AUDIT_RECEIPTS,
    RECEIPT_SIG_SUFFIX,
    RECEIPT_SUFFIX,
    STORE_KEY,
    receipt_path,
    receipt_signature_path,
)
from evidence.keyring import KeyRing
from evidence.manifest import Manifest, manifest_path
from evidence.receipt import Receipt, sign_receipt, store_id_for
from evidence.verify import verify
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.config import StoreConfig
from store.service import PRIVATE_KEY as STORE_PRIVATE_KEY
from store.service import _load_private_key, init_store
from tests.conftest import have
from tests.docking.conftest import dock, dock_config, drive, record, undock
from tests.evidence import identity_of, problems, recording_dirs
from tests.evidence_store.conftest import START, MovableClock, Running


@dataclass
class Docked:
    """A copy of the docked camera, and the store it docked into (its key files only)."""

    data_dir: Path
    store_dir: Path

    @property
    def store_pem(self) -> Path:
        return self.store_dir / STORE_KEY

    @property
    def store_private(self) -> Ed25519PrivateKey:
        return _load_private_key(self.store_dir / STORE_PRIVATE_KEY)

    @property
    def log(self) -> Path:
        return self.data_dir / AUDIT_LOG

    def recording(self, n: int) -> Path:
        return recording_dirs(self.data_dir)[n]

    def manifests(self, n: int) -> list[Path]:
        """Segment ``NAME.mp4`` paths of recording ``n`` (the MP4 may have been uploaded)."""
        return sorted(p.with_name(p.name[: -len(".json")])
                      for p in self.recording(n).glob("*.mp4.json"))

    def manifest(self, mp4: Path) -> Manifest:
        return Manifest.from_bytes(manifest_path(mp4).read_bytes())

    def audit_receipts(self) -> list[Path]:
        return sorted((self.data_dir / AUDIT_RECEIPTS).glob(f"*{RECEIPT_SUFFIX}"))


@pytest.fixture(scope="module")
def docked_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("docked")
    store_dir = root / "store"
    store_dir.mkdir()
    token = init_store(store_dir, StoreConfig(max_chunk_bytes=64 * 1024))
    running = Running(store_dir, token, MovableClock(START)).start()
    data = root / "camera"
    config = dock_config(running)
    try:
        for step in ("A", "B", "C"):
            sim = Simulator(config, data, encoder=FakeEncoder)
            sim.power_on()
            if step == "A":
                running.operator().enrol((data / PUBLIC_KEY).read_bytes())
            record(sim, 5.0)
            if step != "C":
                dock(sim)
                assert drive(sim)[-1] == IDLE
                undock(sim)
            sim.shutdown()
    finally:
        running.stop()
    shutil.copy(store_dir / STORE_KEY, data / STORE_KEY)  # pinned, as provisioning puts it
    yield root


@pytest.fixture
def cam(docked_template: Path, tmp_path: Path) -> Docked:
    shutil.copytree(docked_template / "camera", tmp_path / "camera")
    keys = tmp_path / "store-keys"
    keys.mkdir()
    for name in (STORE_KEY, str(STORE_PRIVATE_KEY)):
        (keys / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(docked_template / "store" / name, keys / name)
    return Docked(tmp_path / "camera", keys)


def check(cam: Docked, **options: object) -> set[tuple[str, str, str]]:
    return problems(verify([cam.data_dir], **options))  # type: ignore[arg-type]


def code_of(cam: Docked, path: Path, **options: object) -> str:
    [f] = [f for f in verify([cam.data_dir], **options)  # type: ignore[arg-type]
           if f.kind == "segment" and f.path == str(path)]
    return f.code


def upload_by_hand(cam: Docked, mp4: Path, key: Ed25519PrivateKey | None = None,
                   **change: object) -> bytes:
    """Delete ``mp4`` and leave a receipt for it, signed by ``key`` (default: the real store's),
    with ``change`` applied to the fields a real one would have. Returns its bytes."""
    key = key or cam.store_private
    manifest = cam.manifest(mp4)
    receipt = Receipt(store_id=store_id_for(key.public_key()), kind="segment",
                      device_id=manifest.device_id, file=mp4.name, sha256=manifest.sha256,
                      size=manifest.size, received_utc="2026-01-01T02:00:00.000Z",
                      recording_id=manifest.recording_id,
                      segment_index=manifest.segment_index,
                      manifest_sha256=hashlib.sha256(manifest_path(mp4).read_bytes())
                      .hexdigest())
    raw, sig = sign_receipt(key, dataclasses.replace(receipt, **change))
    receipt_path(mp4).write_bytes(raw)
    receipt_signature_path(mp4).write_bytes(sig)
    mp4.unlink()
    return raw


def log_receipt_entry(cam: Docked, mp4: Path, raw: bytes, **change: object) -> None:
    """What the camera writes when it accepts a receipt, written with the device's own key."""
    manifest = cam.manifest(mp4)
    data = {"kind": "segment", "file": mp4.name, "recording_id": manifest.recording_id,
            "segment_index": manifest.segment_index, "sha256": manifest.sha256,
            "size": manifest.size, "receipt_sha256": hashlib.sha256(raw).hexdigest(),
            "store_id": json.loads(raw)["store_id"], **change}
    log = AuditLog(cam.log, SimClock(), identity_of(cam.data_dir).sign)
    log.append("upload_receipt", "receipt from the store", **data)
    log.checkpoint("test")
    log.close()


def segment(path: Path, code: str) -> tuple[str, str, str]:
    return ("segment", str(path), code)


def recording_failed(folder: Path) -> tuple[str, str, str]:
    return ("recording", str(folder), "segment_failed")


# -- honest ------------------------------------------------------------------------------------

def test_the_docked_camera_is_intact_and_its_uploads_are_uploaded(cam: Docked) -> None:
    findings = verify([cam.data_dir])
    assert findings and all(f.ok for f in findings), problems(findings)
    uploaded = {f.path for f in findings if f.code == "uploaded"}
    assert uploaded == {str(p) for n in (0, 1) for p in cam.manifests(n)}
    assert not any(p.exists() for p in map(Path, uploaded))
    assert {p.exists() for p in cam.manifests(2)} == {True}  # C was never docked
    assert len(cam.audit_receipts()) == 2


def test_an_explicit_store_key_checks_a_copy_without_one(cam: Docked) -> None:
    (cam.data_dir / STORE_KEY).unlink()
    for key in (cam.store_pem, cam.store_private.public_key()):  # a file, or the key itself
        findings = verify([cam.data_dir], store_key=key)
        assert findings and all(f.ok for f in findings), problems(findings)


def test_without_any_store_key_uploads_cannot_be_checked_but_are_not_called_tampered(
        cam: Docked) -> None:
    (cam.data_dir / STORE_KEY).unlink()
    findings = verify([cam.data_dir])
    bad = [f for f in findings if not f.ok]
    assert bad and {f.status for f in bad} == {"error"}
    assert {f.code for f in bad} == {"no_store_key"}
    assert {f.path for f in bad if f.kind == "segment"} == {
        str(p) for n in (0, 1) for p in cam.manifests(n)}
    assert all(STORE_KEY in f.detail and "--store-key" in f.detail for f in bad)


def test_enrolled_keys_with_the_store_key_among_them(cam: Docked, tmp_path: Path) -> None:
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir()
    shutil.copy(cam.data_dir / PUBLIC_KEY, enrolled / "pc4711.pem")
    keys_without_store = KeyRing.from_dir(enrolled)
    shutil.copy(cam.store_pem, enrolled / STORE_KEY)
    keys = KeyRing.from_dir(enrolled)
    assert keys.store_key is not None and len(keys.enrolled or {}) == 1  # not a device key
    findings = verify([cam.data_dir], keys)
    assert findings and all(f.ok for f in findings), problems(findings)
    assert any(f.code == "uploaded" and str(enrolled / STORE_KEY) in f.detail for f in findings)
    # without one among them, the data directory's pinned key is used...
    findings = verify([cam.data_dir], keys_without_store)
    assert findings and all(f.ok for f in findings), problems(findings)
    # ...and swapping it for a forger's does not make a forged receipt an upload: the log,
    # signed by the enrolled device key, names the receipts the camera accepted
    mp4 = cam.manifests(2)[0]
    forger = Ed25519PrivateKey.generate()
    upload_by_hand(cam, mp4, forger)
    (cam.data_dir / STORE_KEY).write_bytes(public_pem(forger.public_key()))
    found = check(cam, keys=keys_without_store)
    assert segment(mp4, "receipt_not_in_log") in found
    assert segment(mp4, "missing_file") in check(cam, keys=keys)  # the enrolled store key


def test_a_bad_store_key_option_is_one_clear_line(cam: Docked, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    with pytest.raises(IdentityError, match=r"junk\.pem"):
        verify([cam.data_dir], store_key=junk)
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir()
    shutil.copy(cam.data_dir / PUBLIC_KEY, enrolled / "pc4711.pem")
    shutil.copy(junk, enrolled / STORE_KEY)
    with pytest.raises(IdentityError, match=re.escape(STORE_KEY)):
        KeyRing.from_dir(enrolled)


def test_an_unreadable_pinned_store_key_is_an_error_not_an_accusation(cam: Docked) -> None:
    (cam.data_dir / STORE_KEY).write_text("-----BEGIN PUBLIC KEY-----\nnope\n")
    bad = [f for f in verify([cam.data_dir]) if not f.ok]
    assert bad and {(f.status, f.code) for f in bad} == {("error", "no_store_key")}


def test_a_receipt_beside_a_present_mp4_changes_nothing(cam: Docked) -> None:
    """The camera keeps the receipt before it deletes: a crash between leaves both. The MP4
    is checked for itself; the receipt beside it, good or bad, neither vouches nor accuses."""
    real, junk = cam.manifests(2)[:2]
    for mp4, key in ((real, None), (junk, Ed25519PrivateKey.generate())):
        kept = mp4.read_bytes()
        upload_by_hand(cam, mp4, key)
        mp4.write_bytes(kept)
    findings = verify([cam.data_dir])
    assert all(f.ok for f in findings), problems(findings)
    assert code_of(cam, real) == code_of(cam, junk) == "ok"


# -- item 1: forged receipts -------------------------------------------------------------------

def test_a_key_dropped_beside_the_footage_does_not_vouch_for_a_forged_receipt(
        cam: Docked) -> None:
    mp4 = cam.manifests(2)[1]
    forger = Ed25519PrivateKey.generate()
    upload_by_hand(cam, mp4, forger)
    (cam.recording(2) / STORE_KEY).write_bytes(public_pem(forger.public_key()))
    assert check(cam) == {segment(mp4, "missing_file"), recording_failed(cam.recording(2))}


def test_a_forged_receipt_with_no_store_key_anywhere_is_not_uploaded(cam: Docked) -> None:
    mp4 = cam.manifests(2)[1]
    (cam.data_dir / STORE_KEY).unlink()
    upload_by_hand(cam, mp4, Ed25519PrivateKey.generate())
    found = check(cam)
    assert segment(mp4, "receipt_not_in_log") in found
    assert code_of(cam, mp4) != "uploaded"


def test_a_forged_store_key_at_the_root_is_caught_by_the_log(cam: Docked) -> None:
    """The pinned key itself replaced: the receipt verifies with it, but the camera never
    wrote it into its signed log."""
    mp4 = cam.manifests(2)[1]
    forger = Ed25519PrivateKey.generate()
    upload_by_hand(cam, mp4, forger)
    (cam.data_dir / STORE_KEY).write_bytes(public_pem(forger.public_key()))
    found = check(cam)
    assert segment(mp4, "receipt_not_in_log") in found
    assert recording_failed(cam.recording(2)) in found
    # the store's real key, given explicitly, sees the forgery for what it is
    assert segment(mp4, "missing_file") in check(cam, store_key=cam.store_pem)


def test_a_real_store_receipt_the_camera_never_logged_is_not_an_upload(cam: Docked) -> None:
    """Signed by the real store (the bytes reached it some other way), every field right; the
    camera did not delete it after a dock, so its log has no receipt entry."""
    mp4 = cam.manifests(2)[0]
    upload_by_hand(cam, mp4)
    assert check(cam) == {segment(mp4, "receipt_not_in_log"),
                          recording_failed(cam.recording(2))}


def test_the_same_receipt_with_its_log_entry_is_an_upload(cam: Docked) -> None:
    """The control for the test above: with the entry the camera writes, it is uploaded."""
    mp4 = cam.manifests(2)[0]
    raw = upload_by_hand(cam, mp4)
    log_receipt_entry(cam, mp4, raw)
    assert check(cam) == set() and code_of(cam, mp4) == "uploaded"


@pytest.mark.parametrize("entry_change", [
    {"sha256": "0" * 64}, {"file": "R000009-000000-S0000.mp4"}, {"recording_id": "R000009-x"},
    {"receipt_sha256": "1" * 64}, {"kind": "audit_log"}])
def test_a_log_entry_for_other_bytes_or_another_receipt_does_not_count(
        cam: Docked, entry_change: dict[str, object]) -> None:
    mp4 = cam.manifests(2)[0]
    raw = upload_by_hand(cam, mp4)
    log_receipt_entry(cam, mp4, raw, **entry_change)
    assert segment(mp4, "receipt_not_in_log") in check(cam)


@pytest.mark.parametrize("change", [
    {"sha256": "ab" * 32}, {"file": "R000001-000000-S0009.mp4"}, {"device_id": "bwv-" + "0" * 16},
    {"size": 1}, {"segment_index": 7}, {"recording_id": "R000099-abcdef"}, {"kind": "audit_log"},
    {"manifest_sha256": "cd" * 32}])
def test_a_real_store_receipt_for_something_else_is_not_an_upload(
        cam: Docked, change: dict[str, object]) -> None:
    mp4 = cam.manifests(2)[0]
    raw = upload_by_hand(cam, mp4, **change)
    log_receipt_entry(cam, mp4, raw)  # even with the camera's word for it
    found = check(cam)
    assert segment(mp4, "missing_file") in found, found
    [f] = [f for f in verify([cam.data_dir]) if f.path == str(mp4) and f.kind == "segment"]
    assert "store receipt not valid" in f.detail


@pytest.mark.parametrize("how", ["foreign", "store_id_of_the_real_store"])
def test_a_receipt_signed_by_another_store_key_is_not_an_upload(cam: Docked, how: str) -> None:
    """A retired or foreign store key: only the pinned one counts."""
    mp4 = cam.manifests(2)[0]
    change = {"store_id": store_id_for(cam.store_private.public_key())} if how != "foreign" \
        else {}
    raw = upload_by_hand(cam, mp4, Ed25519PrivateKey.generate(), **change)
    log_receipt_entry(cam, mp4, raw)
    assert segment(mp4, "missing_file") in check(cam)


def test_an_uploaded_segments_receipt_swapped_for_anothers_is_caught(cam: Docked) -> None:
    one, two = cam.manifests(0)[:2]
    for suffix in (RECEIPT_SUFFIX, RECEIPT_SIG_SUFFIX):
        shutil.copy(two.with_name(two.name + suffix), one.with_name(one.name + suffix))
    assert check(cam) == {segment(one, "missing_file"), recording_failed(cam.recording(0))}


def test_an_uploaded_segments_receipt_removed_is_caught(cam: Docked) -> None:
    one = cam.manifests(1)[0]
    receipt_path(one).unlink()
    assert check(cam) == {segment(one, "missing_file"), recording_failed(cam.recording(1))}


def test_uploaded_segments_with_the_log_removed_are_not_uploaded(cam: Docked) -> None:
    shutil.rmtree(cam.log.parent)
    found = check(cam)
    assert ("audit", str(cam.log), "no_audit_log") in found
    assert {path for kind, path, code in found if code == "receipt_not_in_log"} == {
        str(p) for n in (0, 1) for p in cam.manifests(n)}


def test_a_lone_uploaded_segment_is_checked_against_the_pinned_key(cam: Docked) -> None:
    """Given on its own (not its data directory), the log is not read, but the receipt is
    still checked with the data directory's pinned store key, never one beside it."""
    mp4 = cam.manifests(0)[0]
    [f] = verify([manifest_path(mp4)])
    assert f.code == "uploaded", f
    forger = Ed25519PrivateKey.generate()
    victim = cam.manifests(2)[0]
    upload_by_hand(cam, victim, forger)
    (cam.recording(2) / STORE_KEY).write_bytes(public_pem(forger.public_key()))
    [f] = verify([manifest_path(victim)])
    assert f.code == "missing_file", f


def test_a_data_directory_without_its_device_key_is_a_finding(cam: Docked,
                                                               tmp_path: Path) -> None:
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir()
    shutil.copy(cam.data_dir / PUBLIC_KEY, enrolled / "pc4711.pem")
    shutil.copy(cam.store_pem, enrolled / STORE_KEY)
    (cam.data_dir / PUBLIC_KEY).unlink()
    assert check(cam, keys=KeyRing.from_dir(enrolled)) == {
        ("key", str(cam.data_dir / IDENTITY), "no_identity")}


# -- item 8: the log against the store's receipts for it ---------------------------------------

def lines(cam: Docked) -> list[bytes]:
    return cam.log.read_bytes().splitlines(keepends=True)


def cut_after(cam: Docked, keep: int) -> None:
    cam.log.write_bytes(b"".join(lines(cam)[:keep]))


def events(cam: Docked) -> list[dict]:
    return [json.loads(line) for line in lines(cam)]


def test_the_newest_recording_deleted_and_the_log_cut_to_a_checkpoint_is_caught(
        cam: Docked) -> None:
    """B was docked: the store holds a snapshot of the log with B in it. Delete B and C and
    cut the log back to the checkpoint before B started: every check on the camera alone
    passes; the kept receipt for the second snapshot does not."""
    entries = events(cam)
    b_start = [i for i, e in enumerate(entries) if e["event"] == "recording_start"][1]
    cut = max(i for i, e in enumerate(entries[:b_start]) if e["event"] == "checkpoint") + 1
    for n in (2, 1):
        shutil.rmtree(cam.recording(n))
    cut_after(cam, cut)
    assert check(cam) == {("audit", str(cam.log), "log_truncated")}
    [f] = [f for f in verify([cam.data_dir]) if f.code == "log_truncated"]
    assert f.status == "tampered" and "acknowledged" in f.detail


def test_a_log_cut_into_a_snapshot_the_store_holds_is_caught(cam: Docked) -> None:
    cut_after(cam, len(lines(cam)) // 2)
    assert ("audit", str(cam.log), "log_truncated") in check(cam)


def test_a_log_rewritten_under_a_snapshot_is_caught(cam: Docked) -> None:
    """Re-signed with the device key (a firmware bug, or someone holding the key): the chain
    and signatures pass, the bytes the store acknowledged do not."""
    from tests.evidence import rewrite_log

    identity = identity_of(cam.data_dir)
    rewrite_log(cam.log, identity.private_key,
                lambda e: None if e["event"] == "gesture" else e)
    found = check(cam)
    assert ("audit", str(cam.log), "log_diverged") in found
    assert {code for kind, _, code in found if kind == "audit"} <= {"log_diverged",
                                                                   "log_truncated"}


def test_the_log_after_its_newest_receipt_is_the_camera_s_word_alone(cam: Docked) -> None:
    """What the camera cannot prove without the store: C (never docked) deleted and the log cut
    back to the checkpoint before it. The report says how far the store vouches."""
    entries = events(cam)
    c_start = [i for i, e in enumerate(entries) if e["event"] == "recording_start"][2]
    cut = max(i for i, e in enumerate(entries[:c_start]) if e["event"] == "checkpoint") + 1
    shutil.rmtree(cam.recording(2))
    cut_after(cam, cut)
    findings = verify([cam.data_dir])
    assert all(f.ok for f in findings), problems(findings)
    [anchor] = [f for f in findings if f.kind == "audit" and "store" in f.detail]
    assert "camera alone" in anchor.detail


def test_an_audit_receipt_recorded_in_the_log_but_deleted_is_caught(cam: Docked) -> None:
    oldest = min(cam.audit_receipts(), key=lambda p: json.loads(p.read_bytes())["size"])
    oldest.unlink()
    oldest.with_name(oldest.name.replace(RECEIPT_SUFFIX, RECEIPT_SIG_SUFFIX)).unlink()
    assert check(cam) == {("audit", str(cam.log), "receipt_missing")}


def test_every_audit_receipt_deleted_is_caught(cam: Docked) -> None:
    shutil.rmtree(cam.data_dir / AUDIT_RECEIPTS)
    assert check(cam) == {("audit", str(cam.log), "receipt_missing")}


def test_a_forged_audit_receipt_is_caught(cam: Docked) -> None:
    raw = b"".join(lines(cam)[:3])
    receipt = Receipt(store_id="store-0", kind="audit_log", device_id="bwv-0", file="audit.jsonl",
                      sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                      received_utc="2026-01-01T00:00:00.000Z")
    forger = Ed25519PrivateKey.generate()
    body, sig = sign_receipt(forger, receipt)
    folder = cam.data_dir / AUDIT_RECEIPTS
    (folder / f"{receipt.sha256}{RECEIPT_SUFFIX}").write_bytes(body)
    (folder / f"{receipt.sha256}{RECEIPT_SIG_SUFFIX}").write_bytes(sig)
    assert check(cam) == {("audit", str(cam.log), "bad_receipt")}


def test_audit_receipts_without_a_store_key_are_not_checked_nor_accusing(cam: Docked) -> None:
    (cam.data_dir / STORE_KEY).unlink()
    cut_after(cam, len(lines(cam)) // 2)
    bad = [f for f in verify([cam.data_dir]) if not f.ok and f.kind == "audit"]
    assert "log_truncated" not in {f.code for f in bad}
    assert "no_store_key" in {f.code for f in bad}


# -- the command line --------------------------------------------------------------------------

def test_verify_store_key_on_the_command_line(cam: Docked, tmp_path: Path, capsys) -> None:
    from device.cli import main

    (cam.data_dir / STORE_KEY).unlink()
    assert main(["verify", str(cam.data_dir)]) == 1
    assert "no_store_key" in capsys.readouterr().out
    assert main(["verify", str(cam.data_dir), "--store-key", str(cam.store_pem)]) == 0
    assert "all intact" in capsys.readouterr().out
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x00garbage")
    for bad in (junk, tmp_path / "missing.pem"):
        assert main(["verify", str(cam.data_dir), "--store-key", str(bad)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and "--store-key" in err
        assert "Traceback" not in err


# -- hostile receipt files: one finding each, never a crash ------------------------------------

def _hostile(cam: Docked, receipt: Path, how: str) -> None:
    sig = receipt.with_name(receipt.name.replace(RECEIPT_SUFFIX, RECEIPT_SIG_SUFFIX))
    if how == "directory":
        receipt.unlink()
        receipt.mkdir()
    elif how == "huge":
        receipt.write_bytes(b" " * (1 << 20))
    elif how == "garbage":
        receipt.write_bytes(b"\xff\x00" * 100)
    elif how == "no_signature":
        sig.unlink()
    elif how == "deep":  # signed by the real store: only its shape is hostile
        raw = b"[" * 100_000 + b"]" * 100_000
        receipt.write_bytes(raw)
        sig.write_bytes(cam.store_private.sign(raw))


HOW = ["directory", "huge", "garbage", "no_signature", "deep"]


@pytest.mark.parametrize("how", HOW)
def test_a_hostile_segment_receipt_is_one_finding(cam: Docked, how: str) -> None:
    mp4 = cam.manifests(0)[1]
    _hostile(cam, receipt_path(mp4), how)
    findings = verify([cam.data_dir])
    [f] = [f for f in findings if f.path == str(mp4)]
    assert not f.ok and "\n" not in f.detail
    assert {p for p in problems(findings) if p[0] != "segment"} <= {
        recording_failed(cam.recording(0))}
    if how == "directory":  # cannot be read: not checked, not accused
        assert (f.status, f.code) == ("error", "unreadable")
        assert problems(findings) == {segment(mp4, "unreadable")}
    else:
        assert f.code == "missing_file"


@pytest.mark.parametrize("how", HOW)
def test_a_hostile_audit_receipt_is_one_finding(cam: Docked, how: str) -> None:
    newest = max(cam.audit_receipts(), key=lambda p: json.loads(p.read_bytes())["size"])
    _hostile(cam, newest, how)
    found = check(cam)
    assert found == {("audit", str(cam.log), "bad_receipt")}
    [f] = [f for f in verify([cam.data_dir]) if f.code == "bad_receipt"]
    assert "\n" not in f.detail


# -- docs/FORMAT.md, step 5, with the standard tools -------------------------------------------

def receipts_walkthrough() -> str:
    text = (Path(__file__).resolve().parent.parent / "docs" / "FORMAT.md").read_text()
    [block] = re.findall(r"<!-- receipts -->\n```sh\n(.*?)```", text, flags=re.DOTALL)
    return block


def run_step5(cam: Docked) -> str:
    env = {**os.environ, "DATA_DIR": str(cam.data_dir), "STORE_PUB": str(cam.store_pem)}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", receipts_walkthrough()],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not (have("openssl") and have("jq")), reason="openssl and jq needed")
def test_step_5_of_the_walkthrough_checks_receipts_and_the_log(cam: Docked) -> None:
    out = run_step5(cam)
    uploaded = [p for n in (0, 1) for p in cam.manifests(n)]
    assert "FAILED" not in out, out
    assert out.count("OK uploaded ") == len(uploaded)
    assert out.count("OK the log begins with") == len(cam.audit_receipts())
    assert out.count("OK signed ") == len(uploaded) + len(cam.audit_receipts())
    # a forged receipt, and a log cut behind a snapshot, fail it
    upload_by_hand(cam, cam.manifests(2)[0], Ed25519PrivateKey.generate())
    cam.log.write_bytes(b"".join(lines(cam)[:20]))
    out = run_step5(cam)
    assert "FAILED receipt signature" in out and "FAILED the log is cut" in out


@pytest.mark.parametrize("change", [{"device_id": "bwv-" + "0" * 16}, {"file": "other.jsonl"},
                                    {"kind": "segment"}, {"sha256": "ef" * 32}])
def test_a_real_store_receipt_for_another_log_is_a_bad_receipt(
        cam: Docked, change: dict[str, object]) -> None:
    """Signed by the real store, but not for this camera's log (or not for the snapshot its
    file name says): it anchors nothing, and it was put there."""
    raw_log = b"".join(lines(cam)[:5])
    receipt = Receipt(store_id=store_id_for(cam.store_private.public_key()), kind="audit_log",
                      device_id=json.loads((cam.data_dir / IDENTITY).read_text())["device_id"],
                      file="audit.jsonl", sha256=hashlib.sha256(raw_log).hexdigest(),
                      size=len(raw_log), received_utc="2026-01-01T03:00:00.000Z")
    name = receipt.sha256
    body, sig = sign_receipt(cam.store_private, dataclasses.replace(receipt, **change))
    folder = cam.data_dir / AUDIT_RECEIPTS
    (folder / f"{name}{RECEIPT_SUFFIX}").write_bytes(body)
    (folder / f"{name}{RECEIPT_SIG_SUFFIX}").write_bytes(sig)
    assert check(cam) == {("audit", str(cam.log), "bad_receipt")}
    # the control: the same receipt unchanged is a real anchor, and the log agrees with it
    body, sig = sign_receipt(cam.store_private, receipt)
    (folder / f"{name}{RECEIPT_SUFFIX}").write_bytes(body)
    (folder / f"{name}{RECEIPT_SIG_SUFFIX}").write_bytes(sig)
    assert check(cam) == set()


def test_keys_dropped_in_a_recording_folder_do_not_make_it_a_data_directory_for_receipts(
        cam: Docked) -> None:
    """The device's own public key copied beside the footage, with a forger's store key: the
    pinned store key is still the data directory's."""
    mp4 = cam.manifests(2)[1]
    forger = Ed25519PrivateKey.generate()
    upload_by_hand(cam, mp4, forger)
    shutil.copy(cam.data_dir / PUBLIC_KEY, cam.recording(2) / PUBLIC_KEY)
    (cam.recording(2) / STORE_KEY).write_bytes(public_pem(forger.public_key()))
    findings = verify([cam.data_dir])
    [f] = [f for f in findings if f.kind == "segment" and f.path == str(mp4)]
    assert f.code == "missing_file" and not any(f.ok for f in findings
                                                if f.path == str(mp4))
