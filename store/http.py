"""The store's HTTP API (docs/STORE.md): routes, authentication and limits, over a :class:`Store`.

An ASGI application (Starlette's requests, responses and thread pool) served by uvicorn, in this
process (:class:`StoreHTTPServer`, what tests and ``serve --workers 1`` use) or in several worker
processes (:mod:`store.workers`). Every answer is JSON (an export is a zip) and every error one
line: ``{"error": "...", "status": N}``, also for what the HTTP parser itself refuses. A device
request is authenticated from its headers *before* its body is read, so nobody unenrolled can
make the store read a large body; bodies have a limit per route and must declare their length.
Paths are matched against fixed patterns on the raw request target and never percent-decoded into
file names. Handlers are plain functions run in the thread pool: hashing, fsync and SQLite never
stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import h11
import uvicorn
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse
from starlette.responses import Response as HttpResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from evidence import request_auth as ra
from evidence.fsutil import private_dir
from store import assignment
from store import export as exporter
from store.auth import NONCE, DeviceRequest
from store.errors import StoreError, bad_request, not_found, too_large
from store.ingest import UploadStatus
from store.public_api import ROUTES as PUBLIC_ROUTES
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

    headers: Headers
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    device: DeviceRequest | None

    @property
    def device_id(self) -> str:
        assert self.device is not None
        return self.device.device_id

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


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


def categorise(store: Store, req: Request) -> Response:
    data = json_object(req.body, {"category", "device_id"}, {"category"})
    return Response(200, store.categorise(req.params["recording_id"], data["category"],
                                          _optional_device(data)))


def get_assignment(store: Store, req: Request) -> Response:
    device_id = req.params["device_id"]
    assignment._enrolled(store, device_id)
    return Response(200, assignment.current(store, device_id))


def set_assignment(store: Store, req: Request) -> Response:
    data = json_object(req.body, {"officer_id", "collar", "clear"}, set())
    device_id = req.params["device_id"]
    if data.get("clear") is True:
        if "officer_id" in data or "collar" in data:
            raise bad_request("give clear, or officer_id and collar, not both")
        return Response(200, assignment.clear(store, device_id))
    if "clear" in data and data["clear"] is not False:
        raise bad_request("clear must be true or false")
    for name in ("officer_id", "collar"):
        if name not in data:
            raise bad_request(f"missing field {name!r} (or give \"clear\": true)")
    return Response(200, assignment.assign(store, device_id, data["officer_id"],
                                           data["collar"]))


def device_assignment(store: Store, req: Request) -> Response:
    nonce = req.query.get("nonce", "")
    if not NONCE.fullmatch(nonce):
        raise bad_request("nonce must be 16-64 lowercase hex digits")
    return Response(200, assignment.signed(store, req.device_id, nonce))


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


def _public(func: Callable[[Store, Any], tuple[Any, ...]]) -> Callable[[Store, Request],
                                                                       Response]:
    """A :mod:`store.public_api` handler as a route: its (status, body[, file]) a Response."""
    return lambda store, req: Response(*func(store, req))


# the transparency log: public, for anyone (store/transparency.py)
def _public_query(req: Request, allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(req.query) - allowed)
    if unknown:
        raise bad_request(f"unknown query parameter {unknown[0][:40]!r} (allowed: "
                          f"{', '.join(sorted(allowed)) or 'none'})")
    return req.query


def tlog_checkpoint(store: Store, req: Request) -> Response:
    _public_query(req, set())
    return Response(200, store.tlog.checkpoint())


def tlog_inclusion(store: Store, req: Request) -> Response:
    return Response(200, store.tlog.inclusion(
        _public_query(req, {"index", "manifest_sha256", "tree_size"})))


def tlog_consistency(store: Store, req: Request) -> Response:
    return Response(200, store.tlog.consistency(_public_query(req, {"first", "second"})))


def tlog_leaves(store: Store, req: Request) -> Response:
    return Response(200, store.tlog.leaves(_public_query(req, {"start", "end"})))


ROUTES: list[Route] = [
    ("GET", re.compile(r"/v1/info"), PUBLIC, info, 0),
    ("GET", re.compile(r"/v1/transparency/checkpoint"), PUBLIC, tlog_checkpoint, 0),
    ("GET", re.compile(r"/v1/transparency/inclusion"), PUBLIC, tlog_inclusion, 0),
    ("GET", re.compile(r"/v1/transparency/consistency"), PUBLIC, tlog_consistency, 0),
    ("GET", re.compile(r"/v1/transparency/leaves"), PUBLIC, tlog_leaves, 0),
    ("POST", re.compile(r"/v1/segments"), DEVICE, open_segment, MAX_JSON_BODY),
    ("POST", re.compile(r"/v1/audit-logs"), DEVICE, open_audit_log, MAX_JSON_BODY),
    ("GET", re.compile(rf"/v1/uploads/{UPLOAD}"), DEVICE, upload_status, 0),
    ("PUT", re.compile(rf"/v1/uploads/{UPLOAD}"), DEVICE, put_chunk, -1),
    ("POST", re.compile(r"/v1/devices"), OPERATOR, enrol, MAX_PEM_BODY),
    ("GET", re.compile(r"/v1/devices"), OPERATOR, lambda s, r: Response(200, s.devices()), 0),
    ("GET", re.compile(r"/v1/assignment"), DEVICE, device_assignment, 0),
    ("GET", re.compile(rf"/v1/devices/(?P<device_id>{SAFE})/assignment"), OPERATOR,
     get_assignment, 0),
    ("POST", re.compile(rf"/v1/devices/(?P<device_id>{SAFE})/assignment"), OPERATOR,
     set_assignment, MAX_JSON_BODY),
    ("GET", re.compile(r"/v1/recordings"), OPERATOR, recordings, 0),
    ("POST", re.compile(rf"/v1/recordings/(?P<recording_id>{SAFE})/category"), OPERATOR,
     categorise, MAX_JSON_BODY),
    ("POST", re.compile(rf"/v1/recordings/(?P<recording_id>{SAFE})/flag"), OPERATOR, flag,
     MAX_JSON_BODY),
    ("POST", re.compile(rf"/v1/recordings/(?P<recording_id>{SAFE})/unflag"), OPERATOR, unflag,
     MAX_JSON_BODY),
    ("GET", re.compile(r"/v1/quarantine"), OPERATOR,
     lambda s, r: Response(200, s.quarantined()), 0),
    ("POST", re.compile(r"/v1/retention"), OPERATOR, run_retention, MAX_JSON_BODY),
    ("POST", re.compile(r"/v1/exports"), OPERATOR, make_export, MAX_JSON_BODY),
]
ROUTES += [(method, pattern, auth, _public(func), limit)  # find, requests, redactions
           for method, pattern, auth, func, limit in PUBLIC_ROUTES]


#: Seconds a request's body may take to arrive, and its head before that (slow or idle clients).
BODY_TIMEOUT_S = 60.0
#: Seconds an idle keep-alive connection stays open (a camera pauses between chunks).
KEEP_ALIVE_S = 60
#: The request line and headers together; http.server allowed 64 KiB a line and 100 headers.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
SERVER_HEADER = ("Server", "bodycam-store/1")


class ClientGone(Exception):
    """The client closed the connection before sending the body it announced."""


def _route(method: str, path: str) -> tuple[Route, dict[str, str]]:
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


def _body_length(headers: Headers, limit: int, method: str) -> int:
    """The declared body length, refused before a byte of the body is read."""
    if headers.get("Transfer-Encoding"):
        raise StoreError(411, "send a Content-Length, not Transfer-Encoding")
    values = {v.strip() for v in headers.getlist("Content-Length")}
    if not values:
        if method in ("POST", "PUT"):  # a body of unknown length: never read it as a request
            raise StoreError(411, f"{method} needs a Content-Length (0 for no body)")
        return 0
    if len(values) > 1:
        raise bad_request("several different Content-Length headers")
    raw = values.pop()
    if not CONTENT_LENGTH.fullmatch(raw):
        raise bad_request(f"Content-Length {raw[:20]!r} is not a whole number of bytes")
    length = int(raw)
    if length > limit:
        raise too_large(f"body of {length} bytes is over this endpoint's limit of {limit}")
    return length


async def _read_body(request: HttpRequest, length: int) -> bytes:
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone() from None
    except TimeoutError:
        raise StoreError(408, f"the {length}-byte body did not arrive within "
                              f"{BODY_TIMEOUT_S:.0f} s") from None
    body = b"".join(chunks)
    if len(body) != length:
        raise ClientGone()
    return body


def _call(func: Callable[[Store, Request], Response], store: Store, req: Request) -> Response:
    """In the thread pool: the signed body hash, then the handler (both may take a while)."""
    if req.device is not None and hashlib.sha256(req.body).hexdigest() != req.device.body_sha256:
        raise bad_request(f"body does not match its {ra.CONTENT_SHA256} header")
    return func(store, req)


def _render(response: Response, close: bool) -> HttpResponse:
    """JSON on one line (or the export's zip); ``close`` when a body was left unread, since it
    would be taken for the next request."""
    headers = {"Connection": "close"} if close else {}
    if response.file is not None:
        file = response.file
        return FileResponse(file, response.status, headers, media_type="application/zip",
                            filename=file.name,
                            background=BackgroundTask(file.unlink, missing_ok=True))
    payload = (json.dumps(response.body, sort_keys=True) + "\n").encode()
    return HttpResponse(payload, response.status, headers, media_type="application/json")


def error_body(status: int, message: str) -> bytes:
    return (json.dumps({"error": message, "status": status}, sort_keys=True) + "\n").encode()


class StoreApp:
    """The ASGI application over one :class:`Store` (Starlette's request and response types).

    Routing is the table above rather than Starlette's router: the answers to an unknown path or
    method are part of the API (one JSON line naming what to use), and the signature covers the
    raw request target, which a router sees only percent-decoded."""

    def __init__(self, store: Store, owns_store: bool = False) -> None:
        self.store = store
        self.owns_store = owns_store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            request = HttpRequest(scope, receive)
            response = await self.respond(request)
            if response is not None:  # None: the client went away mid-body
                await response(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.owns_store:
                    await run_in_threadpool(self.store.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def respond(self, request: HttpRequest) -> HttpResponse | None:
        scope = request.scope
        method = request.method
        query_string = scope["query_string"].decode("latin-1")
        target = scope["raw_path"].decode("latin-1") + ("?" + query_string if query_string
                                                         else "")
        body_read = False
        try:
            response = await self._handle(request, method, target, query_string)
            body_read = True
        except StoreError as exc:
            response = Response(exc.status, exc.to_json())
        except ClientGone:
            return None
        except Exception:
            log.exception("store: %s %s failed", method, target[:200])
            response = Response(500, {"error": "internal error in the store (see its log)",
                                      "status": 500})
        log.info("%s %s %s %d", (scope.get("client") or ("-",))[0], method, target[:120],
                 response.status)
        return _render(response, close=not body_read)

    async def _handle(self, request: HttpRequest, method: str, target: str,
                      query_string: str) -> Response:
        store = self.store
        if len(request.scope["headers"]) > MAX_HEADERS:
            raise StoreError(431, f"more than {MAX_HEADERS} header lines")
        route, params = _route(method, target.partition("?")[0])
        _, _, auth, func, limit = route
        headers = request.headers
        device = None
        if auth == DEVICE:
            device = await run_in_threadpool(store.verifier.verify, method, target, headers)
        elif auth == OPERATOR:
            await run_in_threadpool(store.check_operator, headers.get("Authorization"))
        length = _body_length(headers, store.config.max_chunk_bytes if limit == -1 else limit,
                              method)
        body = await _read_body(request, length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(query_string).items()}
        return await run_in_threadpool(_call, func, store,
                                       Request(headers, params, query, body, device))


class _Parser(h11.Connection):
    """h11, remembering why it refused a request (uvicorn keeps only "Invalid HTTP request")."""

    refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        except ValueError as exc:  # a Content-Length of more digits than Python converts
            self.refusal = h11.RemoteProtocolError(f"unusable header value ({exc})"[:160], 400)
            raise self.refusal from None


class StoreH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the store's manners: what the parser refuses gets one
    JSON line naming the problem, and a connection whose request head has not arrived within
    :data:`BODY_TIMEOUT_S` is closed (uvicorn times out only idle keep-alive connections)."""

    def __init__(self, config: uvicorn.Config, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _Parser(h11.SERVER, config.h11_max_incomplete_event_size or MAX_HEAD_BYTES)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except UnicodeDecodeError:  # uvicorn decodes the path as ASCII
            self.conn.refusal = h11.RemoteProtocolError("request target is not ASCII", 400)
            self.send_400_response("")
            return
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _watch_head(self) -> None:
        if not self._waiting_for_head():
            self._stop_watching()
        elif self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(BODY_TIMEOUT_S, self._head_timeout)

    def _stop_watching(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", None)
        status = refusal.error_status_hint if refusal is not None else 400
        reason = str(refusal or msg or "malformed request")[:160]  # it may quote the request
        if reason == "Receive buffer too long":
            reason = f"request line and headers are over {MAX_HEAD_BYTES // 1024} KiB"
        message = f"bad HTTP request: {reason}"
        if "Transfer-Encoding" in reason:  # as the routes answer chunked bodies
            status, message = 411, "send a Content-Length, not Transfer-Encoding"
        payload = error_body(status, message)
        head = h11.Response(status_code=status, reason=HTTPStatus(status).phrase.encode(),
                            headers=[(b"content-type", b"application/json"),
                                     (b"content-length", str(len(payload)).encode()),
                                     (b"connection", b"close")])
        try:
            for event in (head, h11.Data(data=payload), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:  # a response had already started: just close
            pass
        self.transport.close()


def server_config(app: Any, config_class: type[uvicorn.Config] = uvicorn.Config,
                  **options: Any) -> uvicorn.Config:
    """uvicorn's settings for the store, in this process or in workers (:mod:`store.workers`).
    Logging stays the caller's: uvicorn must not reconfigure it."""
    settings: dict[str, Any] = {
        "http": StoreH11Protocol, "ws": "none", "lifespan": "on", "interface": "asgi3",
        "log_config": None, "access_log": False, "server_header": False,
        "headers": [SERVER_HEADER], "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES, "timeout_graceful_shutdown": 5}
    return config_class(app, **{**settings, **options})


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now (so port 0 has its number before serving starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said, not left 0: asyncio sets TCP_NODELAY only on sockets that say it, and
    # without it an answer's headers and body (two writes) wait out delayed ACKs (~40 ms each).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)  # worker processes serve the same socket
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, stopped at once from another thread (no 0.1 s polling)."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):  # on_tick refreshes the Date header
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            counter += 10

    def stop(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(wake.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their answer
        tasks = list(self.server_state.tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.config.timeout_graceful_shutdown)
            for task in late:
                task.cancel()
        for connection in list(self.server_state.connections):
            connection.transport.close()  # a client stalled mid-request
        await self.lifespan.shutdown()


class StoreHTTPServer:
    """The store's API on uvicorn in this process, with socketserver's interface (the tests and
    ``serve --workers 1``): bound at construction, ``serve_forever`` in a thread, ``shutdown``
    from another, then ``server_close``."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.tls = tls
        self.socket = listen(host, port)
        self.server_address = self.socket.getsockname()
        config = server_config(StoreApp(store))
        config.load()
        config.ssl = tls  # the handshake runs on the event loop: a slow client stalls nothing
        self._server = _Server(config)
        self._started = threading.Event()
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (``poll_interval`` is socketserver's; unused)."""
        self._started.set()
        try:
            if not self._server.should_exit:
                self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serving and wait until :meth:`serve_forever` has returned."""
        self._server.stop()
        if self._started.is_set():
            self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server TLS from PEM files; cameras pin this certificate (docs/STORE.md, "HTTPS")."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
