"""Ingest verification: what fails is quarantined with its reason and gets no receipt."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from evidence.manifest import (
    manifest_path,
    sha256_file,
    signature_path,
    write_signed_manifest,
)
from evidence.store_client import StoreHttpError
from tests.evidence_store.conftest import Camera, Running, clone_camera


def test_tampered_footage_is_quarantined_with_its_bytes_and_no_receipt(
        running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    data = bytearray(mp4.read_bytes())
    data[len(data) // 2] ^= 0x01
    mp4.write_bytes(bytes(data))
    status = running.client(enrolled).upload_segment(mp4)
    assert status["state"] == "quarantined" and "receipt" not in status
    assert "SHA-256 of the uploaded bytes does not match the manifest" in status["reason"]
    [held] = running.operator().quarantine()
    assert held["file"] == mp4.name and held["reason"] == status["reason"]
    assert running.store.objects.read_bytes(held["content_sha256"]) == bytes(data)
    assert running.store.catalogue.all("SELECT * FROM segments") == []
    again = running.client(enrolled).upload_segment(mp4)  # asked again: the same answer
    assert again["state"] == "quarantined" and "receipt" not in again


def test_edited_manifest_fails_the_enrolled_key_and_is_quarantined(
        running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    manifest = json.loads(manifest_path(mp4).read_text())
    manifest["start_utc"] = "2025-12-31T23:00:00.000Z"
    manifest_path(mp4).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    status = running.client(enrolled).open_segment(mp4)
    assert status["state"] == "quarantined"
    assert "does not verify with the enrolled key" in status["reason"]
    [held] = running.store.quarantined()
    row = running.store.catalogue.one("SELECT manifest FROM quarantine WHERE id = ?", held["id"])
    assert row["manifest"] == manifest_path(mp4).read_bytes()


def test_segment_signed_by_another_key_is_refused_even_with_a_valid_signature(
        running: Running, enrolled: Camera, tmp_path) -> None:
    """The signature is checked against the enrolled key, never a key the upload brings."""
    other = clone_camera(enrolled, tmp_path / "other", "SIM09999")
    mp4 = enrolled.segments()[0]
    forged = replace(other.manifest(other.segments()[0]), device_id=enrolled.device_id)
    write_signed_manifest(other.identity, mp4, forged)
    status = running.client(enrolled).open_segment(mp4)
    assert status["state"] == "quarantined" and "enrolled key" in status["reason"]


def test_conflicting_segment_for_a_stored_index_is_quarantined(running: Running,
                                                               enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    client = running.client(enrolled)
    client.upload_segment(mp4)
    changed = replace(enrolled.manifest(mp4), reason="taser")
    write_signed_manifest(enrolled.identity, mp4, changed)
    with pytest.raises(StoreHttpError) as err:
        client.open_segment(mp4)
    assert err.value.status == 409 and "conflicts with the stored segment" in str(err.value)
    assert [q["reason"] for q in running.store.quarantined()] == [err.value.body["reason"]]


def test_broken_chain_is_quarantined(running: Running, enrolled: Camera) -> None:
    first, second = enrolled.segments(1)[:2]
    client = running.client(enrolled)
    client.upload_segment(first)
    write_signed_manifest(enrolled.identity, second,
                          replace(enrolled.manifest(second), prev_manifest_sha256="0" * 64))
    status = client.upload_segment(second)
    assert status["state"] == "quarantined" and "chain broken" in status["reason"]


def test_unenrolled_camera_is_refused_and_nothing_is_kept(running: Running,
                                                          camera: Camera) -> None:
    mp4 = camera.segments()[0]
    with pytest.raises(StoreHttpError) as err:
        running.client(camera).upload_segment(mp4)
    assert err.value.status == 403 and "not enrolled" in str(err.value)
    assert running.store.catalogue.all("SELECT * FROM uploads") == []
    assert sha256_file(mp4)  # the camera still has its footage, untouched


@pytest.mark.parametrize("field,value", [("size", "big"), ("segment_index", -1),
                                         ("segment_index", True), ("sha256", "XYZ"),
                                         ("prev_manifest_sha256", 7), ("start_utc", "yesterday"),
                                         ("recording_id", "../R1"), ("last", "yes")])
def test_signed_manifest_with_wrong_types_is_quarantined_not_a_crash(
        running: Running, enrolled: Camera, field: str, value: object) -> None:
    mp4 = enrolled.segments()[0]
    manifest = json.loads(manifest_path(mp4).read_text())
    manifest[field] = value
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path(mp4).write_bytes(raw)
    signature_path(mp4).write_bytes(enrolled.identity.sign(raw))
    status = running.client(enrolled).open_segment(mp4)
    assert status["state"] == "quarantined" and status["reason"], status
