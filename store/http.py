"""The store's HTTP API (docs/STORE.md): routes, authentication and limits, over a :class:`Store`.

Standard library only: ``ThreadingHTTPServer``, HTTP/1.1 with keep-alive. Every answer is JSON
(an export is a zip) and every error one line: ``{"error": "...", "status": N}``. A device
request is authenticated from its headers *before* its body is read, so nobody unenrolled can
make the store read a large body; bodies have a limit per route and must declare their length.
Paths are matched against fixed patterns and never percent-decoded into file names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from device.evidence import request_auth as ra
from device.fsutil import private_dir
from store import export as exporter
from store.auth import NONCE, DeviceRequest
from store.errors import StoreError, bad_request, not_found, too_large
from store.ingest import UploadStatus
from store.service import Store
from store.validate import base64_field, json_object, safe_name, sha256_hex, whole_number

log = logging.getLogger("bodycam.store")

MAX_JSON_BODY = 256 * 1024
MAX_PEM_BODY = 16 * 1024
CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,15})-([0-9]{1,15})/([0-9]{1,15})")
CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")
SAFE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
UPLOAD = r"(?P<upload_id>[0-9a-f]{32})"

PUBLIC, DEVICE, OPERATOR = "public", "device", "operator"


@dataclass
class Request:
    """What a route handler sees: path parameters, query, body and the authenticated device."""

    handler: StoreRequestHandler
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    device: DeviceRequest | None

    @property
    def device_id(self) -> str:
        assert self.device is not None
        return self.device.device_id

    def header(self, name: str) -> str | None:
        return self.handler.headers.get(name)


@dataclass
class Response:
    status: int
    body: dict[str, Any] | list[Any] | None = None
    file: Path | None = None  # streamed as application/zip


Route = tuple[str, re.Pattern[str], str, Callable[[Store, Request], Response], int]


def _status(status: UploadStatus) -> Response:
    return Response(status.http_status, status.to_json())


def info(store: Store, req: Request) -> Response:
    nonce = req.query.get("nonce")
    if nonce is not None and not NONCE.fullmatch(nonce):
        raise bad_request("nonce must be 16-64 lowercase hex digits")
    return Response(200, store.info(nonce))


# device routes
def open_segment(store: Store, req: Request) -> Response:
    data = json_object(req.body, {"file", "manifest", "signature"},
                       {"file", "manifest", "signature"})
    file = safe_name(data["file"], "file")
    return _status(store.ingest.open_segment(req.device_id, file,
                                             base64_field(data["manifest"], "manifest"),
                                             base64_field(data["signature"], "signature")))


def open_audit_log(store: Store, req: Request) -> Response:
    data = json_object(req.body, {"file", "sha256", "size"}, {"file", "sha256", "size"})
    return _status(store.ingest.open_audit_log(
        req.device_id, safe_name(data["file"], "file"), sha256_hex(data["sha256"], "sha256"),
        whole_number(data["size"], "size", 1 << 50)))


def upload_status(store: Store, req: Request) -> Response:
    return _status(store.ingest.status(req.device_id, req.params["upload_id"]))


def put_chunk(store: Store, req: Request) -> Response:
    header = req.header("Content-Range") or ""
    match = CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        raise bad_request(f"Content-Range {header[:60]!r} is not 'bytes START-END/TOTAL'")
    start, end, total = (int(g) for g in match.groups())
    if end < start or end - start + 1 != len(req.body):
        raise bad_request(f"Content-Range {start}-{end} does not match a body of "
                          f"{len(req.body)} bytes")
    return _status(store.ingest.append(req.device_id, req.params["upload_id"], start, total,
                                       req.body))


# operator routes
def enrol(store: Store, req: Request) -> Response:
    label = req.query.get("label", "")
    if len(label) > 128 or not label.isprintable():
        raise bad_request("label must be at most 128 printable characters")
    result = store.enrol(req.body, label)
    return Response(201 if result["enrolled"] else 200, result)


def flag(store: Store, req: Request) -> Response:
    data = json_object(req.body, {"case", "device_id"}, {"case"})
    return Response(200, store.flag(req.params["recording_id"], data["case"],
                                    _optional_device(data)))


def unflag(store: Store, req: Request) -> Response:
    data = json_object(req.body or b"{}", {"device_id"}, set())
    return Response(200, store.unflag(req.params["recording_id"], _optional_device(data)))


def _optional_device(data: dict[str, Any]) -> str | None:
    return safe_name(data["device_id"], "device_id") if data.get("device_id") else None


def recordings(store: Store, req: Request) -> Response:
    device = req.query.get("device") or None
    if device is not None:
        safe_name(device, "device")
    return Response(200, store.recordings(device, req.query.get("from") or None,
                                          req.query.get("to") or None))


def run_retention(store: Store, req: Request) -> Response:
    json_object(req.body or b"{}", set(), set())
    return Response(200, {"deleted": store.retention.step(store.clock())})


def make_export(store: Store, req: Request) -> Response:
    data = json_object(req.body, {"recording_id", "device_id", "from", "to"}, set())
    selection = {"recording_id": data.get("recording_id"), "device_id": data.get("device_id"),
                 "since": data.get("from"), "until": data.get("to")}
    for name in ("recording_id", "device_id"):
        if selection[name] is not None:
            safe_name(selection[name], name)
    for name in ("since", "until"):
        if selection[name] is not None and not isinstance(selection[name], str):
            raise bad_request(f"{'from' if name == 'since' else 'to'} must be a UTC time as "
                              "text, such as 2026-01-31T08:00:00Z")
    private_dir(store.exports_dir)
    out = store.exports_dir / f"export-{secrets.token_hex(8)}.zip"
    exporter.export(store, out, **selection)
    return Response(200, file=out)


ROUTES: list[Route] = [
    ("GET", re.compile(r"/v1/info"), PUBLIC, info, 0),
    ("POST", re.compile(r"/v1/segments"), DEVICE, open_segment, MAX_JSON_BODY),
    ("POST", re.compile(r"/v1/audit-logs"), DEVICE, open_audit_log, MAX_JSON_BODY),
    ("GET", re.compile(rf"/v1/uploads/{UPLOAD}"), DEVICE, upload_status, 0),
    ("PUT", re.compile(rf"/v1/uploads/{UPLOAD}"), DEVICE, put_chunk, -1),
    ("POST", re.compile(r"/v1/devices"), OPERATOR, enrol, MAX_PEM_BODY),
    ("GET", re.compile(r"/v1/devices"), OPERATOR, lambda s, r: Response(200, s.devices()), 0),
    ("GET", re.compile(r"/v1/recordings"), OPERATOR, recordings, 0),
    ("POST", re.compile(rf"/v1/recordings/(?P<recording_id>{SAFE})/flag"), OPERATOR, flag,
     MAX_JSON_BODY),
    ("POST", re.compile(rf"/v1/recordings/(?P<recording_id>{SAFE})/unflag"), OPERATOR, unflag,
     MAX_JSON_BODY),
    ("GET", re.compile(r"/v1/quarantine"), OPERATOR,
     lambda s, r: Response(200, s.quarantined()), 0),
    ("POST", re.compile(r"/v1/retention"), OPERATOR, run_retention, MAX_JSON_BODY),
    ("POST", re.compile(r"/v1/exports"), OPERATOR, make_export, MAX_JSON_BODY),
]


class ClientGone(Exception):
    """The client closed the connection before sending the body it announced."""


class StoreRequestHandler(BaseHTTPRequestHandler):
    server: StoreHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "bodycam-store/1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    #: Seconds a connection may sit idle or stall mid-request before it is closed.
    timeout = 60

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._body_read = False
        try:
            self._send(self._handle(method))
        except StoreError as exc:
            self._send(Response(exc.status, exc.to_json()))
        except ClientGone:
            self.close_connection = True
        except Exception:
            log.exception("store: %s %s failed", method, self.path)
            self._send(Response(500, {"error": "internal error in the store (see its log)",
                                      "status": 500}))

    def _handle(self, method: str) -> Response:
        store = self.server.store
        parts = urlsplit(self.path)
        route, params = self._route(method, parts.path)
        _, _, auth, func, limit = route
        device = None
        if auth == DEVICE:
            device = store.verifier.verify(method, self.path, self.headers)
        elif auth == OPERATOR:
            store.check_operator(self.headers.get("Authorization"))
        if limit == -1:
            limit = store.config.max_chunk_bytes
        body = self._read_body(limit, method)
        if device is not None and hashlib.sha256(body).hexdigest() != device.body_sha256:
            raise bad_request(f"body does not match its {ra.CONTENT_SHA256} header")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return func(store, Request(self, params, query, body, device))

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in ROUTES:
            match = route[1].fullmatch(path)
            if match:
                if route[0] == method:
                    return route, match.groupdict()
                allowed.append(route[0])
        if allowed:
            raise StoreError(405, f"{method} is not allowed on {path[:80]} (use "
                                  f"{', '.join(allowed)})")
        raise not_found(f"no such endpoint: {method} {path[:80]} (see docs/STORE.md)")

    def _read_body(self, limit: int, method: str) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise StoreError(411, "send a Content-Length, not Transfer-Encoding")
        values = {v.strip() for v in self.headers.get_all("Content-Length") or ()}
        if not values:
            if method in ("POST", "PUT"):  # a body of unknown length: never read it as a request
                raise StoreError(411, f"{method} needs a Content-Length (0 for no body)")
            self._body_read = True
            return b""
        if len(values) > 1:
            raise bad_request("several different Content-Length headers")
        raw = values.pop()
        if not CONTENT_LENGTH.fullmatch(raw):
            raise bad_request(f"Content-Length {raw[:20]!r} is not a whole number of bytes")
        length = int(raw)
        if length > limit:
            raise too_large(f"body of {length} bytes is over this endpoint's limit of {limit}")
        try:
            body = self.rfile.read(length)
        except OSError:  # reset or stalled past the timeout: nothing of it is kept
            raise ClientGone() from None
        if len(body) != length:
            raise ClientGone()
        self._body_read = True
        return body

    def _send(self, response: Response) -> None:
        if not self._body_read:
            self.close_connection = True  # an unread body would be taken for the next request
        try:
            if response.file is not None:
                self._send_file(response)
                return
            payload = (json.dumps(response.body, sort_keys=True) + "\n").encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _send_file(self, response: Response) -> None:
        assert response.file is not None
        try:
            with open(response.file, "rb") as f:
                size = response.file.stat().st_size
                self.send_response(response.status)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Disposition",
                                 f'attachment; filename="{response.file.name}"')
                self.end_headers()
                while block := f.read(1 << 20):
                    self.wfile.write(block)
        finally:
            response.file.unlink(missing_ok=True)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Errors http.server raises itself (bad request line, headers too long) as JSON too."""
        self._body_read = False
        if self.request_version == "HTTP/0.9":  # an unparsable request line: answer anyway
            self.request_version = "HTTP/1.0"
        text = message or HTTPStatus(code).phrase
        self._send(Response(code, {"error": text, "status": code}))

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class StoreHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.tls = tls
        super().__init__((host, port), StoreRequestHandler)
        if tls is not None:
            # The handshake runs in the request's thread, so a slow client cannot stall accept.
            self.socket = tls.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server TLS from PEM files; cameras pin this certificate (docs/STORE.md, "HTTPS")."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
