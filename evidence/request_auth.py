"""Signed requests: how a camera proves to the evidence store that a request comes from its key.

Each device request carries six headers (docs/STORE.md, "Device requests"). The signature is
Ed25519, by the device key, over this UTF-8 text (lines joined by ``\\n``, no final newline)::

    bodycam-request-v2
    STORE_ID          (the store the request is for: store_id_for(the pinned store key))
    METHOD
    TARGET            (path and query exactly as sent, e.g. /v1/uploads/ab12...)
    DEVICE_ID
    TIMESTAMP         (integer Unix seconds, UTC)
    NONCE             (16-64 characters of [0-9a-f], never reused)
    BODY_SHA256       (lowercase hex SHA-256 of the request body; of b"" when there is none)

The store checks the time against its clock (a tolerance for skew), remembers nonces for longer
than that tolerance (so a captured request cannot be sent again), checks the body against the
signed hash and verifies the signature over *its own* store id, so nothing of a request can be
changed or replayed, neither to the same store nor to another one where the device is enrolled
too (each store remembers only its own nonces). ``v1`` (without the store id) is refused. The
camera and the store both use this module, so the text is built in one place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.identity import verify_signature

SCHEME = "bodycam-request-v2"
STORE = "Bodycam-Store"
DEVICE = "Bodycam-Device"
TIMESTAMP = "Bodycam-Timestamp"
NONCE = "Bodycam-Nonce"
CONTENT_SHA256 = "Bodycam-Content-SHA256"
SIGNATURE = "Bodycam-Signature"
HEADERS = (STORE, DEVICE, TIMESTAMP, NONCE, CONTENT_SHA256, SIGNATURE)


def canonical_request(method: str, target: str, device_id: str, timestamp: int, nonce: str,
                      body_sha256: str, store_id: str) -> bytes:
    """The exact bytes a device signs for one request to the store ``store_id``."""
    return "\n".join([SCHEME, store_id, method.upper(), target, device_id, str(timestamp),
                      nonce, body_sha256]).encode()


def sign_request(private_key: Ed25519PrivateKey, device_id: str, method: str, target: str,
                 body: bytes, now: float, nonce: str | None = None, *,
                 store_id: str) -> dict[str, str]:
    """The authentication headers for one request to ``store_id`` (the camera derives it from
    its pinned store key, never from what a store says); ``now`` is the camera's UTC clock."""
    if not store_id:
        raise ValueError("a device request must name the store it is for (store_id)")
    nonce = nonce or secrets.token_hex(16)
    body_sha256 = hashlib.sha256(body).hexdigest()
    timestamp = int(now)
    signature = private_key.sign(canonical_request(method, target, device_id, timestamp, nonce,
                                                   body_sha256, store_id))
    return {STORE: store_id, DEVICE: device_id, TIMESTAMP: str(timestamp), NONCE: nonce,
            CONTENT_SHA256: body_sha256, SIGNATURE: base64.b64encode(signature).decode()}


#: The store's signed answer to "what time is it?" (``GET /v1/info?nonce=N``): a camera sets its
#: clock only from a time its pinned store key signed for the nonce it just sent, so neither
#: another store's answer nor an old one moves the clock that stamps evidence.
TIME_SCHEME = "bodycam-time-v1"


def time_text(store_id: str, nonce: str, time: float) -> bytes:
    """The exact bytes a store signs for its time: scheme, store id, the camera's nonce and the
    time as Unix seconds with three decimals, joined by ``\\n``."""
    return "\n".join([TIME_SCHEME, store_id, nonce, f"{time:.3f}"]).encode()


def sign_time(private_key: Ed25519PrivateKey, store_id: str, nonce: str, time: float) -> str:
    return base64.b64encode(private_key.sign(time_text(store_id, nonce, time))).decode()


def verify_time(public_key: Ed25519PublicKey, store_id: str, nonce: str, time: float,
                signature: object) -> bool:
    """Whether ``signature`` (base64) is the pinned store's over this nonce and time."""
    if not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return verify_signature(public_key, raw, time_text(store_id, nonce, time))
