"""A device request is good at one store only: the signed text names the store's id.

Two stores on loopback, one camera enrolled in both (a force with two sites). A request the
camera signed for one store and captured on the way is refused by the other, both ways and for
every kind of device request (open, chunk, status/receipt fetch, audit log), even with its
``Bodycam-Store`` header rewritten; the honest camera still uploads to each.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence import request_auth as ra
from evidence.identity import load_public_key
from evidence.receipt import store_id_for
from evidence.request_auth import sign_request
from evidence.store_client import StoreHttpError
from store.config import StoreConfig
from store.service import init_store
from tests.evidence_store.conftest import START, Camera, MovableClock, Running
from tests.evidence_store.test_api_checks import segment_body, send


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Running]:
    directory = tmp_path / "store-b"
    directory.mkdir()
    token = init_store(directory, StoreConfig(max_chunk_bytes=64 * 1024))
    server = Running(directory, token, MovableClock(START)).start()
    yield server
    server.stop()


def signed_for(camera: Camera, store: Running, method: str, target: str,
               body: bytes = b"") -> dict[str, str]:
    return sign_request(camera.identity.private_key, camera.device_id, method, target, body,
                        store.clock(), store_id=store.store.store_id)


@pytest.fixture
def both(running: Running, other: Running, camera: Camera) -> tuple[Running, Running, Camera]:
    running.operator().enrol(camera.pub_pem)
    other.operator().enrol(camera.pub_pem)
    assert running.store.store_id != other.store.store_id
    return running, other, camera


@pytest.mark.parametrize("direction", ["a-to-b", "b-to-a"])
def test_an_open_signed_for_one_store_is_refused_by_the_other(both, direction: str) -> None:
    a, b, camera = both if direction == "a-to-b" else (both[1], both[0], both[2])
    body = segment_body(camera)
    headers = signed_for(camera, a, "POST", "/v1/segments", body)
    status, answer = send(b, "POST", "/v1/segments", body, headers)
    assert status == 401 and a.store.store_id in answer["error"], answer
    assert b.store.catalogue.all("SELECT * FROM uploads") == []
    forged = {**headers, ra.STORE: b.store.store_id}  # the header rewritten: the text is not
    status, answer = send(b, "POST", "/v1/segments", body, forged)
    assert status == 401 and ra.SIGNATURE in answer["error"], answer
    assert send(a, "POST", "/v1/segments", body, headers)[0] == 200  # where it was meant for


@pytest.mark.parametrize("direction", ["a-to-b", "b-to-a"])
def test_chunks_status_and_audit_logs_are_bound_to_their_store(both, direction: str,
                                                               tmp_path: Path) -> None:
    a, b, camera = both if direction == "a-to-b" else (both[1], both[0], both[2])
    mp4 = camera.segments()[0]
    at_b = b.client(camera).open_segment(mp4)  # the same upload is open at both stores
    at_a = a.client(camera).open_segment(mp4)
    data = mp4.read_bytes()[:1000]
    for upload_id in {at_a["upload_id"], at_b["upload_id"]}:
        target = f"/v1/uploads/{upload_id}"
        put = {**signed_for(camera, a, "PUT", target, data),
               "Content-Range": f"bytes 0-{len(data) - 1}/{at_a['size']}"}
        status, answer = send(b, "PUT", target, data, put)
        assert status == 401 and "signed for store" in answer["error"], answer
        get = signed_for(camera, a, "GET", target)  # the receipt fetch
        assert send(b, "GET", target, b"", get)[0] == 401
    assert b.store.staging.size(at_b["upload_id"]) == 0
    log = json.dumps({"file": "audit.jsonl", "sha256": "a" * 64, "size": 10}).encode()
    status, _ = send(b, "POST", "/v1/audit-logs", log,
                     signed_for(camera, a, "POST", "/v1/audit-logs", log))
    assert status == 401


def test_a_stored_receipt_cannot_be_fetched_with_a_request_for_another_store(both) -> None:
    a, b, camera = both
    mp4 = camera.segments()[0]
    stored = a.client(camera).upload_segment(mp4)
    assert stored["state"] == "stored"
    target = f"/v1/uploads/{stored['upload_id']}"
    headers = signed_for(camera, b, "GET", target)
    status, answer = send(a, "GET", target, b"", headers)
    assert status == 401 and "receipt" not in answer
    status, answer = send(a, "GET", target, b"", signed_for(camera, a, "GET", target))
    assert status == 200 and base64.b64decode(answer["receipt"])


def test_an_unbound_request_is_refused_with_the_header_it_lacks(both) -> None:
    a, _, camera = both
    body = segment_body(camera)
    headers = signed_for(camera, a, "POST", "/v1/segments", body)
    del headers[ra.STORE]
    status, answer = send(a, "POST", "/v1/segments", body, headers)
    assert status == 401 and ra.STORE in answer["error"]


def test_a_v1_signature_over_the_old_text_is_refused(both) -> None:
    """What a camera without the store id in its signed text sends: it no longer verifies."""
    a, _, camera = both
    body = segment_body(camera)
    headers = signed_for(camera, a, "POST", "/v1/segments", body)
    old = "\n".join(["bodycam-request-v1", "POST", "/v1/segments", camera.device_id,
                     headers[ra.TIMESTAMP], headers[ra.NONCE], headers[ra.CONTENT_SHA256]])
    headers[ra.SIGNATURE] = base64.b64encode(
        camera.identity.private_key.sign(old.encode())).decode()
    status, answer = send(a, "POST", "/v1/segments", body, headers)
    assert status == 401 and "does not verify" in answer["error"]


def test_signing_without_a_store_id_is_refused(camera: Camera) -> None:
    with pytest.raises(ValueError, match="store"):
        sign_request(camera.identity.private_key, camera.device_id, "GET", "/v1/info", b"",
                     START, store_id="")


def test_the_honest_camera_uploads_to_each_store(both) -> None:
    a, b, camera = both
    for store in (a, b):
        for mp4 in camera.segments(2):
            assert store.client(camera).upload_segment(mp4)["state"] == "stored"


def test_a_client_without_an_id_signs_for_the_store_it_talks_to(both) -> None:
    _, b, camera = both
    client = b.client(camera)
    client.store_id = None
    assert client.upload_segment(camera.segments()[0])["state"] == "stored"
    assert client.store_id == b.store.store_id


def test_the_camera_signs_for_its_pinned_store_not_the_one_that_answers(both,
                                                                        tmp_path: Path) -> None:
    """The camera's link is pinned to store A's key but its URL reaches store B: every
    request it sends names A, so B refuses them all (nothing is stored at B)."""
    from device.config import UploadSection
    from device.upload.link import open_link
    from evidence.identity import load_identity

    a, b, camera = both
    config = UploadSection(store_url=b.url, store_public_key=str(a.directory / "store.pub.pem"))
    identity = load_identity(camera.data_dir, "BWV-OPEN-1", "SIM00001")
    client, key = open_link(config, camera.data_dir, identity, b.clock)
    assert client.store_id == store_id_for(key) == a.store.store_id
    assert store_id_for(load_public_key(a.directory / "store.pub.pem")) == a.store.store_id
    with pytest.raises(StoreHttpError) as err:
        client.open_segment(camera.segments()[0])
    assert err.value.status == 401 and a.store.store_id in str(err.value)
    assert b.store.catalogue.all("SELECT * FROM uploads") == []
