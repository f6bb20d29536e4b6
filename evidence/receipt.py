"""Store receipts: the evidence store's signed word that it holds a file with a given SHA-256.

The camera deletes its local copy of a segment (or audit log) only after :func:`verify_receipt`
accepts the receipt the store returned for it, so this module is imported on the camera and must
not import the store's server. The store uses :func:`sign_receipt`; both sides share the one
format below (docs/STORE.md, "Receipts").

A receipt is canonical UTF-8 JSON (sorted keys, two-space indent, final newline) and a raw 64-byte
Ed25519 signature by the store key over its exact bytes, like a segment manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.bounded import BadJSON, loads
from evidence.identity import fingerprint, verify_signature

FORMAT = "bodycam.receipt"
VERSION = 1
SIGNATURE_LENGTH = 64
KINDS = ("segment", "audit_log")


class ReceiptError(ValueError):
    """The receipt must not be relied on; the message says why."""


@dataclass(frozen=True)
class Receipt:
    store_id: str
    kind: str
    device_id: str
    file: str
    sha256: str
    size: int
    received_utc: str
    recording_id: str | None = None
    segment_index: int | None = None
    manifest_sha256: str | None = None
    format: str = FORMAT
    version: int = VERSION

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Receipt:
        try:
            data = loads(raw, "receipt")
        except BadJSON as exc:
            raise ReceiptError(str(exc)) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReceiptError(f"receipt is not a {FORMAT} object")
        if data.get("version") != VERSION:
            raise ReceiptError(f"unsupported receipt version {data.get('version')!r}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ReceiptError(f"receipt has unknown fields {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ReceiptError(f"receipt: {exc}") from None


def store_id_for(public_key: Ed25519PublicKey) -> str:
    """A store id is bound to its key, as a device id is."""
    return "store-" + fingerprint(public_key)[:16]


def sign_receipt(private_key: Ed25519PrivateKey, receipt: Receipt) -> tuple[bytes, bytes]:
    """The receipt's exact bytes and the store's signature over them."""
    raw = receipt.to_bytes()
    return raw, private_key.sign(raw)


def verify_receipt(receipt_bytes: bytes, signature: bytes, store_public_key: Ed25519PublicKey,
                   expected_sha256: str, *, device_id: str | None = None,
                   file: str | None = None, size: int | None = None,
                   kind: str | None = None) -> Receipt:
    """Accept a receipt only if the pinned store key signed it and it names the expected file.

    ``expected_sha256`` is what the camera computed (or what its signed manifest says); a receipt
    for other bytes proves nothing about this file. The keyword arguments, when given, must match
    too. Raises :class:`ReceiptError` with a one-line reason; returns the parsed receipt.
    """
    if len(signature) != SIGNATURE_LENGTH or not verify_signature(store_public_key, signature,
                                                                  receipt_bytes):
        raise ReceiptError("receipt signature does not verify with the store's public key")
    receipt = Receipt.from_bytes(receipt_bytes)
    if receipt.store_id != store_id_for(store_public_key):
        raise ReceiptError(f"receipt names store {receipt.store_id}, the key belongs to "
                           f"{store_id_for(store_public_key)}")
    expected = {"sha256": expected_sha256.lower(), "device_id": device_id, "file": file,
                "size": size, "kind": kind}
    for name, want in expected.items():
        got = getattr(receipt, name)
        if want is not None and got != want:
            raise ReceiptError(f"receipt {name} is {got!r}, expected {want!r}")
    if receipt.kind not in KINDS:
        raise ReceiptError(f"receipt kind {receipt.kind!r} is not one of {', '.join(KINDS)}")
    return receipt
