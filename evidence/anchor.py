"""The store's receipts as anchors for what the camera alone cannot prove.

- An MP4 that left the camera is ``uploaded`` only if its kept receipt verifies with the pinned
  store key *and* the camera's signed audit log has the ``upload_receipt`` entry it writes before
  it deletes (same file, recording, SHA-256 and receipt): a receipt, even a real one, that the
  camera never accepted is no reason for footage to be gone (:func:`unlogged_upload`).
- Every dock uploads a snapshot of the audit log and keeps the store's receipt for it
  (``audit/receipts/SHA256.receipt.json``). The log must still begin with every snapshot the
  store acknowledged: a log shorter than one was cut, one that differs was rewritten
  (:func:`check_log_anchor`). After the newest receipt the log is the camera's word alone.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from evidence.audit import AUDIT_LOG
from evidence.findings import Finding, finding
from evidence.kept import (
    AUDIT_RECEIPTS,
    RECEIPT_SUFFIX,
    read_kept,
    receipt_sha256,
)
from evidence.keyring import DataDir
from evidence.receipt import Receipt, ReceiptError, verify_receipt
from evidence.segment_check import Segment


def _receipt_entries(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The ``data`` of every ``upload_receipt`` entry of ``kind`` (segment entries written
    before ``kind`` existed count as segments)."""
    found = []
    for entry in records:
        if not isinstance(entry, dict) or entry.get("event") != "upload_receipt":
            continue
        data = entry.get("data")
        if isinstance(data, dict) and data.get("kind", "segment") == kind:
            found.append(data)
    return found


def upload_entries(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The log's segment ``upload_receipt`` entries by (recording, file), read once."""
    index: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for data in _receipt_entries(records, "segment"):
        rec, name = data.get("recording_id"), data.get("file")
        if isinstance(rec, str) and isinstance(name, str):
            index[(rec, name)].append(data)
    return index


def unlogged_upload(entries: dict[tuple[str, str], list[dict[str, Any]]],
                    segment: Segment) -> str | None:
    """Why the log (its :func:`upload_entries`) does not vouch for ``segment``'s upload, or
    None if an entry does: same file, recording, segment, SHA-256 and kept receipt."""
    manifest = segment.manifest
    named = entries.get((manifest.recording_id, segment.mp4.name), [])
    if not named:
        return "the audit log has no upload_receipt entry for it (the camera writes one " \
               "before it deletes)"
    kept = receipt_sha256(segment.mp4)
    for data in named:
        if data.get("sha256") == manifest.sha256 \
                and data.get("segment_index", manifest.segment_index) == manifest.segment_index \
                and data.get("receipt_sha256", kept) == kept:
            return None
    return "the audit log's upload_receipt entry for it names other bytes or another receipt " \
           "than the one kept"


def check_log_anchor(log: Path, root: Path, home: DataDir,
                     records: list[dict[str, Any]]) -> list[Finding]:
    """The log against the store's receipts for its snapshots (none: nothing to say)."""
    folder = root / AUDIT_RECEIPTS
    kept = sorted(folder.glob(f"*{RECEIPT_SUFFIX}")) if folder.is_dir() else []
    logged = {d["sha256"] for d in _receipt_entries(records, "audit_log")
              if isinstance(d.get("sha256"), str)}

    def bad(code: str, detail: str) -> Finding:
        return finding("audit", log, code, detail)

    findings = []
    missing = sorted(logged - {p.name[: -len(RECEIPT_SUFFIX)] for p in kept})
    if missing:
        findings.append(bad("receipt_missing", f"the log records {len(missing)} store "
                                               f"receipt(s) for its snapshots that are not "
                                               f"kept in {AUDIT_RECEIPTS}/ (first "
                                               f"{missing[0][:16]}…)"))
    if not kept:
        return findings
    store = home.store
    if store is None or store.key is None:
        why = store.problem if store is not None else "no store key to check receipts with"
        return [*findings, bad("no_store_key", f"{len(kept)} store receipt(s) for snapshots of "
                                               f"this log kept, not checked: {why}")]
    valid: list[Receipt] = []
    invalid: list[str] = []
    for path in kept:
        try:
            raw, signature = read_kept(path)
            receipt = verify_receipt(raw, signature, store.key, path.name[: -len(RECEIPT_SUFFIX)],
                                     device_id=home.device_id, file=AUDIT_LOG.name,
                                     kind="audit_log")
            if type(receipt.size) is not int or receipt.size < 0:
                raise ReceiptError(f"receipt size {receipt.size!r} is not a length")
            valid.append(receipt)
        except OSError as exc:
            invalid.append(f"{path.name}: cannot read it ({exc.strerror})")
        except (ReceiptError, ValueError, TypeError) as exc:
            invalid.append(f"{path.name}: {exc}")
    if invalid:
        findings.append(bad("bad_receipt", f"{len(invalid)} kept store receipt(s) for this log "
                                           f"not valid with {store.source} ({invalid[0]})"))
    if valid:
        findings.extend(_against_snapshots(log, valid, bad))
    return findings


def _against_snapshots(log: Path, receipts: list[Receipt], bad: Any) -> list[Finding]:
    """Hash the log once, comparing it at every acknowledged length."""
    receipts = sorted(receipts, key=lambda r: r.size)
    truncated: Receipt | None = None
    diverged: Receipt | None = None
    digest, pos, lines = hashlib.sha256(), 0, 0
    try:
        size = log.stat().st_size
        with open(log, "rb") as f:
            for receipt in receipts:
                while pos < receipt.size:
                    block = f.read(min(1 << 20, receipt.size - pos))
                    if not block:
                        break
                    digest.update(block)
                    lines += block.count(b"\n")
                    pos += len(block)
                if pos < receipt.size:
                    truncated = receipt  # and every larger one: keep the largest
                elif digest.copy().hexdigest() != receipt.sha256:
                    diverged = diverged or receipt
    except OSError as exc:
        return [bad("unreadable", f"cannot read it to compare with the store's receipts: "
                                  f"{exc.strerror}")]
    findings = []
    if truncated is not None:
        findings.append(bad("log_truncated", f"the log is {size} bytes, shorter than the "
                                             f"{truncated.size} bytes {truncated.store_id} "
                                             f"acknowledged at {truncated.received_utc}: "
                                             f"entries were removed from its end"))
    if diverged is not None:
        findings.append(bad("log_diverged", f"its first {diverged.size} bytes are not those "
                                            f"{diverged.store_id} acknowledged at "
                                            f"{diverged.received_utc}: the log was rewritten"))
    if findings:
        return findings
    newest = receipts[-1]
    return [bad("ok", f"begins with every snapshot the store acknowledged; the newest "
                      f"({newest.store_id}, {newest.received_utc}) covers its first {lines} "
                      f"line(s); the {_count_after(log, newest.size)} after it are vouched for "
                      f"by the camera alone")]


def _count_after(log: Path, offset: int) -> int:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0
