"""What the verifier reports: one finding per item and problem, with a status and a reason code.

The status says how bad it is (and decides the exit code); the code says exactly why, so a
script, a court report or a test can tell a flipped byte from a missing segment. Every code has
one status; docs/FORMAT.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence.audit import ISSUES

#: status -> meaning. Only ``ok`` is intact.
STATUSES = {
    "ok": "intact",
    "tampered": "does not match what the device signed, its recording's chain or its audit log",
    "unterminated": "ends without its last segment or closing entry: possible power loss",
    "interrupted": "a .part segment not yet recovered (the daemon recovers it at its next start)",
    "unsigned": "footage without its manifest or signature",
    "unenrolled": "signed by, or named for, a device whose key is not enrolled (--keys)",
    "error": "could not be checked: no usable key, or a file that cannot be read",
}

#: code -> (status, meaning)
CODES: dict[str, tuple[str, str]] = {
    "ok": ("ok", "intact"),
    "recovered": ("ok", "intact; the recording ends with a segment recovered after power loss"),
    "uploaded": ("ok", "in the evidence store: the MP4 left the camera after the store's "
                       "receipt for exactly its bytes; manifest, signature and receipt kept"),
    # a segment's own files
    "part_file": ("interrupted", "a .part segment: the camera stopped while writing it"),
    "part_tampered": ("tampered", "a .part segment whose signed pending record or fragment "
                                  "signatures contradict its files: edited after the camera "
                                  "stopped"),
    "no_manifest": ("unsigned", "footage or a signature without its manifest"),
    "no_signature": ("unsigned", "a manifest without its signature"),
    "not_a_file": ("tampered", "a symlink, folder, FIFO or device where the camera writes a "
                               "regular file (not followed, not read)"),
    "too_large": ("tampered", "a file far larger than the camera writes (not read whole)"),
    "nested_data_dir": ("tampered", "a device key inside another data directory's recordings: "
                                    "what is beside it is checked as the outer camera's"),
    "bad_signature": ("tampered", "the signature does not verify: bytes changed after signing"),
    "wrong_key": ("tampered", "signed by the data directory's key, not the enrolled one"),
    "unenrolled": ("unenrolled", "no enrolled key for the device, or signed by an unenrolled key"),
    "manifest_invalid": ("tampered", "a signed manifest that is not valid for this format"),
    "device_mismatch": ("tampered", "the manifest names another device than its signer"),
    "foreign_device": ("tampered", "footage of another device in this data directory"),
    "foreign_recording": ("tampered", "a segment of another recording in this one's folder"),
    "misplaced": ("tampered", "a file renamed: its manifest describes another name"),
    "missing_file": ("tampered", "the MP4 a manifest describes is not there (and no valid "
                                 "store receipt for it)"),
    "no_store_key": ("error", "a store receipt that cannot be checked: no pinned store key "
                              "(DATA_DIR/store.pub.pem, or --store-key / --keys DIR)"),
    "receipt_not_in_log": ("tampered", "an MP4 gone with a store receipt, but the audit log has "
                                       "no upload_receipt entry for that receipt and SHA-256"),
    "size_mismatch": ("tampered", "the MP4's size differs from its manifest (truncated?)"),
    "hash_mismatch": ("tampered", "the MP4's SHA-256 differs from its manifest"),
    "other_force_key": ("error", "an encrypted segment wrapped to another force key than the "
                                 "one given (--force-key): it cannot be decrypted with it"),
    "bad_wrapped_key": ("tampered", "an encrypted segment whose wrapped key does not unwrap "
                                    "with the force key it names (corrupted, or wrapped to "
                                    "another force)"),
    "wrapped_key_swapped": ("tampered", "an encrypted segment whose wrapped key is another "
                                        "segment's"),
    "plaintext_mismatch": ("tampered", "an encrypted segment that does not decrypt to the "
                                       "plaintext whose SHA-256 its manifest signed"),
    "time_backwards": ("tampered", "a segment ends before it starts, or starts before the "
                                   "previous one ended"),
    # a recording's chain
    "segment_failed": ("tampered", "a segment of this recording failed its own checks"),
    "missing_segment": ("tampered", "a segment is missing (from the chain or the audit log's "
                                    "record)"),
    "duplicate_segment": ("tampered", "two segments with the same index"),
    "chain_broken": ("tampered", "prev_manifest_sha256 does not name the previous manifest, or "
                                 "an audit entry's prev the previous line"),
    "after_last": ("tampered", "segments after the one marked last (or recovered)"),
    "no_last_segment": ("unterminated", "no segment marked last: possible power loss"),
    "duplicate_recording": ("tampered", "two recordings with the same number: the camera "
                                        "never hands one out twice"),
    "recording_order": ("tampered", "the audit log starts recordings whose numbers do not "
                                    "increase"),
    # the audit log and the footage
    "no_key": ("error", "no public key to check against"),
    "bad_key": ("error", "the key file is not a readable Ed25519 public key"),
    "unreadable": ("error", "a file could not be read"),
    "no_audit_log": ("tampered", "a camera's data directory without its audit log"),
    "no_identity": ("tampered", "a camera's data directory without its identity.json or "
                                "device.pub.pem"),
    "log_truncated": ("tampered", "the audit log is shorter than a snapshot of it the store "
                                  "acknowledged (a kept receipt): its end was removed"),
    "log_diverged": ("tampered", "the audit log's start differs from a snapshot of it the "
                                 "store acknowledged: it was rewritten"),
    "receipt_missing": ("tampered", "the audit log records a store receipt for itself that is "
                                    "not kept in audit/receipts/"),
    "bad_receipt": ("tampered", "a kept store receipt for the audit log that does not verify "
                                "with the pinned store key or names another device or file"),
    "not_in_log": ("tampered", "footage the audit log never started or never recorded"),
    "log_mismatch": ("tampered", "a manifest differs from the one the audit log recorded"),
    "no_segments": ("unterminated", "a recording the log started, with no segment and no close: "
                                    "power lost before its first segment?"),
}
for _code, _meaning in ISSUES.items():  # the audit log's own reasons, under the same names
    CODES.setdefault(_code, ("unterminated" if _code == "torn_tail" else "tampered", _meaning))


@dataclass(frozen=True)
class Finding:
    """One line of the report. ``kind``: segment, recording, audit, log-vs-footage or key."""

    path: str
    status: str
    detail: str
    code: str = "ok"
    kind: str = "segment"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


#: A detail is one line of at most this many characters, whatever a hostile file put in it.
MAX_DETAIL = 500


def finding(kind: str, item: object, code: str, detail: str) -> Finding:
    """A finding whose status follows from its code."""
    detail = " ".join(detail.splitlines())
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    return Finding(str(item), CODES[code][0], detail, code, kind)
