"""What the camera keeps about an upload, next to the footage (docs/DOCKING.md).

- ``NAME.mp4.receipt.json`` and ``NAME.mp4.receipt.sig``: the store's receipt, exactly as it
  came, and its signature. Written (fsync, rename) before the MP4 is deleted; kept afterwards
  with the manifest and its signature, so the camera can still show what it recorded, that the
  chain was whole and which store took each segment.
- ``NAME.mp4.quarantined.json``: the store refused the segment on integrity grounds; the
  footage stays and is not offered again (delete this note to offer it again).
- ``audit/receipts/SHA256.receipt.json`` (and ``.sig``): receipts for snapshots of the audit
  log, which is never deleted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.bounded import MAX_DOCUMENT, read_head, read_regular
from device.evidence.identity import IdentityError, load_public_key
from device.evidence.manifest import Manifest, sha256_file
from device.evidence.receipt import SIGNATURE_LENGTH, Receipt, ReceiptError, verify_receipt
from device.fsutil import atomic_write

RECEIPT_SUFFIX = ".receipt.json"
RECEIPT_SIG_SUFFIX = ".receipt.sig"
QUARANTINED_SUFFIX = ".quarantined.json"
AUDIT_RECEIPTS = Path("audit") / "receipts"
#: Where a camera keeps the store key it pins (the default of ``upload.store_public_key``).
STORE_KEY = "store.pub.pem"


def receipt_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + RECEIPT_SUFFIX)


def receipt_signature_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + RECEIPT_SIG_SUFFIX)


def quarantine_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + QUARANTINED_SUFFIX)


def save_receipt(mp4: Path, raw: bytes, signature: bytes) -> None:
    """Keep a segment's receipt durably; the caller deletes the MP4 only after this returns."""
    atomic_write(receipt_path(mp4), raw)
    atomic_write(receipt_signature_path(mp4), signature)


def save_audit_receipt(data_dir: Path, sha256: str, raw: bytes, signature: bytes) -> Path:
    folder = data_dir / AUDIT_RECEIPTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sha256}{RECEIPT_SUFFIX}"
    atomic_write(path, raw)
    atomic_write(folder / f"{sha256}{RECEIPT_SIG_SUFFIX}", signature)
    return path


def mark_quarantined(mp4: Path, note: dict[str, Any]) -> None:
    atomic_write(quarantine_path(mp4), (json.dumps(note, indent=2, sort_keys=True) + "\n")
                 .encode())


def is_quarantined(mp4: Path) -> bool:
    return quarantine_path(mp4).exists()


def check_segment_receipt(raw: bytes, signature: bytes, store_key: Ed25519PublicKey, mp4: Path,
                          manifest: Manifest, device_id: str) -> Receipt:
    """The receipt, if it lets ``mp4`` be deleted: signed by the pinned store key, for this
    device, file, recording, segment, size and signed SHA-256, and the file on the camera still
    has that SHA-256. Raises :class:`ReceiptError` (one line) otherwise."""
    try:
        receipt = verify_receipt(raw, signature, store_key, manifest.sha256, device_id=device_id,
                                 file=mp4.name, size=manifest.size, kind="segment")
    except ValueError as exc:  # ReceiptError is one; anything else malformed counts the same
        raise ReceiptError(str(exc)) from None
    if (receipt.recording_id, receipt.segment_index) != (manifest.recording_id,
                                                         manifest.segment_index):
        raise ReceiptError(f"receipt is for {receipt.recording_id} segment "
                           f"{receipt.segment_index}")
    if sha256_file(mp4)[0] != receipt.sha256:
        raise ReceiptError("the camera's copy no longer matches what the store holds")
    return receipt


def kept_receipt(mp4: Path, manifest: Manifest) -> tuple[bool, str]:
    """For a verifier: may ``mp4`` be gone? (True, note) if a store receipt for exactly the
    manifest's bytes is kept next to it (its signature checked with the ``store.pub.pem`` of
    the data directory when there is one, which the note says if not); (False, why) if not."""
    try:
        raw = read_regular(receipt_path(mp4), MAX_DOCUMENT)
        signature = read_head(receipt_signature_path(mp4), SIGNATURE_LENGTH + 1)
    except FileNotFoundError:
        return False, "no store receipt for it either"
    except OSError as exc:  # a FIFO, a link, a huge file: not read, and not a receipt
        return False, f"store receipt not read: {exc.strerror}"
    expected = {"device_id": manifest.device_id, "file": mp4.name, "size": manifest.size,
                "kind": "segment"}
    store_key = next((folder / STORE_KEY for folder in mp4.parents
                      if (folder / STORE_KEY).is_file()), None)
    try:
        if store_key is not None:
            verify_receipt(raw, signature, load_public_key(store_key), manifest.sha256,
                           **expected)
            return True, ""
        receipt = Receipt.from_bytes(raw)
        wrong = [k for k, v in {**expected, "sha256": manifest.sha256}.items()
                 if getattr(receipt, k) != v]
        if wrong:
            raise ReceiptError(f"receipt {wrong[0]} does not match the manifest")
    except (ReceiptError, IdentityError) as exc:
        return False, f"store receipt not valid: {exc}"
    return True, f"receipt not checked against the store's key: no {STORE_KEY} found"
