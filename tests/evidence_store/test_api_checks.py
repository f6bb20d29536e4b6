"""The API under hostile input: replay, bad signatures, traversal, oversize, garbage.

Every refusal is a 4xx with a one-line JSON error naming what was wrong, and the store keeps
serving afterwards.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.manifest import manifest_path, signature_path
from evidence.request_auth import SIGNATURE, TIMESTAMP, sign_request
from evidence.store_client import StoreHttpError
from tests.evidence_store.conftest import Camera, Running


def send(running: Running, method: str, target: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """One raw request; the answer must be a single line of JSON."""
    conn = http.client.HTTPConnection(*running.server.server_address[:2], timeout=10)
    conn.request(method, target, body=body, headers={"Content-Length": str(len(body)),
                                                     **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    assert payload.count(b"\n") == 1 and payload.endswith(b"\n"), payload
    return response.status, json.loads(payload)


def signed(camera: Camera, running: Running, method: str, target: str,
           body: bytes = b"") -> dict[str, str]:
    return sign_request(camera.identity.private_key, camera.device_id, method, target, body,
                        running.clock(), store_id=running.store.store_id)


def segment_body(camera: Camera, file: str | None = None) -> bytes:
    mp4 = camera.segments()[0]
    return json.dumps({"file": file or mp4.name,
                       "manifest": base64.b64encode(manifest_path(mp4).read_bytes()).decode(),
                       "signature": base64.b64encode(signature_path(mp4).read_bytes()).decode(),
                       }).encode()


def test_a_replayed_request_is_refused(running: Running, enrolled: Camera) -> None:
    body = segment_body(enrolled)
    headers = signed(enrolled, running, "POST", "/v1/segments", body)
    assert send(running, "POST", "/v1/segments", body, headers)[0] == 200  # opened
    status, answer = send(running, "POST", "/v1/segments", body, headers)
    assert status == 401 and "already used" in answer["error"]


def test_a_stale_or_future_timestamp_is_refused(running: Running, enrolled: Camera) -> None:
    for skew in (-301, 301):
        headers = sign_request(enrolled.identity.private_key, enrolled.device_id, "GET",
                               "/v1/uploads/" + "0" * 32, b"", running.clock() + skew,
                               store_id=running.store.store_id)
        status, answer = send(running, "GET", "/v1/uploads/" + "0" * 32, headers=headers)
        assert status == 401 and TIMESTAMP in answer["error"]


def test_a_request_changed_in_flight_is_refused(running: Running, enrolled: Camera) -> None:
    body = segment_body(enrolled)
    headers = signed(enrolled, running, "POST", "/v1/segments", body)
    status, answer = send(running, "POST", "/v1/segments", body.replace(b'"file"', b'"file" '),
                          headers)
    assert status == 400 and "Bodycam-Content-SHA256" in answer["error"]
    headers = signed(enrolled, running, "POST", "/v1/segments", body)
    status, answer = send(running, "POST", "/v1/audit-logs", body, headers)  # other target
    assert status == 401 and SIGNATURE in answer["error"]


def test_unsigned_and_badly_signed_requests_are_refused(running: Running,
                                                        enrolled: Camera) -> None:
    assert send(running, "POST", "/v1/segments", b"{}")[0] == 401
    headers = signed(enrolled, running, "POST", "/v1/segments", b"{}")
    headers[SIGNATURE] = base64.b64encode(b"\0" * 64).decode()
    status, answer = send(running, "POST", "/v1/segments", b"{}", headers)
    assert status == 401 and "does not verify" in answer["error"]
    headers[SIGNATURE] = "not base64!"
    assert send(running, "POST", "/v1/segments", b"{}", headers)[0] == 401


@pytest.mark.parametrize("file", ["../../etc/passwd", "/etc/passwd", "a/../../b.mp4",
                                  "..", ".hidden.mp4", "x" * 300 + ".mp4", "R1\0.mp4"])
def test_path_traversal_in_a_file_name_is_refused(running: Running, enrolled: Camera,
                                                  file: str) -> None:
    body = segment_body(enrolled, file)
    status, answer = send(running, "POST", "/v1/segments", body,
                          signed(enrolled, running, "POST", "/v1/segments", body))
    assert status == 400 and "not a safe name" in answer["error"]
    assert not list(running.directory.rglob("passwd"))


@pytest.mark.parametrize("target", ["/v1/uploads/../../catalogue.sqlite",
                                    "/v1/recordings/..%2F..%2Fkeys/flag", "/v1/../etc/passwd",
                                    "/v1/uploads/%2e%2e%2fstore.json", "/nothing"])
def test_traversal_in_a_path_finds_no_endpoint(running: Running, target: str) -> None:
    status, answer = send(running, "GET", target)
    assert status in (404, 405) and "error" in answer


def test_oversize_bodies_are_refused_before_they_are_read(running: Running,
                                                          enrolled: Camera) -> None:
    target = "/v1/uploads/" + "0" * 32
    headers = signed(enrolled, running, "PUT", target, b"")
    headers["Content-Length"] = str(10 << 30)
    conn = http.client.HTTPConnection(*running.server.server_address[:2], timeout=10)
    conn.putrequest("PUT", target)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 413 and "limit" in answer["error"]
    conn.close()


def test_oversize_segment_and_audit_log_are_refused(running: Running, enrolled: Camera,
                                                    tmp_path) -> None:
    client = running.client(enrolled)
    log = tmp_path / "audit.jsonl"
    log.write_text("{}\n")
    with pytest.raises(StoreHttpError) as err:
        client.open_audit_log(log, "ab" * 32, 1 << 40)
    assert err.value.status == 413 and "max_audit_log_bytes" in str(err.value)


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"file": "a.mp4"}',
                                  b'{"file": "a.mp4", "manifest": "%%%", "signature": ""}',
                                  b'{"file": 7, "manifest": "", "signature": ""}',
                                  b'{"file": "a.mp4", "manifest": "", "signature": "", "x": 1}',
                                  b"\xff\xfe"])
def test_malformed_bodies_get_a_clear_400(running: Running, enrolled: Camera,
                                          body: bytes) -> None:
    status, answer = send(running, "POST", "/v1/segments", body,
                          signed(enrolled, running, "POST", "/v1/segments", body))
    assert status == 400 and answer["error"]


@pytest.mark.parametrize("content_range", ["", "bytes 0-9", "bytes 5-1/100", "items 0-9/10",
                                           "bytes 0-99/100", "bytes 0-9/99999999"])
def test_bad_content_ranges_are_refused(running: Running, enrolled: Camera,
                                        content_range: str) -> None:
    status = running.client(enrolled).open_segment(enrolled.segments()[0])
    target = f"/v1/uploads/{status['upload_id']}"
    body = b"x" * 10
    headers = {**signed(enrolled, running, "PUT", target, body), "Content-Range": content_range}
    code, answer = send(running, "PUT", target, body, headers)
    assert code == 400 and answer["error"]


def test_garbage_on_the_socket_gets_an_error_and_the_store_keeps_serving(
        running: Running) -> None:
    for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                    b"GET /v1/info HTTP/1.1\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n",
                    b"PUT /v1/uploads/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
        with socket.create_connection(running.server.server_address[:2]) as sock:
            sock.sendall(garbage)
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.") and b" 4" in reply.split(b"\r\n")[0], reply[:80]
    assert send(running, "GET", "/v1/info")[0] == 200


def test_operator_endpoints_need_the_token(running: Running, camera: Camera) -> None:
    assert send(running, "GET", "/v1/recordings")[0] == 401
    status, answer = send(running, "POST", "/v1/devices", camera.pub_pem,
                          {"Authorization": "Bearer wrong"})
    assert status == 401 and "not valid" in answer["error"]
    with pytest.raises(StoreHttpError) as err:
        running.operator("wrong").enrol(camera.pub_pem)
    assert err.value.status == 401
    assert running.store.devices() == []


def test_enrolment_refuses_what_is_not_an_ed25519_key(running: Running) -> None:
    with pytest.raises(StoreHttpError) as err:
        running.operator().enrol(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert err.value.status == 400 and "PEM public key" in str(err.value)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["/v1/segments", "/v1/audit-logs"]),
       body=st.dictionaries(st.sampled_from(["file", "manifest", "signature", "sha256", "size",
                                             "other"]), json_values, max_size=5))
def test_no_json_body_crashes_the_store(running: Running, enrolled: Camera, target: str,
                                        body: dict) -> None:
    raw = json.dumps(body).encode()
    status, answer = send(running, "POST", target, raw,
                          signed(enrolled, running, "POST", target, raw))
    assert status < 500, answer
    assert status < 400 or answer["error"], answer
