"""verify_receipt: no deletion on a receipt that is forged, altered or not for this file."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.receipt import (
    Receipt,
    ReceiptError,
    sign_receipt,
    store_id_for,
    verify_receipt,
)

KEY = Ed25519PrivateKey.generate()
SHA = "ab" * 32


def receipt(**changes: object) -> Receipt:
    fields = {"store_id": store_id_for(KEY.public_key()), "kind": "segment",
              "device_id": "bwv-0123456789abcdef", "file": "R000001-aaaaaa-S0000.mp4",
              "sha256": SHA, "size": 1000, "received_utc": "2026-01-01T01:00:00.000Z",
              "recording_id": "R000001-aaaaaa", "segment_index": 0, "manifest_sha256": "cd" * 32}
    fields.update(changes)
    return Receipt(**fields)  # type: ignore[arg-type]


def test_a_genuine_receipt_verifies() -> None:
    raw, sig = sign_receipt(KEY, receipt())
    got = verify_receipt(raw, sig, KEY.public_key(), SHA, device_id="bwv-0123456789abcdef",
                         file="R000001-aaaaaa-S0000.mp4", size=1000, kind="segment")
    assert got == receipt()


def test_altered_receipt_is_refused() -> None:
    raw, sig = sign_receipt(KEY, receipt(sha256="ef" * 32))
    altered = raw.replace(b"ef" * 32, SHA.encode())
    with pytest.raises(ReceiptError, match="signature does not verify"):
        verify_receipt(altered, sig, KEY.public_key(), SHA)


def test_receipt_forged_with_another_key_is_refused() -> None:
    forger = Ed25519PrivateKey.generate()
    raw, sig = sign_receipt(forger, receipt())
    with pytest.raises(ReceiptError, match="signature does not verify"):
        verify_receipt(raw, sig, KEY.public_key(), SHA)


def test_receipt_for_other_bytes_is_refused() -> None:
    raw, sig = sign_receipt(KEY, receipt())
    with pytest.raises(ReceiptError, match="sha256"):
        verify_receipt(raw, sig, KEY.public_key(), "00" * 32)


@pytest.mark.parametrize("name,value", [("device_id", "bwv-ffffffffffffffff"),
                                        ("file", "R000001-aaaaaa-S0001.mp4"), ("size", 999),
                                        ("kind", "audit_log")])
def test_receipt_naming_something_else_is_refused(name: str, value: object) -> None:
    raw, sig = sign_receipt(KEY, receipt())
    with pytest.raises(ReceiptError, match=name):
        verify_receipt(raw, sig, KEY.public_key(), SHA, **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("signature", [b"", b"\0" * 64, b"\0" * 63])
def test_missing_or_truncated_signature_is_refused(signature: bytes) -> None:
    raw, _ = sign_receipt(KEY, receipt())
    with pytest.raises(ReceiptError):
        verify_receipt(raw, signature, KEY.public_key(), SHA)


def test_signed_but_malformed_receipt_is_refused() -> None:
    raw = json.dumps({"format": "bodycam.receipt", "version": 1, "sha256": SHA}).encode()
    with pytest.raises(ReceiptError, match="receipt"):
        verify_receipt(raw, KEY.sign(raw), KEY.public_key(), SHA)


def test_receipt_from_another_store_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    raw, sig = sign_receipt(other, receipt(store_id=store_id_for(other.public_key())))
    with pytest.raises(ReceiptError):
        verify_receipt(raw, sig, KEY.public_key(), SHA)
