"""The tamper matrix: every manipulation of real recordings is caught, for the right reason, and
nothing untouched is ever flagged.

Cameras are recorded once per module (tests/evidence.py: camera A with two recordings, B with
one, C cut by power loss); each test works on a fresh copy. Each case asserts the exact set of
problems: the reason, and that no other item was flagged.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.audit import AuditLog, canonical, line_hash, signed_bytes
from evidence.crypt import load_force_private_key, new_force_key, new_segment_key, private_pem
from evidence.crypt import public_pem as force_public_pem
from evidence.identity import IDENTITY, PUBLIC_KEY
from evidence.keyring import KeyRing
from evidence.layout import Layout
from evidence.manifest import (
    Manifest,
    manifest_path,
    signature_path,
    write_signed_manifest,
)
from evidence.verify import verify
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.evidence import (
    Camera,
    copy_template,
    edit_entry,
    identity_of,
    log_lines,
    problems,
    record,
    recover,
    resign_everything,
    segment_files,
    template_fixture,
    write_lines,
)
from tests.test_hostile_files import bounded, reuse_a_number, special_files

template = template_fixture()


@pytest.fixture
def cams(template: Path, tmp_path: Path) -> dict[str, Camera]:
    return copy_template(template, tmp_path / "copy")


@pytest.fixture(scope="module")
def shared(template: Path) -> Iterator[dict[str, Camera]]:
    """One copy for the hypothesis tests, which restore what they change after each example."""
    with tempfile.TemporaryDirectory() as tmp:
        yield copy_template(template, Path(tmp) / "copy")


def seg(cam: Camera, recording: int, index: int) -> Path:
    return cam.segments(recording)[index]


def check(cam: Camera, keys: KeyRing | None = None) -> set[tuple[str, str, str]]:
    return problems(verify([cam.data_dir], keys))


def recording_problem(cam: Camera, n: int, code: str) -> tuple[str, str, str]:
    return ("recording", str(cam.recording(n)), code)


def segment_problem(path: Path, code: str) -> tuple[str, str, str]:
    return ("segment", str(path), code)


def log_problem(cam: Camera, code: str, kind: str = "log-vs-footage") -> tuple[str, str, str]:
    return (kind, str(cam.log), code)


def enrol(tmp_path: Path, *cameras: Camera) -> KeyRing:
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir(exist_ok=True)
    for i, cam in enumerate(cameras):
        shutil.copy(cam.data_dir / PUBLIC_KEY, enrolled / f"camera{i}.pem")
    return KeyRing.from_dir(enrolled)


# -- untouched -------------------------------------------------------------------------------

def test_untouched_recordings_are_intact_in_every_way(cams) -> None:
    for name in ("a", "b"):
        findings = verify([cams[name].data_dir])
        assert findings and all(f.ok for f in findings), problems(findings)
        kinds = {f.kind for f in findings}
        assert kinds == {"segment", "recording", "audit", "log-vs-footage"}


def test_untouched_recordings_verify_against_their_enrolled_keys(cams, tmp_path) -> None:
    keys = enrol(tmp_path, cams["a"], cams["b"])
    for name in ("a", "b"):
        findings = verify([cams[name].data_dir], keys)
        assert all(f.ok for f in findings), problems(findings)
        assert any(f.kind == "key" for f in findings)


# -- one byte flipped (hypothesis picks where) -----------------------------------------------

def flipped(path: Path, offset: int, mask: int) -> bytes:
    original = path.read_bytes()
    data = bytearray(original)
    data[offset % len(data)] ^= mask
    path.write_bytes(bytes(data))
    return original


FLIP = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FLIP
@given(offset=st.integers(min_value=0, max_value=10**6), mask=st.integers(1, 255))
def test_a_byte_flipped_in_an_mp4_is_a_hash_mismatch(shared, offset: int, mask: int) -> None:
    cam = shared["a"]
    mp4 = seg(cam, 0, 1)
    original = flipped(mp4, offset, mask)
    try:
        assert check(cam) == {segment_problem(mp4, "hash_mismatch"),
                              recording_problem(cam, 0, "segment_failed")}
    finally:
        mp4.write_bytes(original)


@FLIP
@given(offset=st.integers(min_value=0, max_value=10**6), mask=st.integers(1, 255),
       which=st.sampled_from(["manifest", "signature"]))
def test_a_byte_flipped_in_a_manifest_or_signature_breaks_the_signature(
        shared, offset: int, mask: int, which: str) -> None:
    cam = shared["a"]
    mp4 = seg(cam, 0, 2)
    victim = manifest_path(mp4) if which == "manifest" else signature_path(mp4)
    original = flipped(victim, offset, mask)
    try:
        assert check(cam) == {segment_problem(mp4, "bad_signature"),
                              recording_problem(cam, 0, "segment_failed")}
        keys = KeyRing.from_dir(cam.data_dir)  # its device.pub.pem, as if enrolled
        assert check(cam, keys) == {segment_problem(mp4, "bad_signature"),
                                    recording_problem(cam, 0, "segment_failed")}
    finally:
        victim.write_bytes(original)


# -- edited ----------------------------------------------------------------------------------

def test_a_truncated_mp4_is_a_size_mismatch(cams) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 0, 3)
    mp4.write_bytes(mp4.read_bytes()[:-1000])
    assert check(cam) == {segment_problem(mp4, "size_mismatch"),
                          recording_problem(cam, 0, "segment_failed")}


@pytest.mark.parametrize("field, value", [("last", True), ("frame_count", 1),
                                          ("reason", "nothing to see"), ("markers", ())])
def test_a_manifest_field_edited_and_reserialised_breaks_the_signature(
        cams, field: str, value: object) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 0, 1)
    manifest = Manifest.from_bytes(manifest_path(mp4).read_bytes())
    edited = dataclasses.replace(manifest, **{field: value})
    if field == "markers":  # the marker is in segment 1 (set 5 s into the recording)
        assert manifest.markers
    assert edited != manifest
    manifest_path(mp4).write_bytes(edited.to_bytes())
    assert check(cam) == {segment_problem(mp4, "bad_signature"),
                          recording_problem(cam, 0, "segment_failed")}


# -- removed, reordered, duplicated, put in ----------------------------------------------------

def delete_segment(mp4: Path) -> None:
    for f in segment_files(mp4):
        f.unlink()


def test_a_middle_segment_deleted_is_missing_from_chain_and_log(cams) -> None:
    cam = cams["a"]
    delete_segment(seg(cam, 0, 2))
    assert check(cam) == {recording_problem(cam, 0, "missing_segment"),
                          log_problem(cam, "missing_segment")}


def test_the_last_segment_deleted_is_unterminated_and_the_log_says_it_existed(cams) -> None:
    cam = cams["a"]
    last = cam.segments(0)[-1]
    delete_segment(last)
    findings = verify([cam.data_dir])
    assert problems(findings) == {recording_problem(cam, 0, "no_last_segment"),
                                  log_problem(cam, "missing_segment")}
    recording = next(f for f in findings if f.kind == "recording" and not f.ok)
    assert recording.status == "unterminated" and "possible power loss" in recording.detail
    log = next(f for f in findings if f.kind == "log-vs-footage")
    assert log.status == "tampered" and last.name in log.detail


def test_a_recording_cut_by_power_loss_is_unterminated_not_tampered(cams) -> None:
    cam = cams["c"]
    findings = verify([cam.data_dir])
    part = next(cam.recording(1).glob("*.part")).with_suffix("")
    assert problems(findings) == {segment_problem(part, "part_file"),
                                  recording_problem(cam, 1, "no_last_segment")}
    assert {f.status for f in findings if not f.ok} == {"interrupted", "unterminated"}


def test_a_recording_recovered_after_power_loss_is_intact(cams) -> None:
    cam = cams["c"]
    [recovered] = recover(cam.data_dir)
    findings = verify([cam.data_dir])
    assert all(f.ok for f in findings), problems(findings)
    assert {(f.kind, f.path) for f in findings if f.code == "recovered"} == {
        ("segment", str(recovered)), ("recording", str(cam.recording(1)))}


def test_the_recovered_end_deleted_is_unterminated_again(cams) -> None:
    cam = cams["c"]
    [recovered] = recover(cam.data_dir)
    delete_segment(recovered)
    assert check(cam) == {recording_problem(cam, 1, "no_last_segment")}


def edit_pending(part: Path) -> None:
    pending = part.with_name(part.name + ".json")
    record = json.loads(pending.read_text())
    record["start_wall"] -= 3600.0  # an hour earlier
    pending.write_text(json.dumps(record, indent=1))


def replace_fragment_bytes(part: Path) -> None:
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))


def truncate_signed(part: Path) -> None:
    """Into the bytes of the first fragment (not the last landing, which a power cut may
    leave short of its signature)."""
    first = json.loads(part.with_name(part.name + ".sigs").read_bytes().splitlines()[1])
    part.write_bytes(part.read_bytes()[:first["end"] - 10])


def delete_fragment_log(part: Path) -> None:
    part.with_name(part.name + ".sigs").unlink()


@pytest.mark.parametrize("attack", [edit_pending, replace_fragment_bytes, truncate_signed,
                                    delete_fragment_log])
def test_a_part_edited_after_the_power_cut_is_tampered_and_never_signed(cams, attack) -> None:
    """Between the cut and the next boot (docs/FORMAT.md, "An open segment")."""
    cam = cams["c"]
    part = next(cam.recording(1).glob("*.part"))
    attack(part)
    expected = {segment_problem(part.with_suffix(""), "part_tampered"),
                recording_problem(cam, 1, "segment_failed")}
    assert check(cam) == expected
    assert recover(cam.data_dir) == [part.with_suffix("")]  # tried, and refused
    assert part.exists() and not manifest_path(part.with_suffix("")).exists()
    assert check(cam) == expected


def test_bytes_appended_to_a_part_after_the_cut_are_set_aside_unverified(cams) -> None:
    cam = cams["c"]
    part = next(cam.recording(1).glob("*.part"))
    original = part.read_bytes()
    part.write_bytes(original + b"\x00\x00\x00\x0cmdatXXXX")
    [recovered] = recover(cam.data_dir)
    assert recovered.read_bytes() == original
    assert recovered.with_name(recovered.name + ".torn").read_bytes().endswith(b"mdatXXXX")
    assert check(cam) == set()


def rename_segment(mp4: Path, to: Path) -> None:
    for src, dst in zip(segment_files(mp4), segment_files(to), strict=True):
        src.rename(dst)


def test_two_segments_swapped_by_renaming_are_misplaced(cams, tmp_path) -> None:
    cam = cams["a"]
    one, two = seg(cam, 0, 1), seg(cam, 0, 2)
    parked = tmp_path / one.name
    rename_segment(one, parked)
    rename_segment(two, one)
    rename_segment(parked, two)
    assert check(cam) == {segment_problem(one, "misplaced"), segment_problem(two, "misplaced"),
                          recording_problem(cam, 0, "segment_failed")}


def test_a_segment_duplicated_into_the_recording_is_caught(cams) -> None:
    cam = cams["a"]
    original = seg(cam, 0, 1)
    (cam.recording(0) / "again").mkdir()
    for f in segment_files(original):
        shutil.copy(f, cam.recording(0) / "again" / f.name)
    assert check(cam) == {recording_problem(cam, 0, "duplicate_segment")}


def test_a_segment_duplicated_under_a_new_name_is_misplaced(cams) -> None:
    cam = cams["a"]
    original, last = seg(cam, 0, 1), cam.segments(0)[-1]
    copy = last.with_name(last.name.replace(last.stem[-4:], "9999"))
    for src, dst in zip(segment_files(original), segment_files(copy), strict=True):
        shutil.copy(src, dst)
    assert check(cam) == {segment_problem(copy, "misplaced"),
                          recording_problem(cam, 0, "segment_failed")}


def put_in(mp4: Path, folder: Path) -> Path:
    for f in segment_files(mp4):
        shutil.copy(f, folder / f.name)
    return folder / mp4.name


def test_a_segment_of_another_recording_of_the_same_camera_is_foreign(cams) -> None:
    cam = cams["a"]
    intruder = put_in(seg(cam, 1, 0), cam.recording(0))
    assert check(cam) == {segment_problem(intruder, "foreign_recording"),
                          recording_problem(cam, 0, "segment_failed")}


def test_a_segment_of_another_camera_is_foreign(cams, tmp_path) -> None:
    cam, other = cams["a"], cams["b"]
    intruder = put_in(seg(other, 0, 0), cam.recording(0))
    # the data directory's key cannot have signed it
    findings = verify([cam.data_dir])
    assert problems(findings) == {segment_problem(intruder, "bad_signature"),
                                  recording_problem(cam, 0, "segment_failed")}
    assert other.device_id in next(f.detail for f in findings if f.path == str(intruder))
    # with both cameras enrolled its signature checks out, and it is named for what it is
    assert check(cam, enrol(tmp_path, cam, other)) == {
        segment_problem(intruder, "foreign_device"), recording_problem(cam, 0, "segment_failed")}


# -- a key swapped and everything re-signed ----------------------------------------------------

def test_a_swapped_key_with_everything_resigned_is_caught_by_the_enrolled_key(
        cams, tmp_path) -> None:
    cam = cams["a"]
    keys = enrol(tmp_path, cam)  # enrolled before the attack
    resign_everything(cam.data_dir, Ed25519PrivateKey.generate(), claim_own_id=True)
    # on its own the data directory is consistent: only an enrolled key can tell
    assert check(cam) == set()
    found = check(cam, keys)
    assert {(kind, code) for kind, _, code in found} == {
        ("segment", "unenrolled"), ("audit", "unenrolled"), ("key", "unenrolled"),
        ("recording", "segment_failed")}
    assert {(kind, path) for kind, path, _ in found if kind == "segment"} == {
        ("segment", str(p)) for n in (0, 1) for p in cam.segments(n)}


def test_a_swapped_key_that_keeps_the_device_id_is_the_wrong_key(cams, tmp_path) -> None:
    cam = cams["a"]
    keys = enrol(tmp_path, cam)
    resign_everything(cam.data_dir, Ed25519PrivateKey.generate(), claim_own_id=False)
    # without enrolment: the key does not belong to the device the manifests name
    assert {(kind, code) for kind, _, code in check(cam)} == {
        ("segment", "device_mismatch"), ("recording", "segment_failed")}
    assert {(kind, code) for kind, _, code in check(cam, keys)} == {
        ("segment", "wrong_key"), ("recording", "segment_failed"), ("audit", "unenrolled"),
        ("key", "unenrolled")}


# -- the audit log ---------------------------------------------------------------------------

def entry_index(lines: list[bytes], event: str, nth: int = 0) -> int:
    return [i for i, line in enumerate(lines) if json.loads(line)["event"] == event][nth]


def test_an_audit_entry_removed_is_caught(cams) -> None:
    cam = cams["a"]
    lines = log_lines(cam)
    del lines[entry_index(lines, "gesture")]
    write_lines(cam, lines)
    assert check(cam) == {log_problem(cam, "chain_broken", "audit"),
                          log_problem(cam, "sequence", "audit")}


def test_a_recording_start_removed_from_the_log_is_caught_twice(cams) -> None:
    cam = cams["a"]
    lines = log_lines(cam)
    del lines[entry_index(lines, "recording_start", 1)]
    write_lines(cam, lines)
    assert check(cam) == {log_problem(cam, "chain_broken", "audit"),
                          log_problem(cam, "sequence", "audit"), log_problem(cam, "not_in_log")}


def test_an_audit_entry_edited_is_caught(cams) -> None:
    cam = cams["a"]
    edit_entry(cam, entry_index(log_lines(cam), "marker"),
               lambda entry: entry["data"].update(note="nothing happened"))
    assert check(cam) == {log_problem(cam, "bad_signature", "audit"),
                          log_problem(cam, "chain_broken", "audit")}


def test_audit_entries_reordered_are_caught(cams) -> None:
    cam = cams["a"]
    lines = log_lines(cam)
    i = entry_index(lines, "recording_stop")
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    write_lines(cam, lines)
    assert check(cam) == {log_problem(cam, "chain_broken", "audit"),
                          log_problem(cam, "sequence", "audit")}


def test_a_checkpoint_edited_is_forged(cams) -> None:
    cam = cams["a"]
    edit_entry(cam, -1, lambda checkpoint: checkpoint["data"].update(entries=3))
    assert check(cam) == {log_problem(cam, "forged_checkpoint", "audit"),
                          log_problem(cam, "checkpoint_mismatch", "audit")}


def test_a_checkpoint_appended_without_the_key_is_forged(cams) -> None:
    cam = cams["a"]
    lines = log_lines(cam)
    last = json.loads(lines[-1])
    forged = {**last, "seq": last["seq"] + 1, "prev": line_hash(lines[-1]), "sig": "",
              "data": {"entries": last["seq"] + 1, "head": line_hash(lines[-1])}}
    forged["sig"] = base64.b64encode(
        Ed25519PrivateKey.generate().sign(signed_bytes(forged))).decode()
    write_lines(cam, [*lines, canonical(forged)])
    assert check(cam) == {log_problem(cam, "forged_checkpoint", "audit")}


def test_a_checkpoint_that_vouches_for_another_chain_is_caught_even_when_signed(cams) -> None:
    """Signed with the device's own key (as a firmware bug would): its content still counts."""
    cam = cams["a"]
    old_head = line_hash(log_lines(cam)[3])
    edit_entry(cam, -1, lambda checkpoint: checkpoint["data"].update(head=old_head),
               key=identity_of(cam.data_dir).private_key)
    assert check(cam) == {log_problem(cam, "checkpoint_mismatch", "audit")}


# -- time --------------------------------------------------------------------------------------

def test_a_segment_that_starts_before_the_previous_ended_is_caught(cams) -> None:
    """Only the key holder can do this (here: the device key, as a firmware bug would)."""
    cam = cams["a"]
    identity = identity_of(cam.data_dir)
    mp4s = cam.segments(0)
    prev = None
    for i, mp4 in enumerate(mp4s):  # re-sign the chain with segment 2 starting 3 s early
        manifest = Manifest.from_bytes(manifest_path(mp4).read_bytes())
        if i == 2:
            manifest = dataclasses.replace(manifest, start_utc=Manifest.from_bytes(
                manifest_path(mp4s[1]).read_bytes()).start_utc)
        manifest = dataclasses.replace(manifest, prev_manifest_sha256=prev)
        prev = write_signed_manifest(identity, mp4, manifest)
    found = check(cam)
    assert recording_problem(cam, 0, "time_backwards") in found
    assert {kind for kind, _, _ in found} <= {"recording", "log-vs-footage"}


def test_a_segment_with_a_store_receipt_in_the_log_may_leave_the_camera(cams) -> None:
    """The log's side only: once an ``upload_receipt`` names it, its absence is no tampering
    for the log (the recording's own chain still sees the hole)."""
    cam = cams["a"]
    gone = seg(cam, 0, 2)
    log = AuditLog(cam.log, SimClock(), identity_of(cam.data_dir).sign)
    log.append("upload_receipt", "receipt from the store", kind="segment", file=gone.name,
               recording_id=cam.recording(0).name)
    log.close()
    delete_segment(gone)
    assert check(cam) == {recording_problem(cam, 0, "missing_segment")}


# -- the data directory's own files (issue 11, item 2) ---------------------------------------

def identity_problem(cam: Camera, code: str = "no_identity") -> tuple[str, str, str]:
    return ("key", str(cam.data_dir / IDENTITY), code)


def no_log(cam: Camera) -> tuple[str, str, str]:
    return ("audit", str(cam.log), "no_audit_log")


def test_the_audit_log_removed_with_the_identity_is_still_caught(cams) -> None:
    cam = cams["a"]
    shutil.rmtree(cam.log.parent)
    (cam.data_dir / IDENTITY).unlink()
    assert check(cam) == {no_log(cam), identity_problem(cam)}


def test_the_identity_removed_is_caught(cams) -> None:
    cam = cams["a"]
    (cam.data_dir / IDENTITY).unlink()
    assert check(cam) == {identity_problem(cam)}


def test_the_audit_log_removed_alone_is_caught(cams) -> None:
    cam = cams["b"]
    cam.log.unlink()
    assert check(cam) == {no_log(cam)}


def test_the_whole_audit_folder_and_the_state_removed_are_caught(cams) -> None:
    cam = cams["a"]
    for folder in ("audit", "state"):
        shutil.rmtree(cam.data_dir / folder)
    (cam.data_dir / IDENTITY).unlink()
    assert check(cam) == {no_log(cam), identity_problem(cam)}


def test_the_public_key_identity_and_log_removed_are_caught_with_enrolled_keys(
        cams, tmp_path) -> None:
    """Footage that still verifies against the enrolled key, in a data directory stripped of
    everything that says whose it is."""
    cam = cams["b"]
    keys = enrol(tmp_path, cam)
    for name in (PUBLIC_KEY, IDENTITY):
        (cam.data_dir / name).unlink()
    shutil.rmtree(cam.log.parent)
    assert check(cam, keys) == {no_log(cam), identity_problem(cam)}


def test_a_data_directory_stripped_of_key_identity_and_log_is_tampered_not_just_unchecked(
        cams) -> None:
    """Without --keys the footage cannot be checked (no key: an error), but the data directory
    itself is short of what every camera has."""
    cam = cams["b"]
    for name in (PUBLIC_KEY, IDENTITY):
        (cam.data_dir / name).unlink()
    shutil.rmtree(cam.log.parent)
    found = check(cam)
    assert {no_log(cam), identity_problem(cam)} <= found
    assert {code for _, _, code in found} == {"no_audit_log", "no_identity", "no_key"}


def test_a_stripped_data_directory_moved_to_look_like_a_store_export_is_still_a_camera_s(
        cams, tmp_path) -> None:
    """A store export's devices/DEVICE_ID holds footage only; a camera's folder renamed so
    keeps what only a camera has (here its state and private key)."""
    cam = cams["a"]
    device_id = cam.device_id
    shutil.rmtree(cam.log.parent)
    (cam.data_dir / IDENTITY).unlink()
    disguised = tmp_path / "case" / "devices" / device_id
    disguised.parent.mkdir(parents=True)
    cam.data_dir.rename(disguised)
    found = problems(verify([disguised.parent]))
    assert ("audit", str(disguised / "audit" / "audit.jsonl"), "no_audit_log") in found


def test_a_data_directory_emptied_of_footage_and_log_is_not_intact(cams) -> None:
    cam = cams["a"]
    shutil.rmtree(cam.data_dir / "recordings")
    shutil.rmtree(cam.log.parent)
    assert check(cam) == {no_log(cam)}


def test_a_folder_of_loose_segments_is_not_asked_for_a_log(cams, tmp_path) -> None:
    """Segments copied out on their own (no data directory around them) are checked as
    segments: nothing says a log should be with them."""
    cam = cams["a"]
    loose = tmp_path / "loose"
    loose.mkdir()
    for mp4 in cam.segments(0):
        put_in(mp4, loose)
    shutil.copy(cam.data_dir / PUBLIC_KEY, loose / PUBLIC_KEY)
    findings = verify([loose])
    assert findings and all(f.ok for f in findings), problems(findings)


# -- hostile files (issue 11): each bounded in time, so a hang fails instead of stopping ------

def test_another_cameras_recording_planted_with_its_key_is_checked_as_this_cameras(
        cams, tmp_path) -> None:
    cam, other = cams["a"], cams["b"]
    planted = cam.data_dir / "recordings" / "planted"
    shutil.copytree(other.recording(0), planted / "recordings" / other.recording(0).name)
    shutil.copy(other.data_dir / PUBLIC_KEY, planted / PUBLIC_KEY)
    folder = planted / "recordings" / other.recording(0).name
    intruders = sorted(folder.glob("*.mp4"))
    common = {("key", str(planted / PUBLIC_KEY), "nested_data_dir"),
              ("recording", str(folder), "segment_failed"),
              ("recording", str(cam.data_dir / "recordings"), "duplicate_recording")}
    assert bounded(lambda: check(cam)) == common | {
        segment_problem(mp4, "bad_signature") for mp4 in intruders}
    assert bounded(lambda: check(cam, enrol(tmp_path, cam, other))) == common | {
        segment_problem(mp4, "foreign_device") for mp4 in intruders}


def test_a_segment_symlinked_to_another_is_the_link_that_is_blamed(cams) -> None:
    cam = cams["a"]
    real, link = seg(cam, 0, 1), seg(cam, 0, 3)
    link.unlink()
    link.symlink_to(real)
    assert bounded(lambda: check(cam)) == {segment_problem(link, "not_a_file"),
                                           recording_problem(cam, 0, "segment_failed")}


@pytest.mark.parametrize("kind, which", [("zero", "mp4"), ("fifo", "mp4"), ("fifo", "manifest"),
                                         ("fifo", "signature"), ("dir", "mp4")])
def test_a_special_file_in_place_of_a_segment_file_is_not_a_file(cams, tmp_path, kind: str,
                                                                 which: str) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 1, 1)
    victim = {"mp4": mp4, "manifest": manifest_path(mp4), "signature": signature_path(mp4)}[which]
    victim.unlink()
    os.rename(special_files(tmp_path)[kind], victim)
    assert bounded(lambda: check(cam)) == {segment_problem(mp4, "not_a_file"),
                                           recording_problem(cam, 1, "segment_failed")}


def test_a_symlinked_folder_in_recordings_is_reported_and_not_followed(cams) -> None:
    cam = cams["a"]
    link = cam.data_dir / "recordings" / "R000009-abcdef"
    link.symlink_to(cams["b"].recording(0))
    assert bounded(lambda: check(cam)) == {("file", str(link), "not_a_file")}


def test_a_signed_manifest_of_100000_nested_arrays_is_invalid_not_a_crash(cams) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 0, 2)
    raw = b"[" * 100_000 + b"]" * 100_000
    manifest_path(mp4).write_bytes(raw)
    signature_path(mp4).write_bytes(identity_of(cam.data_dir).sign(raw))
    assert bounded(lambda: check(cam)) == {segment_problem(mp4, "manifest_invalid"),
                                           recording_problem(cam, 0, "segment_failed")}


def test_an_audit_line_of_100000_nested_arrays_is_not_an_entry(cams) -> None:
    cam = cams["a"]
    write_lines(cam, [*log_lines(cam), b"[" * 100_000 + b"]" * 100_000])
    assert bounded(lambda: check(cam)) == {log_problem(cam, "not_an_entry", "audit")}


def test_a_recording_number_handed_out_twice_is_reported(cams, monkeypatch) -> None:
    cam = cams["a"]
    reuse_a_number(cam, monkeypatch)
    assert bounded(lambda: check(cam)) == {
        ("recording", str(cam.data_dir / "recordings"), "duplicate_recording"),
        log_problem(cam, "recording_order", "audit")}


# -- encrypted at rest (issue 15): the new fields, each manipulation its own reason -----------
#
# A camera with encryption on (its force key pinned), two recordings. Edits that keep the
# device's signature valid are made by an insider holding the camera's own key: every manifest
# re-signed and re-chained, the audit log rewritten to match (resign_everything with the
# camera's key), so only what the force key tells is left to tell.

SEALED = tiny_config(encryption={"enabled": True})


@pytest.fixture(scope="module")
def sealed_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sealed")
    data = root / "cam"
    force = new_force_key(2048)
    data.mkdir()
    (data / Layout.FORCE_KEY).write_bytes(force_public_pem(force.public_key()))
    (root / "force.key.pem").write_bytes(private_pem(force))
    sim = Simulator(SEALED, data, encoder=FakeEncoder)
    sim.power_on()
    assert sim.mode == "buffering", sim.daemon.fault
    sim.advance(2.0)
    record(sim, 9.0, marker_at=2.0)
    record(sim, 5.0)
    sim.shutdown()
    return {"data": data, "key": root / "force.key.pem"}


@pytest.fixture
def sealed(sealed_template: dict[str, Path], tmp_path: Path) -> Camera:
    shutil.copytree(sealed_template["data"], tmp_path / "cam")
    return Camera(tmp_path / "cam")


@pytest.fixture(scope="module")
def force_ring(sealed_template: dict[str, Path]) -> KeyRing:
    return KeyRing().with_force_key(load_force_private_key(sealed_template["key"]))


def edit_encryption(cam: Camera, mp4: Path, change: Callable[[dict[str, Any]], None],
                    resign: bool = True) -> None:
    """Change ``mp4``'s manifest's encryption object; with ``resign``, as an insider with the
    camera's key would: every manifest signed and chained again, the log rewritten."""
    def edited(manifest: Manifest) -> Manifest:
        encryption = dict(manifest.encryption or {})
        change(encryption)
        return dataclasses.replace(manifest, encryption=encryption)

    if resign:
        insider(cam, {mp4: edited})
    else:
        manifest_path(mp4).write_bytes(
            edited(Manifest.from_bytes(manifest_path(mp4).read_bytes())).to_bytes())


def insider(cam: Camera, changes: dict[Path, Callable[[Manifest], Manifest]]) -> None:
    """The manifests of ``changes`` changed, and everything signed again (re-chained, the log
    rewritten to match) with the camera's own key."""
    resign_everything(cam.data_dir, identity_of(cam.data_dir, SEALED).private_key, False,
                      lambda path, m: changes[path](m) if path in changes else m)


def with_encryption(**fields: object) -> Callable[[Manifest], Manifest]:
    return lambda m: dataclasses.replace(m, encryption={**(m.encryption or {}), **fields})


def test_untouched_encrypted_recordings_are_intact_with_and_without_the_force_key(
        sealed, force_ring) -> None:
    assert all(Manifest.from_bytes(manifest_path(mp4).read_bytes()).encryption
               for n in (0, 1) for mp4 in sealed.segments(n))
    for keys in (None, force_ring):
        findings = verify([sealed.data_dir], keys)
        assert findings and all(f.ok for f in findings), problems(findings)


def test_the_insiders_resigning_alone_leaves_encrypted_recordings_intact(sealed, force_ring
                                                                         ) -> None:
    """The matrix's re-signing is no finding in itself: what follows is the edits' doing."""
    edit_encryption(sealed, seg(sealed, 0, 1), lambda e: None)
    assert check(sealed, force_ring) == set()


def test_swapped_wrapped_keys_are_each_wrapped_key_swapped(sealed, force_ring) -> None:
    one, two = seg(sealed, 0, 0), seg(sealed, 0, 2)
    first, second = (Manifest.from_bytes(manifest_path(m).read_bytes()).encryption
                     for m in (one, two))
    assert first and second
    fields = ("wrapped_key", "iv", "key_check")
    insider(sealed, {one: with_encryption(**{k: second[k] for k in fields}),
                     two: with_encryption(**{k: first[k] for k in fields})})
    assert check(sealed) == set()  # without the force key nothing can tell
    assert check(sealed, force_ring) == {segment_problem(one, "wrapped_key_swapped"),
                                         segment_problem(two, "wrapped_key_swapped"),
                                         recording_problem(sealed, 0, "segment_failed")}


def test_a_wrapped_key_taken_from_the_other_recording_is_wrapped_key_swapped(
        sealed, force_ring) -> None:
    mine, theirs = seg(sealed, 0, 1), seg(sealed, 1, 0)
    other = Manifest.from_bytes(manifest_path(theirs).read_bytes()).encryption
    assert other
    edit_encryption(sealed, mine, lambda e: e.update(wrapped_key=other["wrapped_key"]))
    assert check(sealed, force_ring) == {segment_problem(mine, "wrapped_key_swapped"),
                                         recording_problem(sealed, 0, "segment_failed")}


def test_a_key_wrapped_to_another_force_is_other_force_key(sealed, force_ring) -> None:
    """Wrapped to another force key, and saying so: this key cannot check it (an error, not
    tampering: a segment from before a rotation looks the same), named as such."""
    mp4 = seg(sealed, 1, 0)
    theirs = new_segment_key(new_force_key(2048).public_key(), mp4.name).header
    edit_encryption(sealed, mp4, lambda e: e.update(
        {k: theirs[k] for k in ("wrapped_key", "force_key_sha256")}))
    assert check(sealed) == set()
    assert check(sealed, force_ring) == {segment_problem(mp4, "other_force_key")}


@pytest.mark.parametrize("how", ["to another force, naming ours", "one character changed",
                                 "not base64", "empty", "too long", "32 KiB"])
def test_a_corrupted_wrapped_key_is_bad_wrapped_key(sealed, force_ring, how: str) -> None:
    mp4 = seg(sealed, 0, 2)
    header = Manifest.from_bytes(manifest_path(mp4).read_bytes()).encryption
    assert header
    wrapped = {
        "to another force, naming ours": new_segment_key(new_force_key(2048).public_key(),
                                                         mp4.name).header["wrapped_key"],
        "one character changed": ("A" if header["wrapped_key"][0] != "A" else "B")
        + header["wrapped_key"][1:],
        "not base64": "!" * 344, "empty": "",
        "too long": header["wrapped_key"] * 2,
        "32 KiB": base64.b64encode(os.urandom(24 * 1024)).decode()}[how]
    edit_encryption(sealed, mp4, lambda e: e.update(wrapped_key=wrapped))
    assert bounded(lambda: check(sealed, force_ring)) == {
        segment_problem(mp4, "bad_wrapped_key"), recording_problem(sealed, 0, "segment_failed")}


def test_an_edited_plaintext_hash_breaks_the_signature_or_is_plaintext_mismatch(
        sealed, force_ring) -> None:
    mp4 = seg(sealed, 0, 1)
    original = manifest_path(mp4).read_bytes()
    edit_encryption(sealed, mp4, lambda e: e.update(plaintext_sha256="0" * 64), resign=False)
    failed = {segment_problem(mp4, "bad_signature"),
              recording_problem(sealed, 0, "segment_failed")}
    assert check(sealed) == failed and check(sealed, force_ring) == failed
    manifest_path(mp4).write_bytes(original)
    edit_encryption(sealed, mp4, lambda e: e.update(plaintext_sha256="0" * 64))  # signed
    assert check(sealed) == set()
    assert check(sealed, force_ring) == {segment_problem(mp4, "plaintext_mismatch"),
                                         recording_problem(sealed, 0, "segment_failed")}


@FLIP
@given(offset=st.integers(min_value=0, max_value=10**6), mask=st.integers(1, 255))
def test_a_ciphertext_byte_flipped_is_a_hash_mismatch_without_any_key(
        sealed_template, force_ring, offset: int, mask: int) -> None:
    cam = Camera(sealed_template["data"])
    mp4 = seg(cam, 1, 1)
    original = flipped(mp4, offset, mask)
    try:
        failed = {segment_problem(mp4, "hash_mismatch"),
                  recording_problem(cam, 1, "segment_failed")}
        assert check(cam) == failed and check(cam, force_ring) == failed
    finally:
        mp4.write_bytes(original)


def test_a_ciphertext_byte_flipped_and_its_hash_resigned_is_plaintext_mismatch(
        sealed, force_ring) -> None:
    mp4 = seg(sealed, 0, 0)
    flipped(mp4, mp4.stat().st_size // 2, 0x01)
    digest = hashlib.sha256(mp4.read_bytes()).hexdigest()
    insider(sealed, {mp4: lambda m: dataclasses.replace(m, sha256=digest)})
    assert check(sealed) == set()
    assert check(sealed, force_ring) == {segment_problem(mp4, "plaintext_mismatch"),
                                         recording_problem(sealed, 0, "segment_failed")}



def test_a_wrapped_key_of_a_megabyte_is_too_large_and_never_unwrapped(sealed, force_ring
                                                                      ) -> None:
    mp4 = seg(sealed, 0, 2)
    edit_encryption(sealed, mp4, lambda e: e.update(
        wrapped_key=base64.b64encode(os.urandom(800 * 1024)).decode()))
    assert bounded(lambda: check(sealed, force_ring)) == {
        segment_problem(mp4, "too_large"), recording_problem(sealed, 0, "segment_failed")}
