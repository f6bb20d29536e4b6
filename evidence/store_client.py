"""A client of the evidence store's HTTP API (docs/STORE.md), for the camera and for tools.

:class:`StoreConnection` speaks HTTP/1.1 with keep-alive and turns error answers into
:class:`StoreHttpError`; :class:`DeviceClient` signs each request with the device key
(:mod:`evidence.request_auth`) and uploads segments and audit logs resumably. It does not
retry or delete anything: the uploader decides that, after checking the receipt with
:func:`evidence.receipt.verify_receipt`.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.fsutil import open_private
from evidence.manifest import manifest_path, sha256_file, signature_path
from evidence.messages import plain
from evidence.request_auth import sign_request

DEFAULT_CHUNK = 4 << 20


class StoreHttpError(Exception):
    """The store refused a request (or could not be reached: ``status`` 0)."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"store answered {status}: {message}" if status else message)
        self.status = status
        self.body = body or {}


class StoreConnection:
    """One persistent HTTP connection to a store, reopened when it drops."""

    def __init__(self, base_url: str, timeout: float = 60.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"store URL {base_url!r} is not http(s)://HOST[:PORT]")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(self.host, self.port,
                                                         timeout=self.timeout,
                                                         context=self.ssl_context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, target: str, body: bytes = b"",
                headers: dict[str, str] | None = None,
                stream_to: Path | None = None) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON). Raise StoreHttpError on >= 400."""
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        try:
            conn = self._connection()
            conn.request(method, target, body=body, headers=all_headers)
            response = conn.getresponse()
            if stream_to is not None and response.status < 400:
                with open_private(stream_to) as f:  # an export: evidence, the owner's only
                    while block := response.read(1 << 20):
                        f.write(block)
                return response.status, None
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise StoreHttpError(0, f"store at {self.host}:{self.port} unreachable: "
                                    f"{plain(exc)}") from None
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            data = json.loads(payload) if payload else None
        except (ValueError, RecursionError):  # not JSON, or hostile JSON (too deep, huge int)
            data = {"error": payload[:200].decode(errors="replace")}
        if response.status >= 400:
            body_json = data if isinstance(data, dict) else {}
            raise StoreHttpError(response.status, str(body_json.get("error", data)), body_json)
        return response.status, data

    def info(self, nonce: str | None = None) -> dict[str, Any]:
        """``GET /v1/info``; with ``nonce`` the store signs its time for it (``time_signature``)."""
        return self.request("GET", "/v1/info" + (f"?nonce={nonce}" if nonce else ""))[1]


class DeviceClient:
    """Signed requests from one camera to one store. ``clock`` gives the camera's UTC seconds; a
    camera whose clock is unset can call :meth:`sync_clock` to sign with the store's time instead.

    Every signature names ``store_id``, so a request is good at that store only. The camera
    passes the id of its *pinned* store key (:func:`~evidence.receipt.store_id_for`); a
    tool that pins nothing may leave it out and then signs for the store ``/v1/info`` names."""

    def __init__(self, connection: StoreConnection, private_key: Ed25519PrivateKey,
                 device_id: str, clock: Callable[[], float] = time.time,
                 chunk_bytes: int = DEFAULT_CHUNK, store_id: str | None = None) -> None:
        self.connection = connection
        self.private_key = private_key
        self.device_id = device_id
        self.store_id = store_id
        self.clock = clock
        self.chunk_bytes = chunk_bytes
        self.clock_offset = 0.0
        self._store_max_chunk: int | None = None

    def sync_clock(self) -> float:
        """Sign with the store's time from now on; return the offset applied (seconds)."""
        info = self.connection.info()
        self.clock_offset = float(info["time"]) - self.clock()
        self._store_max_chunk = int(info["max_chunk_bytes"])
        return self.clock_offset

    def chunk_size(self) -> int:
        """``chunk_bytes``, but never more than the store accepts in one request."""
        if self._store_max_chunk is None:
            self._store_max_chunk = int(self.connection.info()["max_chunk_bytes"])
        return min(self.chunk_bytes, self._store_max_chunk)

    def request(self, method: str, target: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        if not self.store_id:
            self.store_id = str(self.connection.info()["store_id"])
        signed = sign_request(self.private_key, self.device_id, method, target, body,
                              self.clock() + self.clock_offset, store_id=self.store_id)
        return self.connection.request(method, target, body, {**(headers or {}), **signed})

    def open_segment(self, mp4: Path) -> dict[str, Any]:
        """Announce a segment (its manifest and signature); the answer says what the store has."""
        body = json.dumps({
            "file": mp4.name,
            "manifest": base64.b64encode(manifest_path(mp4).read_bytes()).decode(),
            "signature": base64.b64encode(signature_path(mp4).read_bytes()).decode()}).encode()
        return self._json("POST", "/v1/segments", body)

    def open_audit_log(self, path: Path, sha256: str | None = None,
                       size: int | None = None) -> dict[str, Any]:
        if sha256 is None or size is None:
            sha256, size = sha256_file(path)
        body = json.dumps({"file": path.name, "sha256": sha256, "size": size}).encode()
        return self._json("POST", "/v1/audit-logs", body)

    def assignment(self, nonce: str) -> dict[str, Any]:
        """``GET /v1/assignment``: who wears this camera, signed by the store for ``nonce``."""
        return self._json("GET", f"/v1/assignment?nonce={nonce}")

    def status(self, upload_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/uploads/{upload_id}")

    def put_chunk(self, upload_id: str, offset: int, data: bytes, total: int) -> dict[str, Any]:
        end = offset + len(data) - 1
        return self._json("PUT", f"/v1/uploads/{upload_id}", data,
                          {"Content-Range": f"bytes {offset}-{end}/{total}",
                           "Content-Type": "application/octet-stream"})

    def send(self, status: dict[str, Any], path: Path,
             max_chunks: int | None = None) -> dict[str, Any]:
        """Send ``path`` from where the store's ``status`` says it stopped, chunk by chunk.

        ``max_chunks`` stops early (a test's undock); the last answer is returned."""
        sent, chunk = 0, self.chunk_size()
        with open(path, "rb") as f:
            while status["state"] == "open" and (max_chunks is None or sent < max_chunks):
                f.seek(status["received"])
                data = f.read(min(chunk, status["size"] - status["received"]))
                if not data:
                    raise StoreHttpError(0, f"{path} is shorter than the {status['size']} "
                                            "bytes announced")
                status = self.put_chunk(status["upload_id"], status["received"], data,
                                        status["size"])
                sent += 1
        return status

    def upload_segment(self, mp4: Path, max_chunks: int | None = None) -> dict[str, Any]:
        """Open (or resume) the segment's upload and send the rest; return the final status."""
        return self.send(self.open_segment(mp4), mp4, max_chunks)

    def upload_audit_log(self, path: Path, max_chunks: int | None = None) -> dict[str, Any]:
        return self.send(self.open_audit_log(path), path, max_chunks)

    def _json(self, method: str, target: str, body: bytes = b"",
              headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            return self.request(method, target, body, headers)[1]
        except StoreHttpError as exc:
            if exc.status == 422 and "state" in exc.body:
                return exc.body  # quarantined: an answer about the upload, not a failure to ask
            raise


def receipt_of(status: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """The receipt bytes and signature in a stored upload's status, if any."""
    if "receipt" not in status:
        return None
    return (base64.b64decode(status["receipt"]), base64.b64decode(status["receipt_signature"]))

