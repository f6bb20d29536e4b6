"""Every endpoint under hostile bodies and headers: a 4xx with one line naming what was wrong,
never a 500, and a stalled or idle client never keeps the store from answering others.

Device routes are sent *signed* by an enrolled camera, so the hostile body reaches the parser
(the issue: "also from an enrolled device").
"""

from __future__ import annotations

import base64
import json
import socket

import pytest

from evidence.manifest import signature_path
from evidence.request_auth import sign_request
from evidence.store_client import StoreHttpError
from tests.evidence_store.conftest import Camera, Running
from tests.evidence_store.test_api_checks import send

DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 40_000 + b"1" + b"}" * 40_000
HUGE_INT = b'{"size": ' + b"7" * 4300 + b"}"
HOSTILE = {
    "deep list": DEEP_LIST,
    "deep object": DEEP_OBJECT,
    "4300-digit integer": HUGE_INT,
    "4301-digit integer": b'{"size": ' + b"7" * 4301 + b"}",
    "huge integer alone": b"9" * 5000,
    "huge integer as a name": b'{"file": ' + b"1" * 4300 + b', "case": ' + b"2" * 4300 + b"}",
    "NaN": b"NaN",
    "NaN field": b'{"file": NaN, "sha256": NaN, "size": NaN, "case": NaN}',
    "Infinity field": b'{"size": Infinity, "case": -Infinity, "from": Infinity}',
    "non-UTF-8": b'{"file": "\xff\xfe.mp4"}',
    "lone surrogate": b'{"case": "\\ud800", "file": "\\udfff.mp4"}',
    "list": b"[1, 2]",
    "string": b'"text"',
    "wrong types": b'{"file": 5, "sha256": [], "size": "1", "case": {}, "device_id": 3,'
                   b' "recording_id": 7, "from": 5, "to": []}',
    "null fields": b'{"file": null, "sha256": null, "size": null, "case": null,'
                   b' "manifest": null, "signature": null}',
    "bool size": b'{"file": "audit.jsonl", "sha256": "' + b"a" * 64 + b'", "size": true}',
    "negative size": b'{"file": "audit.jsonl", "sha256": "' + b"a" * 64 + b'", "size": -1}',
    "float size": b'{"file": "audit.jsonl", "sha256": "' + b"a" * 64 + b'", "size": 1.5}',
    "export window of numbers": b'{"device_id": "bwv-0123456789abcdef", "from": 5, "to": 6}',
    "export window of objects": b'{"device_id": "bwv-0123456789abcdef", "from": {}, "to": []}',
    "export with a bad time": b'{"device_id": "bwv-0123456789abcdef", "from": "yesterday",'
                              b' "to": "9999-99-99"}',
}
DEVICE_ROUTES = ["/v1/segments", "/v1/audit-logs"]
OPERATOR_ROUTES = ["/v1/recordings/R000001-abcdef/flag", "/v1/recordings/R000001-abcdef/unflag",
                   "/v1/retention", "/v1/exports"]


def signed(camera: Camera, running: Running, method: str, target: str,
           body: bytes = b"") -> dict[str, str]:
    return sign_request(camera.identity.private_key, camera.device_id, method, target, body,
                        running.clock(), store_id=running.store.store_id)


def bearer(running: Running) -> dict[str, str]:
    return {"Authorization": f"Bearer {running.token}"}


def assert_refused(status: int, answer: dict, what: str) -> None:
    assert 400 <= status < 500, (what, status, answer)
    assert isinstance(answer.get("error"), str) and answer["error"], (what, answer)
    assert "internal error" not in answer["error"], (what, answer)


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("target", DEVICE_ROUTES)
def test_hostile_json_from_an_enrolled_device_gets_a_400(running: Running, enrolled: Camera,
                                                         target: str, name: str) -> None:
    body = HOSTILE[name]
    status, answer = send(running, "POST", target, body,
                          signed(enrolled, running, "POST", target, body))
    assert_refused(status, answer, name)
    assert status == 400 or name in ("negative size", "bool size", "float size"), answer


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("target", OPERATOR_ROUTES)
def test_hostile_json_from_an_operator_gets_a_4xx(running: Running, target: str,
                                                  name: str) -> None:
    status, answer = send(running, "POST", target, HOSTILE[name], bearer(running))
    assert_refused(status, answer, name)


@pytest.mark.parametrize("name", ["deep list", "deep object", "4300-digit integer", "NaN field",
                                  "non-UTF-8", "list"])
def test_a_hostile_manifest_is_quarantined_not_a_crash(running: Running, enrolled: Camera,
                                                       name: str) -> None:
    mp4 = enrolled.segments()[0]
    body = json.dumps({"file": mp4.name,
                       "manifest": base64.b64encode(HOSTILE[name][:60_000]).decode(),
                       "signature": base64.b64encode(signature_path(mp4).read_bytes()).decode(),
                       }).encode()
    status, answer = send(running, "POST", "/v1/segments", body,
                          signed(enrolled, running, "POST", "/v1/segments", body))
    assert_refused(status, answer, name)
    assert status in (400, 413, 422), answer


def test_a_4300_digit_content_range_or_query_is_refused(running: Running,
                                                        enrolled: Camera) -> None:
    status = running.client(enrolled).open_segment(enrolled.segments()[0])
    target = f"/v1/uploads/{status['upload_id']}"
    headers = {**signed(enrolled, running, "PUT", target, b"x"),
               "Content-Range": "bytes 0-0/" + "9" * 4300}
    assert_refused(*send(running, "PUT", target, b"x", headers), "content-range")
    for query in ("from=" + "9" * 4300, "from=%ff%fe", "to=NaN", "from=2026-01-01T00:00:00%00",
                  "device=" + "x" * 5000):
        assert_refused(*send(running, "GET", "/v1/recordings?" + query, b"", bearer(running)),
                       query)
    for label in ("%00", "%0a", "x" * 200):
        assert_refused(*send(running, "POST", f"/v1/devices?label={label}", enrolled.pub_pem,
                             bearer(running)), label)


def raw(running: Running, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; return the status line of the answer."""
    with socket.create_connection(running.server.server_address[:2], timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply:
            block = sock.recv(4096)
            if not block:
                break
            reply += block
        head, _, rest = reply.partition(b"\r\n\r\n")
        length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), b"0"))
        while len(rest) < length and (block := sock.recv(4096)):
            rest += block
    assert head.startswith(b"HTTP/1."), reply[:80]
    return head.split(b"\r\n")[0] + b" " + rest[:200]


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "\u00b2", "0x10", "+5", " ", "1 2",
                                    "9" * 4300, "99999999999999999999999999"])
def test_bad_content_lengths_get_a_4xx(running: Running, length: str) -> None:
    request = (f"POST /v1/retention HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               f"{running.token}\r\nContent-Length: {length}\r\n\r\n{{}}").encode()
    line = raw(running, request)
    assert line.split(b" ")[1][:1] == b"4", line
    assert send(running, "GET", "/v1/info")[0] == 200


def test_two_different_content_lengths_are_refused(running: Running) -> None:
    request = (f"POST /v1/retention HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               f"{running.token}\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{{}}").encode()
    line = raw(running, request)
    assert line.split(b" ")[1] == b"400" and b"Content-Length" in line, line


def test_a_body_without_content_length_is_not_taken_for_a_request(running: Running) -> None:
    request = (f"POST /v1/retention HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               f"{running.token}\r\n\r\n{{}}").encode()
    line = raw(running, request)
    assert line.split(b" ")[1] == b"411" and b"Content-Length" in line, line


@pytest.mark.parametrize("headers", [
    b"X: " + b"y" * 70_000 + b"\r\n",
    b"".join(b"X-%d: y\r\n" % i for i in range(200)),
])
def test_huge_headers_get_an_error_line(running: Running, headers: bytes) -> None:
    line = raw(running, b"GET /v1/info HTTP/1.1\r\n" + headers + b"\r\n")
    assert line.split(b" ")[1][:1] == b"4" and b'"error"' in line, line


def test_idle_and_stalled_clients_do_not_stop_the_store_answering(running: Running,
                                                                   enrolled: Camera) -> None:
    address = running.server.server_address[:2]
    idle = [socket.create_connection(address, timeout=10) for _ in range(20)]
    try:
        idle[0].sendall(b"GET /v1/info HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        idle[1].sendall(b"POST /v1/retention HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # stalls
        idle[2].sendall(b"G")
        for _ in range(3):
            assert send(running, "GET", "/v1/info")[0] == 200
        assert running.client(enrolled).upload_segment(enrolled.segments()[0])["state"] \
            == "stored"
    finally:
        for sock in idle:
            sock.close()



@pytest.mark.parametrize("body", [
    DEEP_LIST[:16_000], b"\xff\xfe" * 100, b"",
    b"-----BEGIN PUBLIC KEY-----\n" + b"A" * 15_000 + b"\n-----END PUBLIC KEY-----\n",
    b"-----BEGIN PUBLIC KEY-----\n\xff\xff\n-----END PUBLIC KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
])
def test_hostile_enrolment_bodies_get_a_400(running: Running, body: bytes) -> None:
    status, answer = send(running, "POST", "/v1/devices", body, bearer(running))
    assert_refused(status, answer, repr(body[:30]))
    assert running.store.devices() == []


@pytest.mark.parametrize("name", ["Bodycam-Device", "Bodycam-Timestamp", "Bodycam-Nonce",
                                  "Bodycam-Content-SHA256", "Bodycam-Signature", "Bodycam-Store"])
@pytest.mark.parametrize("value", ["\u00e9\u00e8", "9" * 4300, "-1", "\u0661\u0662", "x" * 8000])
def test_hostile_signature_headers_get_a_401(running: Running, enrolled: Camera, name: str,
                                             value: str) -> None:
    body = b"{}"
    headers = {**signed(enrolled, running, "POST", "/v1/segments", body), name: value}
    conn_headers = {k: v.encode("latin-1", "replace").decode("latin-1")
                    for k, v in headers.items()}
    status, answer = send(running, "POST", "/v1/segments", body, conn_headers)
    assert status == 401, answer
    assert_refused(status, answer, name)


@pytest.mark.parametrize("change", [
    {"segment_index": 10 ** 30}, {"width": 2 ** 63}, {"frame_count": 10 ** 4000},
    {"height": -(2 ** 70)}, {"start_utc": "0001-01-01T00:00:00+14:00"},
    {"end_utc": "9999-12-31T23:59:59-14:00"}, {"start_utc": "2026-01-01T00:00:00\u0000"},
], ids=lambda c: next(iter(c)))
def test_a_hostile_manifest_signed_by_the_enrolled_key_is_refused_and_harms_nothing(
        running: Running, enrolled: Camera, change: dict) -> None:
    """The device itself signs manifests with values the catalogue cannot hold (integers past
    64 bits, times outside years 1-9999 UTC): refused or quarantined with a reason, and the
    store goes on (listing, retention, an honest upload)."""
    from dataclasses import replace

    from evidence.manifest import write_signed_manifest

    mp4 = enrolled.segments(2)[0]
    write_signed_manifest(enrolled.identity, mp4, replace(enrolled.manifest(mp4), **change))
    client = running.client(enrolled)
    try:
        status = client.upload_segment(mp4)
        assert status["state"] == "quarantined" and status["reason"], status
    except StoreHttpError as exc:
        assert 400 <= exc.status < 500 and "internal error" not in str(exc), exc
    assert running.store.retention.step(running.clock() + 400 * 86400) is not None
    assert isinstance(running.operator().recordings(), list)
    assert client.upload_segment(enrolled.segments(1)[0])["state"] == "stored"
