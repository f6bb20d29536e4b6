"""The derivation manifest: the store's signed word on how a redacted copy was made.

``derivation.json`` is canonical UTF-8 JSON (sorted keys, two-space indent, final newline, as a
receipt) and ``derivation.json.sig`` the raw 64-byte Ed25519 signature by the store key over its
exact bytes. It names the redacted MP4 by SHA-256, every source segment by the SHA-256 of its
device-signed manifest (and the device key's fingerprint), and every operation: the reviewer's
boxes and silenced ranges as given, the boxes actually blurred per frame range, and the
automatic boxes left sharp. docs/STORE.md, "Redacted copies", lists the fields.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.identity import (
    IdentityError,
    device_id_for,
    fingerprint,
    load_public_key,
    verify_signature,
)
from evidence.layout import Layout
from evidence.manifest import Manifest, ManifestError, sha256_file
from evidence.receipt import SIGNATURE_LENGTH, store_id_for

FORMAT = "bodycam.derivation"
VERSION = 1
DERIVATION = "derivation.json"
REDACTED_MP4 = "redacted.mp4"


def to_bytes(derivation: dict[str, Any]) -> bytes:
    return (json.dumps(derivation, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def source_path(sources: Path, entry: dict[str, Any]) -> Path:
    """Where a source segment sits in an export (or a folder laid out like one)."""
    return (sources / "devices" / str(entry["device_id"]) / Layout.RECORDINGS /
            str(entry["recording_id"]) / str(entry["file"]))


def verify_derivation(folder: Path, store_key: Ed25519PublicKey,
                      sources: Path | None = None) -> list[str]:
    """Problems with a redacted copy, each one line naming the file; ``[]`` when it checks.

    ``folder`` holds ``redacted.mp4``, ``derivation.json`` and its signature. With ``sources``
    (an unpacked store export, or any folder with ``devices/ID/…``) every source segment is
    checked too: its manifest is the one named, signed by the named device's key, and the
    footage is what that manifest describes."""
    raw_path, sig_path = folder / DERIVATION, folder / (DERIVATION + ".sig")
    try:
        raw, signature = raw_path.read_bytes(), sig_path.read_bytes()
    except OSError as exc:
        return [f"{Path(exc.filename or raw_path).name}: cannot read ({exc.strerror})"]
    if len(signature) != SIGNATURE_LENGTH or not verify_signature(store_key, signature, raw):
        return [f"{DERIVATION}: the signature does not verify with the store key (changed "
                "after signing, or signed by another store)"]
    try:
        derivation = json.loads(raw.decode("utf-8"))
        if not isinstance(derivation, dict) or derivation.get("format") != FORMAT:
            raise ValueError
        output, entries = derivation["output"], derivation["sources"]
        if not isinstance(output, dict) or not isinstance(entries, list):
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError):
        return [f"{DERIVATION}: signed, but not a {FORMAT} manifest"]
    if derivation.get("version") != VERSION:
        return [f"{DERIVATION}: unsupported version {derivation.get('version')!r}"]
    problems = []
    if derivation.get("store_id") != store_id_for(store_key):
        problems.append(f"{DERIVATION}: names store {derivation.get('store_id')}, the key "
                        f"belongs to {store_id_for(store_key)}")
    mp4 = folder / str(output.get("file", REDACTED_MP4))
    try:
        digest, size = sha256_file(mp4)
    except OSError as exc:
        problems.append(f"{mp4.name}: cannot read ({exc.strerror})")
    else:
        if (digest, size) != (output.get("sha256"), output.get("size")):
            problems.append(f"{mp4.name}: its SHA-256 or size differs from the derivation "
                            "manifest's (the redacted copy was changed)")
    if sources is not None:
        for entry in entries:
            problems += _check_source(sources, entry)
    return problems


def _check_source(sources: Path, entry: dict[str, Any]) -> list[str]:
    try:
        mp4 = source_path(sources, entry)
        name = f"source {entry['device_id']}/{entry['recording_id']}/{entry['file']}"
        want_manifest = entry["manifest_sha256"]
    except (KeyError, TypeError):
        return [f"{DERIVATION}: a source entry without device, recording, file or manifest"]
    manifest_file = mp4.with_name(mp4.name + ".json")
    try:
        raw = manifest_file.read_bytes()
        signature = mp4.with_name(mp4.name + ".json.sig").read_bytes()
    except OSError as exc:
        return [f"{name}: manifest or signature missing ({exc.strerror})"]
    if hashlib.sha256(raw).hexdigest() != want_manifest:
        return [f"{name}: its manifest is not the one the derivation names (another source "
                "swapped in, or the manifest changed)"]
    try:
        key = load_public_key(sources / "devices" / str(entry["device_id"]) / "device.pub.pem")
    except IdentityError as exc:
        return [f"{name}: no usable device key ({exc})"]
    if device_id_for(key) != entry["device_id"] or (
            entry.get("device_key_sha256") not in (None, fingerprint(key))):
        return [f"{name}: device.pub.pem is not the key of {entry['device_id']}"]
    if not verify_signature(key, signature, raw):
        return [f"{name}: the device signature over its manifest does not verify"]
    try:
        manifest = Manifest.from_bytes(raw, name)
        digest, size = sha256_file(mp4)
    except ManifestError as exc:
        return [str(exc)]
    except OSError as exc:
        return [f"{name}: cannot read the footage ({exc.strerror})"]
    if (digest, size) != (manifest.sha256, manifest.size):
        return [f"{name}: the footage differs from its device-signed manifest"]
    return []
