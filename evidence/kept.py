"""What the camera keeps about an upload, next to the footage (docs/DOCKING.md).

- ``NAME.mp4.receipt.json`` and ``NAME.mp4.receipt.sig``: the store's receipt, exactly as it
  came, and its signature. Written (fsync, rename) before the MP4 is deleted; kept afterwards
  with the manifest and its signature, so the camera can still show what it recorded, that the
  chain was whole and which store took each segment.
- ``NAME.mp4.receipt.tlog.json``: the store's transparency-log inclusion proof for that
  receipt (its leaf, a signed checkpoint, the proof), kept only once it verifies with the pinned
  store key; ``bodycam transparency verify --check DATA_DIR`` later shows that checkpoint is a
  prefix of the store's log. A store without a log sends none; the receipt alone still counts.
- ``NAME.mp4.quarantined.json``: the store refused the segment on integrity grounds; the
  footage stays and is not offered again (delete this note to offer it again).
- ``audit/receipts/SHA256.receipt.json`` (and ``.sig``): receipts for snapshots of the audit
  log, which is never deleted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.bounded import Refused, read_regular
from evidence.fsutil import atomic_write, private_dir
from evidence.layout import Layout
from evidence.manifest import Manifest, sha256_file
from evidence.receipt import SIGNATURE_LENGTH, Receipt, ReceiptError, verify_receipt

if TYPE_CHECKING:
    from evidence.keyring import StoreKey

RECEIPT_SUFFIX = Layout.RECEIPT
RECEIPT_SIG_SUFFIX = Layout.RECEIPT_SIGNATURE
QUARANTINED_SUFFIX = Layout.QUARANTINED
AUDIT_RECEIPTS = Layout.AUDIT_RECEIPTS
#: Where a camera keeps the store key it pins (the default of ``upload.store_public_key``).
STORE_KEY = Layout.STORE_KEY


def receipt_path(mp4: Path) -> Path:
    return Layout.receipt(mp4)


def receipt_signature_path(mp4: Path) -> Path:
    return Layout.receipt_signature(mp4)


def quarantine_path(mp4: Path) -> Path:
    return Layout.quarantined(mp4)


def save_receipt(mp4: Path, raw: bytes, signature: bytes) -> None:
    """Keep a segment's receipt durably; the caller deletes the MP4 only after this returns."""
    atomic_write(receipt_path(mp4), raw)
    atomic_write(receipt_signature_path(mp4), signature)


def save_tlog_proof(mp4: Path, proof: dict[str, Any]) -> None:
    """Keep the receipt's inclusion proof beside it (checked by the caller first)."""
    atomic_write(Layout.tlog_proof(mp4),
                 (json.dumps(proof, indent=2, sort_keys=True) + "\n").encode())


def save_audit_receipt(data_dir: Path, sha256: str, raw: bytes, signature: bytes) -> Path:
    folder = data_dir / AUDIT_RECEIPTS
    private_dir(folder)
    path = folder / f"{sha256}{RECEIPT_SUFFIX}"
    atomic_write(path, raw)
    atomic_write(folder / f"{sha256}{RECEIPT_SIG_SUFFIX}", signature)
    return path


def mark_quarantined(mp4: Path, note: dict[str, Any]) -> None:
    atomic_write(quarantine_path(mp4), (json.dumps(note, indent=2, sort_keys=True) + "\n")
                 .encode())


def is_quarantined(mp4: Path) -> bool:
    return quarantine_path(mp4).exists()


def _receipt_for(raw: bytes, signature: bytes, store_key: Ed25519PublicKey, name: str,
                 manifest: Manifest, device_id: str) -> Receipt:
    """The receipt, if the pinned store key signed it for this device, file, recording,
    segment, size and signed SHA-256; else :class:`ReceiptError` (one line)."""
    try:
        receipt = verify_receipt(raw, signature, store_key, manifest.sha256, device_id=device_id,
                                 file=name, size=manifest.size, kind="segment")
    except (ValueError, TypeError) as exc:  # ReceiptError is one; anything malformed the same
        raise ReceiptError(str(exc)) from None
    if (receipt.recording_id, receipt.segment_index) != (manifest.recording_id,
                                                         manifest.segment_index):
        raise ReceiptError(f"receipt is for {receipt.recording_id} segment "
                           f"{receipt.segment_index}")
    return receipt


def check_segment_receipt(raw: bytes, signature: bytes, store_key: Ed25519PublicKey, mp4: Path,
                          manifest: Manifest, device_id: str) -> Receipt:
    """The receipt, if it lets ``mp4`` be deleted: signed by the pinned store key, for this
    device, file, recording, segment, size and signed SHA-256, and the file on the camera still
    has that SHA-256. Raises :class:`ReceiptError` (one line) otherwise."""
    receipt = _receipt_for(raw, signature, store_key, mp4.name, manifest, device_id)
    if sha256_file(mp4)[0] != receipt.sha256:
        raise ReceiptError("the camera's copy no longer matches what the store holds")
    return receipt


#: A receipt is a few hundred bytes; anything far larger is not one (and is not read whole).
MAX_RECEIPT_BYTES = 64 * 1024


def read_kept(path: Path) -> tuple[bytes, bytes]:
    """A kept receipt's bytes and its signature (``path`` is the ``.receipt.json``).
    Raises OSError (FileNotFoundError when either is missing) or ReceiptError if too large."""
    sig_path = path.with_name(path.name[: -len(RECEIPT_SUFFIX)] + RECEIPT_SIG_SUFFIX)
    parts = []
    for part in (path, sig_path):
        try:  # a regular file only: a FIFO or a link to /dev/zero is never read
            parts.append(read_regular(part, MAX_RECEIPT_BYTES))
        except Refused as exc:  # a FIFO or link stays an OSError: not checked, not accused
            if exc.code != "too_large":
                raise
            raise ReceiptError(f"{part.name} is larger than any receipt") from None
    return parts[0], parts[1]


def kept_receipt(mp4: Path, manifest: Manifest, store: StoreKey | None = None,
                 manifest_sha256: str | None = None) -> tuple[str, str]:
    """For a verifier: may ``mp4`` be gone? A reason code and a note: ``uploaded`` if the
    receipt kept next to it verifies with the pinned store key (never one found beside the
    footage) for exactly the manifest's bytes; ``no_store_key`` if there is no pinned key to
    check it with; ``missing_file`` (or ``unreadable``) if not. The audit log's word for it
    is the caller's to check (an ``upload_receipt`` entry)."""
    try:
        raw, signature = read_kept(receipt_path(mp4))
    except FileNotFoundError:
        return "missing_file", "no store receipt for it either"
    except ReceiptError as exc:
        return "missing_file", f"store receipt not valid: {exc}"
    except OSError as exc:
        return "unreadable", f"cannot read its store receipt: {exc.strerror}"
    if store is None or store.key is None:
        # Without the key a receipt can still be seen not to be one for this segment.
        wrong = _not_for(raw, signature, mp4.name, manifest)
        if wrong:
            return "missing_file", f"store receipt not valid: {wrong}"
        why = store.problem if store is not None else "no store key to check receipts with"
        return "no_store_key", f"a store receipt is kept for it, not checked: {why}"
    try:
        receipt = _receipt_for(raw, signature, store.key, mp4.name, manifest,
                               manifest.device_id)
        if manifest_sha256 and receipt.manifest_sha256 not in (None, manifest_sha256):
            raise ReceiptError("receipt names another manifest than the one here")
    except ReceiptError as exc:
        return "missing_file", f"store receipt not valid: {exc}"
    return "uploaded", (f"receipt from {receipt.store_id}, received {receipt.received_utc}, "
                        f"checked with {store.source}")


def _not_for(raw: bytes, signature: bytes, name: str, manifest: Manifest) -> str:
    """Why a receipt (its signature unchecked) cannot be this segment's; "" if it could be."""
    if len(signature) != SIGNATURE_LENGTH:
        return f"the signature is {len(signature)} bytes, not {SIGNATURE_LENGTH}"
    try:
        receipt = Receipt.from_bytes(raw)
    except ReceiptError as exc:
        return str(exc)
    expected = {"kind": "segment", "device_id": manifest.device_id, "file": name,
                "sha256": manifest.sha256, "size": manifest.size,
                "recording_id": manifest.recording_id, "segment_index": manifest.segment_index}
    wrong = [key for key, value in expected.items() if getattr(receipt, key) != value]
    return f"receipt {wrong[0]} does not match the manifest" if wrong else ""


def receipt_sha256(mp4: Path) -> str | None:
    """SHA-256 of the receipt kept for ``mp4`` (what its ``upload_receipt`` entry names)."""
    try:
        return hashlib.sha256(read_kept(receipt_path(mp4))[0]).hexdigest()
    except (OSError, ReceiptError):
        return None
