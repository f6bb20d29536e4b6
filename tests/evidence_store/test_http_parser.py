"""What the HTTP parser (uvicorn's h11) refuses before the store's routes see a request: still
one JSON line naming the problem, and a client that stalls is cut off, never waited for."""

from __future__ import annotations

import json
import socket

import pytest

import store.http
from tests.evidence_store.conftest import Running
from tests.evidence_store.test_api_checks import send


def answer(running: Running, data: bytes) -> tuple[int, dict]:
    """Send raw bytes; the store answers and closes (what it refused is never read on)."""
    with socket.create_connection(running.server.server_address[:2], timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while block := sock.recv(4096):
            reply += block
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower() and body.count(b"\n") == 1, reply[:300]
    return int(head.split(b" ")[1]), json.loads(body)


@pytest.mark.parametrize("request_bytes, expected", [
    (b"POST /v1/retention HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 5000
     + b"\r\n\r\n{}", "Content-Length"),
    (b"GET /v1/\xff\xfe" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "request line"),
    (b"GARBAGE\r\n\r\n", "request line"),
    (b"GET /v1/info HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", "header"),
    (b"POST /v1/retention HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
     "Transfer-Encoding"),
    (b"POST /v1/retention HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"
     b"0\r\n\r\n", "Content-Length"),
])
def test_what_the_parser_refuses_gets_one_json_line(running: Running, request_bytes: bytes,
                                                    expected: str) -> None:
    status, body = answer(running, request_bytes.replace(b"TOKEN", running.token.encode()))
    assert 400 <= status < 500 and body["status"] == status, body
    assert status == 411 or expected != "Transfer-Encoding", body
    assert expected in body["error"] and len(body["error"]) < 300, body
    assert send(running, "GET", "/v1/info")[0] == 200


@pytest.mark.in_process_store("shortens the serving store's BODY_TIMEOUT_S")
def test_a_head_never_finished_is_closed_and_a_stalled_body_gets_a_408(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store.http, "BODY_TIMEOUT_S", 0.2)
    address = running.server.server_address[:2]
    with socket.create_connection(address, timeout=10) as idle:
        idle.sendall(b"GET /v1/info HTTP/1.1\r\nHost: x\r\n")
        assert idle.recv(100) == b""  # closed by the store, not by the 10 s here
    with socket.create_connection(address, timeout=10) as stalled:
        stalled.sendall(f"POST /v1/retention HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        f"{running.token}\r\nContent-Length: 100\r\n\r\n{{".encode())
        reply = b""
        while block := stalled.recv(4096):
            reply += block
    assert reply.startswith(b"HTTP/1.1 408 ") and b"did not arrive" in reply, reply


def test_the_listening_socket_says_tcp_so_answers_are_not_delayed() -> None:
    """asyncio turns Nagle off (TCP_NODELAY) only on sockets whose protocol is IPPROTO_TCP; with
    proto 0 every answer's second write waited for the client's delayed ACK."""
    sock = store.http.listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
