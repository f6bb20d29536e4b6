"""Uploads over loopback: receipts, resuming, idempotence, ordering and concurrency."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from evidence.identity import load_public_key
from evidence.manifest import sha256_file
from evidence.receipt import verify_receipt
from evidence.request_auth import sign_request
from evidence.store_client import StoreHttpError, receipt_of
from tests.evidence_store.conftest import Camera, Running, clone_camera


def store_key(running: Running):
    return load_public_key(running.directory / "store.pub.pem")


def check_stored(running: Running, camera: Camera, mp4: Path, status: dict) -> None:
    """Stored, with a receipt the camera accepts, and the store's bytes are the camera's."""
    assert status["state"] == "stored", status
    digest, size = sha256_file(mp4)
    receipt = verify_receipt(*receipt_of(status), store_key(running), digest,
                             device_id=camera.device_id, file=mp4.name, size=size,
                             kind="segment")
    assert receipt.recording_id == camera.manifest(mp4).recording_id
    assert receipt.segment_index == camera.manifest(mp4).segment_index
    assert running.store.objects.read_bytes(digest) == mp4.read_bytes()


def test_enrolled_camera_uploads_every_segment_and_gets_receipts(running: Running,
                                                                 enrolled: Camera) -> None:
    client = running.client(enrolled)
    for mp4 in enrolled.segments():
        check_stored(running, enrolled, mp4, client.upload_segment(mp4))
    listed = running.operator().recordings()
    assert [r["segments"] for r in listed] == [len(enrolled.segments(1)),
                                               len(enrolled.segments(2))]
    assert all(r["complete"] for r in listed)


def test_reupload_of_a_stored_segment_returns_the_same_receipt(running: Running,
                                                               enrolled: Camera) -> None:
    client = running.client(enrolled)
    mp4 = enrolled.segments()[0]
    first = client.upload_segment(mp4)
    again = client.upload_segment(mp4)
    assert again["receipt"] == first["receipt"] and again["upload_id"] == first["upload_id"]
    assert len(running.store.catalogue.all("SELECT * FROM segments")) == 1


def test_interrupted_upload_resumes_where_it_stopped(running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    size = mp4.stat().st_size
    partial = running.client(enrolled).upload_segment(mp4, max_chunks=2)  # then undocked
    assert partial["state"] == "open" and partial["received"] == 2 * 16 * 1024 < size
    resumed = running.client(enrolled)  # docked again: a new connection
    status = resumed.open_segment(mp4)
    assert status["received"] == partial["received"]
    check_stored(running, enrolled, mp4, resumed.send(status, mp4))


def test_a_chunk_cut_off_mid_body_is_not_kept(running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    client = running.client(enrolled)
    status = client.upload_segment(mp4, max_chunks=1)
    data = mp4.read_bytes()[status["received"]:status["received"] + 10000]
    target = f"/v1/uploads/{status['upload_id']}"
    headers = sign_request(enrolled.identity.private_key, enrolled.device_id, "PUT", target,
                           data, running.clock(), store_id=running.store.store_id)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    end = status["received"] + len(data) - 1
    with socket.create_connection(running.server.server_address[:2]) as sock:
        sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
                     f"Content-Range: bytes {status['received']}-{end}/{status['size']}\r\n"
                     f"{head}\r\n".encode() + data[:4000])
    assert client.status(status["upload_id"])["received"] == status["received"]
    check_stored(running, enrolled, mp4, client.upload_segment(mp4))


def test_a_chunk_at_the_wrong_offset_is_refused_with_what_the_store_has(
        running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    client = running.client(enrolled)
    status = client.upload_segment(mp4, max_chunks=1)
    with pytest.raises(StoreHttpError) as err:
        client.put_chunk(status["upload_id"], 0, mp4.read_bytes()[:100], status["size"])
    assert err.value.status == 409 and err.value.body["received"] == status["received"]


def test_store_restarted_mid_upload_resumes(running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    partial = running.client(enrolled).upload_segment(mp4, max_chunks=3)
    running.stop()
    running.start()  # same directory, new process state, new port
    client = running.client(enrolled)
    status = client.open_segment(mp4)
    assert status["received"] == partial["received"] > 0
    check_stored(running, enrolled, mp4, client.send(status, mp4))


def test_segments_go_in_chain_order(running: Running, enrolled: Camera) -> None:
    first, second = enrolled.segments(1)[:2]
    client = running.client(enrolled)
    with pytest.raises(StoreHttpError) as err:
        client.upload_segment(second)
    assert err.value.status == 409 and "upload segment 0" in str(err.value)
    assert running.store.quarantined() == []
    client.upload_segment(first)
    check_stored(running, enrolled, second, client.upload_segment(second))


def test_device_audit_log_is_stored_by_hash_with_a_receipt(running: Running, enrolled: Camera,
                                                           tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(b'{"seq": %d, "event": "marker"}\n' % i for i in range(3000)))
    client = running.client(enrolled)
    partial = client.upload_audit_log(log, max_chunks=1)
    assert partial["state"] == "open"
    status = client.upload_audit_log(log)
    digest, size = sha256_file(log)
    verify_receipt(*receipt_of(status), store_key(running), digest, kind="audit_log",
                   device_id=enrolled.device_id, size=size)
    assert running.store.objects.read_bytes(digest) == log.read_bytes()
    assert client.upload_audit_log(log)["receipt"] == status["receipt"]


def test_twenty_cameras_docking_at_once_lose_nothing(running: Running, camera: Camera,
                                                     tmp_path: Path) -> None:
    cameras = [clone_camera(camera, tmp_path / f"cam{i:02d}", f"SIM{i:05d}") for i in range(20)]
    operator = running.operator()
    for cam in cameras:
        operator.enrol(cam.pub_pem)
    errors: list[BaseException] = []

    def dock(cam: Camera) -> None:
        try:
            client = running.client(cam, chunk=32 * 1024)
            for mp4 in cam.segments(2):
                check_stored(running, cam, mp4, client.upload_segment(mp4))
        except BaseException as exc:  # reported below, with the camera
            errors.append(exc)

    threads = [threading.Thread(target=dock, args=(cam,)) for cam in cameras]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = running.store.catalogue.all("SELECT device_id, sha256 FROM segments")
    expected = {(cam.device_id, sha256_file(mp4)[0]) for cam in cameras for mp4 in cam.segments(2)}
    assert {(r["device_id"], r["sha256"]) for r in stored} == expected
    assert len(stored) == len(expected) == 20 * len(camera.segments(2))


def test_store_stopped_after_the_last_byte_but_before_verifying_finishes_on_reopen(
        running: Running, enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    status = running.client(enrolled).open_segment(mp4)
    running.store.staging.append(status["upload_id"], 0, mp4.read_bytes())  # then it stopped
    running.stop()
    running.start()
    check_stored(running, enrolled, mp4, running.client(enrolled).upload_segment(mp4))
