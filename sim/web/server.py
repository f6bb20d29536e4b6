"""The panel's HTTP server: the page, its event stream, the preview and the recordings.

Standard library only. Every request is checked before anything else happens: the Host header
(a page on another site cannot reach the panel through DNS rebinding), the Origin and content
type of commands (a page on another site cannot post one), names in paths (only a recording's
own files are served, never a path outside them). A bad request gets a one-line JSON error.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from device.control import ControlError
from device.recordings import recordings_dir
from evidence.crypt import CryptError, decrypt_chunks, load_force_private_key, unwrap
from evidence.decrypt import read_manifest
from sim.app import dev_force_key_path
from sim.web.hub import Hub
from sim.web.panel import Panel, PanelError
from sim.web.preview import PreviewPump
from sim.web.supervisor import DaemonDown

log = logging.getLogger("bodycam.panel")

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"index.html": "text/html; charset=utf-8",
                "panel.css": "text/css; charset=utf-8",
                "panel.js": "text/javascript; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
MEDIA_TYPES = {".mp4": "video/mp4", ".json": "application/json",
               ".sig": "application/octet-stream"}
MEDIA_PATH = re.compile(r"/media/([A-Za-z0-9][A-Za-z0-9_-]{0,63})/"
                        r"([A-Za-z0-9][A-Za-z0-9_-]{0,127}\.mp4(?:\.json|\.sig)?)")
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
MAX_COMMAND = 4096
KEEPALIVE_S = 15.0
CHUNK = 256 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class PanelServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, hub: Hub, pump: PreviewPump, panel: Panel,
                 data_dir: Path) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), PanelHandler)
        self.hub, self.pump, self.panel = hub, pump, panel
        self.media_root = recordings_dir(data_dir)
        #: the simulator's development force key (sim/app.py): encrypted segments are served
        #: decrypted, from memory, so the page still plays them
        self.dev_force_key = dev_force_key_path(data_dir)
        self.port = self.server_address[1]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"
        #: Names this server answers to; None (listening beyond loopback) accepts any.
        self.hosts: set[str] | None = None
        if host in LOOPBACK:
            self.hosts = {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}


class PanelHandler(BaseHTTPRequestHandler):
    server: PanelServer
    protocol_version = "HTTP/1.1"
    server_version = "bodycam-panel"
    # Headers and body go out in two writes; with Nagle on, a kept-alive connection waits for
    # the client's delayed ACK (40 ms) before the body: every button edge would lag.
    disable_nagle_algorithm = True

    # -- plumbing ------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the camera's log, not every request."""

    def _send(self, status: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self.close_connection = True  # whatever body came with the request stays unread
        self._json(status, {"ok": False, "error": message})

    def _stream_headers(self, ctype: str) -> None:
        self.close_connection = True
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the page went away; nothing to tell it
        except Exception:
            log.exception("panel: %s %s", self.command, self.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the terminal")

    def _dispatch(self) -> None:
        hosts = self.server.hosts
        if hosts is not None and self.headers.get("Host") not in hosts:
            return self._error(HTTPStatus.FORBIDDEN, f"this panel answers only to "
                               f"{', '.join(sorted(hosts))}")
        path = urlsplit(self.path).path
        if self.command == "POST":
            if path != "/api/command":
                return self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {path}")
            return self._command()
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"))
        if path == "/events":
            return self._events()
        if path == "/preview.mjpg":
            return self._preview()
        if path == "/api/state":
            return self._json(HTTPStatus.OK, {"ok": True, **self.server.hub.snapshot()})
        if path.startswith("/media/"):
            return self._media(path)
        return self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")

    # -- endpoints -----------------------------------------------------------------------------
    def _static(self, name: str) -> None:
        ctype = STATIC_FILES.get(name)  # a fixed list: nothing else in the package is served
        if ctype is None:
            return self._error(HTTPStatus.NOT_FOUND, f"no such file: {name}")
        self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), ctype)

    def _command(self) -> None:
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                               "commands are JSON: send Content-Type: application/json")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host')}":
            return self._error(HTTPStatus.FORBIDDEN, f"commands from {origin} are refused")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._error(HTTPStatus.LENGTH_REQUIRED, "a command needs a Content-Length")
        if not 0 <= length <= MAX_COMMAND:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"a command is at most {MAX_COMMAND} bytes")
        try:
            request = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            return self._error(HTTPStatus.BAD_REQUEST, f"command is not JSON ({exc})")
        try:
            reply = self.server.panel.command(request)
        except DaemonDown as exc:
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except (PanelError, ControlError) as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc))
        self._json(HTTPStatus.OK, {**reply, "ok": True})

    def _events(self) -> None:
        """Server-sent events: a snapshot, then each change as it happens."""
        hub = self.server.hub
        q = hub.subscribe()
        try:
            self._stream_headers("text/event-stream")
            while True:
                try:
                    message = q.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()
                    continue
                if message is None:
                    return
                kind, data = message
                self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
        finally:
            if hub.unsubscribe(q) == 0:
                self.server.panel.release_held()

    def _preview(self) -> None:
        """MJPEG: each new preview frame replaces the last in the page's <img>."""
        self._stream_headers("multipart/x-mixed-replace; boundary=frame")
        frames = self.server.pump.frames()
        try:
            part = b"--frame\r\nContent-Type: image/jpeg\r\n\r\n"
            self.wfile.write(part)
            for jpeg in frames:  # each frame is followed by the next part's start: a browser
                # shows a frame once the next part begins, not when the next frame comes
                self.wfile.write(jpeg + b"\r\n" + part)
                self.wfile.flush()
        finally:
            frames.close()

    def _media(self, path: str) -> None:
        """A recording's segment (with Range, so a player can seek), manifest or signature."""
        match = MEDIA_PATH.fullmatch(path)
        if match is None:
            return self._error(HTTPStatus.NOT_FOUND, f"no such recording file: {path}")
        recording, name = match.groups()
        root = self.server.media_root.resolve()
        file = (root / recording / name).resolve()
        if file.parent != root / recording or not file.is_file():
            return self._error(HTTPStatus.NOT_FOUND, f"no such recording file: {path}")
        ctype = MEDIA_TYPES[Path(name).suffix]
        body = self._decrypted(file) if name.endswith(".mp4") else None
        size = len(body) if body is not None else file.stat().st_size
        start, end = 0, size - 1
        status = HTTPStatus.OK
        header = self.headers.get("Range")
        if header is not None:
            parsed = _byte_range(header, size)
            if parsed is None:
                self.close_connection = True
                return self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", ctype,
                                  {"Content-Range": f"bytes */{size}"})
            (start, end), status = parsed, HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Disposition", f'inline; filename="{name}"')
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        if body is not None:
            self.wfile.write(body[start:end + 1])
            return
        with file.open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


    def _decrypted(self, mp4: Path) -> bytes | None:
        """An encrypted segment's plaintext, with the development key (None: a plain segment,
        or no key to decrypt with, when the ciphertext is served as it is)."""
        key_file = self.server.dev_force_key
        try:
            manifest = read_manifest(mp4)
            if manifest.encryption is None or not key_file.exists():
                return None
            segment_key = unwrap(load_force_private_key(key_file), manifest.encryption,
                                 mp4.name)
            return b"".join(decrypt_chunks(mp4, segment_key))
        except (CryptError, OSError):
            return None


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range (inclusive) within ``size``, or None when unsatisfiable."""
    match = RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            return None
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end
