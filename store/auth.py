"""Who may do what: devices sign each request with their enrolled key; operators hold a token.

Device requests follow :mod:`evidence.request_auth`. The store accepts one when it is
addressed to this store (``Bodycam-Store``, and the signature is checked over this store's own
id, whatever the header says), the device is enrolled, its timestamp is within
``clock_skew_s`` of the store clock, the nonce has not been used by that device (nonces are
remembered for twice the tolerance, longer than a timestamp stays acceptable) and the Ed25519
signature verifies with the enrolled key. The body is then checked against the signed hash by
the server once it has read it.

The operator token is made at ``bodycam store init``; only its SHA-256 is kept (it is 256 random
bits, so a fast hash is enough), and it is compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import request_auth as ra
from evidence.identity import verify_signature
from store.catalogue import Catalogue
from store.clock import Clock
from store.errors import StoreError

NONCE = re.compile(r"[0-9a-f]{16,64}")
DEVICE_ID = re.compile(r"bwv-[0-9a-f]{16}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")


def unauthorised(message: str) -> StoreError:
    return StoreError(401, message)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_operator(authorization: str | None, stored_hash: str | None) -> None:
    """Raise 401 unless ``Authorization: Bearer TOKEN`` carries the operator token."""
    if stored_hash is None:
        raise unauthorised("this store has no operator token (run 'bodycam store init')")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorised("operator request needs 'Authorization: Bearer TOKEN'")
    if not hmac.compare_digest(token_hash(token.strip()), stored_hash):
        raise unauthorised("operator token is not valid for this store")


@dataclass(frozen=True)
class DeviceRequest:
    """An authenticated device request: who sent it and the body hash it signed."""

    device_id: str
    public_key: Ed25519PublicKey
    body_sha256: str


class RequestVerifier:
    def __init__(self, catalogue: Catalogue, clock: Clock, skew_s: float,
                 key_for: Callable[[str], Ed25519PublicKey | None], store_id: str) -> None:
        self.store_id = store_id
        self.catalogue = catalogue
        self.clock = clock
        self.skew_s = skew_s
        self.key_for = key_for

    def verify(self, method: str, target: str, headers: Mapping[str, str]) -> DeviceRequest:
        """Check a device request's headers (not yet its body); raise 401 with the reason."""
        values = {}
        for name in ra.HEADERS:
            value = headers.get(name)
            if not value:
                raise unauthorised(f"device request needs header {name} (see docs/STORE.md)")
            values[name] = value.strip()
        if values[ra.STORE] != self.store_id:
            raise unauthorised(f"request is signed for store {values[ra.STORE][:40]!r}, this is "
                               f"{self.store_id}: refused (a request is valid for one store)")
        device_id, nonce = values[ra.DEVICE], values[ra.NONCE]
        body_sha256, stamp = values[ra.CONTENT_SHA256].lower(), values[ra.TIMESTAMP]
        if not DEVICE_ID.fullmatch(device_id):
            raise unauthorised(f"{ra.DEVICE} {device_id[:40]!r} is not a device id (bwv-…)")
        if not NONCE.fullmatch(nonce):
            raise unauthorised(f"{ra.NONCE} must be 16-64 lowercase hex digits")
        if not SHA256_HEX.fullmatch(body_sha256):
            raise unauthorised(f"{ra.CONTENT_SHA256} must be a hex SHA-256")
        if not TIMESTAMP.fullmatch(stamp):
            raise unauthorised(f"{ra.TIMESTAMP} must be whole Unix seconds")
        now = self.clock()
        if abs(int(stamp) - now) > self.skew_s:
            raise unauthorised(f"{ra.TIMESTAMP} {stamp} is more than {self.skew_s:.0f} s from "
                               f"the store clock {now:.0f} (set the clock from GET /v1/info)")
        key = self.key_for(device_id)
        if key is None:
            raise StoreError(403, f"device {device_id} is not enrolled in this store")
        try:
            signature = base64.b64decode(values[ra.SIGNATURE], validate=True)
        except (binascii.Error, ValueError):
            raise unauthorised(f"{ra.SIGNATURE} is not base64") from None
        signed = ra.canonical_request(method, target, device_id, int(stamp), nonce, body_sha256,
                                      self.store_id)
        if not verify_signature(key, signature, signed):
            raise unauthorised(f"{ra.SIGNATURE} does not verify with the enrolled key of "
                               f"{device_id}")
        if not self.catalogue.use_nonce(device_id, nonce, now, now - 2 * self.skew_s):
            raise unauthorised(f"{ra.NONCE} {nonce} was already used: replayed request refused")
        return DeviceRequest(device_id, key, body_sha256)
