"""Ingest: resumable uploads of segments and device audit logs, verified before any receipt.

A segment upload opens with its manifest and signature, which are checked at once (format, the
signature against the device's *enrolled* key, the device id binding, the file name, the size
limit, the chain position); the MP4 then arrives in chunks at increasing offsets; when the last
byte is in, the store hashes what it holds and checks hash and size against the signed manifest
and the chain again, stores the objects and signs a receipt naming the SHA-256 it computed.

What fails an integrity check is quarantined with its reason (manifest, signature and whatever
bytes arrived) and gets no receipt; it is never dropped. Ordering problems (a segment whose
predecessor the store does not hold yet) are refused without quarantine: the camera still has
both and uploads them in order. Opening an upload that is already stored answers with the same
receipt, so every step can be retried.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evidence.identity import verify_signature
from evidence.layout import Layout
from evidence.manifest import Manifest, ManifestError
from evidence.receipt import Receipt, sign_receipt
from evidence.verify import SIGNATURE_LENGTH
from store.catalogue import device_lock, object_lock
from store.clock import parse_utc, utc_iso
from store.errors import StoreError, bad_request, conflict, not_found, too_large
from store.search import index_segment
from store.validate import SHA256_HEX, parse_json, safe_name

if TYPE_CHECKING:
    from store.service import Store

log = logging.getLogger("bodycam.store")

SEGMENT, AUDIT_LOG = "segment", "audit_log"
OPEN, STORED, QUARANTINED = "open", "stored", "quarantined"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_INTEGER = (1 << 63) - 1


@dataclass
class UploadStatus:
    upload_id: str
    kind: str
    file: str
    size: int
    received: int
    state: str
    reason: str | None = None
    receipt: bytes | None = None
    receipt_signature: bytes | None = None
    #: True on the answer to the request that completed and stored the upload.
    created: bool = False
    #: A stored segment's transparency-log leaf, checkpoint and inclusion proof.
    transparency: dict[str, Any] | None = None

    @property
    def http_status(self) -> int:
        return 422 if self.state == QUARANTINED else 201 if self.created else 200

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"upload_id": self.upload_id, "kind": self.kind,
                                "file": self.file, "size": self.size, "received": self.received,
                                "state": self.state}
        if self.reason:
            data["reason"] = self.reason
        if self.state == QUARANTINED:
            data.update(error=f"quarantined: {self.reason}", status=422)
        if self.receipt is not None and self.receipt_signature is not None:
            data["receipt"] = base64.b64encode(self.receipt).decode()
            data["receipt_signature"] = base64.b64encode(self.receipt_signature).decode()
        if self.transparency is not None:
            data["transparency"] = self.transparency
        return data


class Rejected(Exception):
    """An integrity failure: quarantine what arrived, with this reason."""

    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


#: Manifest fields the store relies on, with the type each must have (FORMAT.md).
TYPES: dict[str, type | tuple[type, ...]] = {
    "device_id": str, "recording_id": str, "file": str, "sha256": str, "start_utc": str,
    "end_utc": str, "segment_index": int, "size": int, "frame_count": int, "width": int,
    "height": int, "last": bool, "prev_manifest_sha256": (str, type(None)),
}


def _check_types(manifest: Manifest, file: str) -> None:
    """Manifest.from_bytes checks the fields' names; the store also needs their types."""
    for name, kind in TYPES.items():
        value = getattr(manifest, name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise Rejected(f"manifest of {file}: {name} is {value!r}, not of the right type")
    for name in ("segment_index", "size", "frame_count", "width", "height"):
        if not 0 <= getattr(manifest, name) <= MAX_INTEGER:  # the catalogue holds 64 bits
            raise Rejected(f"manifest of {file}: {name} is out of range 0..{MAX_INTEGER}")
    if not SHA256_HEX.fullmatch(manifest.sha256) or not (
            manifest.prev_manifest_sha256 is None
            or SHA256_HEX.fullmatch(manifest.prev_manifest_sha256)):
        raise Rejected(f"manifest of {file}: sha256 fields must be lowercase hex SHA-256")


class Ingest:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._touched: dict[str, float] = {}  # upload id -> when its progress was last written

    @contextlib.contextmanager
    def _lock(self, upload_id: str) -> Iterator[None]:
        """One upload's work, one at a time: this process's threads, then (the staging file's
        flock) every worker on this machine."""
        with self._locks_guard:
            lock = self._locks[upload_id]
        with lock, self.store.staging.lock(upload_id):
            yield

    # opening
    def open_segment(self, device_id: str, file: str, manifest_raw: bytes,
                     signature: bytes) -> UploadStatus:
        safe_name(file, "file")
        if not file.endswith(Layout.MP4):
            raise bad_request(f"file {file!r} is not a segment (NAME.mp4)")
        if len(manifest_raw) > MAX_MANIFEST_BYTES:
            raise too_large(f"manifest is {len(manifest_raw)} bytes; the limit is "
                            f"{MAX_MANIFEST_BYTES}")
        key = hashlib.sha256(manifest_raw).hexdigest()
        existing = self._upload_by_key(device_id, SEGMENT, key)
        if existing is not None:
            return self._resume(device_id, existing)
        try:
            manifest = self._check_manifest(device_id, file, manifest_raw, signature)
        except Rejected as exc:
            status = self._new_upload(device_id, SEGMENT, file, key, 0, "0" * 64, manifest_raw,
                                      signature)
            return self._quarantine(status.upload_id, exc)
        status = self._new_upload(device_id, SEGMENT, file, key, manifest.size, manifest.sha256,
                                  manifest_raw, signature)
        return self._maybe_finish(status)

    def open_audit_log(self, device_id: str, file: str, sha256: str, size: int) -> UploadStatus:
        safe_name(file, "file")
        if size > self.store.config.max_audit_log_bytes:
            raise too_large(f"audit log of {size} bytes is over the store's limit of "
                            f"{self.store.config.max_audit_log_bytes} (max_audit_log_bytes)")
        upload = self._upload_by_key(device_id, AUDIT_LOG, sha256)
        if upload is not None:
            return self._resume(device_id, upload)
        return self._maybe_finish(self._new_upload(device_id, AUDIT_LOG, file, sha256, size,
                                                   sha256, None, None))

    def _resume(self, device_id: str, status: UploadStatus) -> UploadStatus:
        """An upload opened again. If every byte had arrived when the store stopped (before
        it could verify them), verify now rather than ask for more."""
        if status.state == OPEN and status.received >= status.size:
            with self._lock(status.upload_id):
                return self._maybe_finish(self.status(device_id, status.upload_id))
        return status

    def _check_manifest(self, device_id: str, file: str, raw: bytes, signature: bytes,
                        ) -> Manifest:
        try:
            parse_json(raw, f"manifest of {file}")  # hostile JSON is refused before parsing
            manifest = Manifest.from_bytes(raw, f"manifest of {file}")
        except (ManifestError, ValueError) as exc:
            raise Rejected(str(exc)) from None
        _check_types(manifest, file)
        if manifest.size > self.store.config.max_segment_bytes:
            raise too_large(f"{file} is {manifest.size} bytes; the store accepts at most "
                            f"{self.store.config.max_segment_bytes} (max_segment_bytes)")
        key = self.store.device_key(device_id)
        if key is None or len(signature) != SIGNATURE_LENGTH or not verify_signature(
                key, signature, raw):
            raise Rejected(f"manifest signature of {file} does not verify with the enrolled key "
                           f"of {device_id}")
        if manifest.device_id != device_id:
            raise Rejected(f"manifest names device {manifest.device_id}, but {device_id} "
                           "signed it")
        if manifest.file != file:
            raise Rejected(f"manifest describes {manifest.file!r}, not {file!r}")
        try:
            safe_name(manifest.recording_id, "recording_id")
            parse_utc(manifest.start_utc), parse_utc(manifest.end_utc)
        except (StoreError, ValueError) as exc:
            raise Rejected(f"manifest of {file}: {exc}") from None
        if not file.startswith(manifest.recording_id + "-"):
            raise Rejected(f"file {file} is not named after recording {manifest.recording_id}")
        self._check_chain(manifest, hashlib.sha256(raw).hexdigest())
        return manifest

    def _check_chain(self, manifest: Manifest, manifest_sha: str) -> None:
        """Raise Rejected (quarantine) for a conflict or a broken chain, 409 if out of order."""
        cat = self.store.catalogue
        same = cat.one("SELECT manifest_sha256 FROM segments WHERE device_id = ? AND "
                       "recording_id = ? AND segment_index = ?", manifest.device_id,
                       manifest.recording_id, manifest.segment_index)
        name = f"{manifest.recording_id} segment {manifest.segment_index}"
        if same is not None and same["manifest_sha256"] != manifest_sha:
            raise Rejected(f"{name} conflicts with the stored segment of that index "
                           f"(manifest {same['manifest_sha256'][:16]}…)", 409)
        if manifest.segment_index == 0:
            if manifest.prev_manifest_sha256 is not None:
                raise Rejected(f"{name}: the first segment names a predecessor")
            return
        prev = cat.one("SELECT manifest_sha256, last FROM segments WHERE device_id = ? AND "
                       "recording_id = ? AND segment_index = ?", manifest.device_id,
                       manifest.recording_id, manifest.segment_index - 1)
        if prev is None:
            raise conflict(f"{name}: upload segment {manifest.segment_index - 1} of the "
                           "recording first (the chain is checked in order)")
        if prev["manifest_sha256"] != manifest.prev_manifest_sha256:
            raise Rejected(f"{name}: chain broken, prev_manifest_sha256 does not match the "
                           f"stored segment {manifest.segment_index - 1}")
        if prev["last"]:
            raise Rejected(f"{name}: segment {manifest.segment_index - 1} was the recording's "
                           "last")

    # chunks
    def status(self, device_id: str, upload_id: str) -> UploadStatus:
        status = self._upload(device_id, upload_id)
        if status.state == STORED:
            self._attach_receipt(device_id, status)
        return status

    def append(self, device_id: str, upload_id: str, start: int, total: int,
               data: bytes) -> UploadStatus:
        """Write one chunk at ``start`` (which must be what the store holds)."""
        with self._lock(upload_id):
            status = self.status(device_id, upload_id)
            if status.state != OPEN:
                return status
            if total != status.size:
                raise bad_request(f"Content-Range total {total} is not the declared size "
                                  f"{status.size} of {status.file}")
            if start != status.received:
                raise conflict(f"{status.file}: the store holds {status.received} bytes; send "
                               f"from offset {status.received}, not {start}",
                               received=status.received)
            if start + len(data) > status.size:
                raise bad_request(f"chunk ends at {start + len(data)}, past the declared size "
                                  f"{status.size} of {status.file}")
            self.store.staging.append(upload_id, start, data)
            status.received = start + len(data)
            self._touch(upload_id)
            return self._maybe_finish(status)

    def _touch(self, upload_id: str) -> None:
        """Record progress, which the staging sweep reads: at most once per 1% of
        ``staging_max_age_s`` per upload, not on every chunk (each is a write to the catalogue
        that every worker of the fleet shares)."""
        now = self.store.clock()
        if now - self._touched.get(upload_id, float("-inf")) < \
                self.store.config.staging_max_age_s / 100:
            return
        with self.store.catalogue.tx() as db:
            db.execute("UPDATE uploads SET touched_s = ? WHERE upload_id = ?", (now, upload_id))
        with self._locks_guard:
            if len(self._touched) > 10000:  # finished uploads' entries: forget them all
                self._touched.clear()
            self._touched[upload_id] = now

    def _maybe_finish(self, status: UploadStatus) -> UploadStatus:
        if status.state != OPEN or status.received < status.size:
            return status
        digest, size = self.store.staging.digest(status.upload_id)
        row = self.store.catalogue.one("SELECT * FROM uploads WHERE upload_id = ?",
                                       status.upload_id)
        try:
            if size != row["size"]:
                raise Rejected(f"{status.file}: {size} bytes arrived, {row['size']} declared")
            if digest != row["sha256"]:
                what = "the manifest" if status.kind == SEGMENT else "the declared sha256"
                raise Rejected(f"{status.file}: SHA-256 of the uploaded bytes does not match "
                               f"{what}")
            if status.kind == SEGMENT:
                return self._store_segment(status, row, digest)
            return self._store_audit_log(status, row, digest)
        except Rejected as exc:
            return self._quarantine(status.upload_id, exc)

    # storing
    def _store_segment(self, status: UploadStatus, row: Any, digest: str) -> UploadStatus:
        store = self.store
        manifest = Manifest.from_bytes(row["manifest"])
        manifest_sha = row["key"]
        received = store.clock()  # the store's time, which retention and the lock count from
        until = store.retain_until(received, manifest.device_id, manifest.recording_id)
        store.objects.put_bytes(manifest_sha, row["manifest"], until)
        store.objects.put_file(store.staging.path(status.upload_id), digest, until)
        receipt = Receipt(store_id=store.store_id, kind=SEGMENT, device_id=manifest.device_id,
                          file=manifest.file, sha256=digest, size=manifest.size,
                          received_utc=utc_iso(received), recording_id=manifest.recording_id,
                          segment_index=manifest.segment_index, manifest_sha256=manifest_sha)
        raw, sig = sign_receipt(store.private_key, receipt)
        start_s, end_s = parse_utc(manifest.start_utc), parse_utc(manifest.end_utc)
        try:  # the device's lock: its chain, and this upload's one outcome, on every worker
            with store.catalogue.tx(device_lock(row["device_id"]), object_lock(digest),
                                    object_lock(manifest_sha)) as db:
                if self._finished_elsewhere(status.upload_id):
                    return self.status(row["device_id"], status.upload_id)  # one receipt
                if not self._objects_kept(digest, until, manifest_sha, row["manifest"]):
                    return self.status(row["device_id"], status.upload_id)  # sent again
                self._check_chain(manifest, manifest_sha)  # again: another upload may have won
                db.execute(
                    "INSERT INTO segments (device_id, recording_id, segment_index, file, "
                    "sha256, size, manifest_sha256, signature, start_utc, end_utc, start_s, "
                    "end_s, frame_count, width, height, last, stored_utc, receipt, "
                    "receipt_signature) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (manifest.device_id, manifest.recording_id, manifest.segment_index,
                     manifest.file, digest, manifest.size, manifest_sha, row["signature"],
                     manifest.start_utc, manifest.end_utc, start_s, end_s,
                     manifest.frame_count, manifest.width, manifest.height, int(manifest.last),
                     receipt.received_utc, raw, sig))
                index_segment(store.catalogue, db, manifest)  # its track, for store find
                db.execute("INSERT INTO recordings (device_id, recording_id, start_s, "
                           "received_s) VALUES (?, ?, ?, ?) ON CONFLICT (device_id, "
                           "recording_id) DO UPDATE SET start_s = CASE WHEN excluded.start_s "
                           "< recordings.start_s THEN excluded.start_s ELSE recordings.start_s "
                           "END, received_s = CASE WHEN recordings.received_s IS NULL OR "
                           "excluded.received_s > recordings.received_s THEN "
                           "excluded.received_s ELSE recordings.received_s END",
                           (manifest.device_id, manifest.recording_id, start_s, received))
                if isinstance(manifest.officer, dict):  # who wore it, as the camera signed
                    db.execute("UPDATE recordings SET officer_id = ?, collar = ? WHERE "
                               "device_id = ? AND recording_id = ? AND officer_id IS NULL",
                               (manifest.officer["officer_id"], manifest.officer["collar"],
                                manifest.device_id, manifest.recording_id))
                db.execute("UPDATE recordings SET retain_until_s = ? WHERE device_id = ? AND "
                           "recording_id = ? AND category IS NOT NULL AND (retain_until_s IS "
                           "NULL OR retain_until_s < ?)",  # a categorised one: its new date
                           (until, manifest.device_id, manifest.recording_id, until))
                flagged = self.store.catalogue.one(
                    "SELECT case_ref FROM recordings WHERE device_id = ? AND recording_id = ?",
                    manifest.device_id, manifest.recording_id)["case_ref"]
                db.execute("UPDATE uploads SET state = ? WHERE upload_id = ?",
                           (STORED, status.upload_id))
                store.tlog.segment(  # logged before the commit (store/transparency.py)
                    device_id=manifest.device_id, recording_id=manifest.recording_id,
                    segment_index=manifest.segment_index, file=manifest.file, sha256=digest,
                    size=manifest.size, manifest_sha256=manifest_sha,
                    received_utc=receipt.received_utc)
        except Rejected as exc:
            return self._quarantine(status.upload_id, exc, content=(digest, manifest.size))
        if flagged is not None or store.held(manifest.device_id, manifest.recording_id):
            # a segment of a recording already held as evidence (flagged, or its category)
            for sha in (digest, manifest_sha):
                store.objects.set_legal_hold(sha, True)
        store.audit.append("segment_stored", device_id=manifest.device_id,
                           recording_id=manifest.recording_id,
                           segment_index=manifest.segment_index, file=manifest.file,
                           sha256=digest, size=manifest.size, manifest_sha256=manifest_sha,
                           **self._lock_fields(until, flagged))
        store.staging.remove_lock(status.upload_id)
        status.state, status.receipt, status.receipt_signature = STORED, raw, sig
        status.created = True
        status.transparency = store.tlog.receipt_proof(manifest_sha)
        return status

    def _store_audit_log(self, status: UploadStatus, row: Any, digest: str) -> UploadStatus:
        store = self.store
        received = store.clock()
        until = store.retain_until(received)
        store.objects.put_file(store.staging.path(status.upload_id), digest, until)
        receipt = Receipt(store_id=store.store_id, kind=AUDIT_LOG, device_id=row["device_id"],
                          file=row["file"], sha256=digest, size=row["size"],
                          received_utc=utc_iso(received))
        raw, sig = sign_receipt(store.private_key, receipt)
        with store.catalogue.tx(device_lock(row["device_id"]), object_lock(digest)) as db:
            if self._finished_elsewhere(status.upload_id):
                return self.status(row["device_id"], status.upload_id)  # one receipt
            if not self._objects_kept(digest, until):
                return self.status(row["device_id"], status.upload_id)  # sent again
            db.execute("INSERT OR IGNORE INTO audit_logs VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (row["device_id"], digest, row["file"], row["size"],
                        receipt.received_utc, raw, sig))
            db.execute("UPDATE uploads SET state = ? WHERE upload_id = ?",
                       (STORED, status.upload_id))
        store.audit.append("audit_log_stored", device_id=row["device_id"], file=row["file"],
                           sha256=digest, size=row["size"], **self._lock_fields(until, None))
        store.staging.remove_lock(status.upload_id)
        status.state, status.receipt, status.receipt_signature = STORED, raw, sig
        status.created = True
        return status

    def _quarantine(self, upload_id: str, exc: Rejected,
                    content: tuple[str, int] | None = None) -> UploadStatus:
        """Keep everything that arrived for this upload, with the reason; no receipt.

        ``content`` is (SHA-256, size) of bytes already moved into the object store; otherwise
        what is in staging is moved there now."""
        store = self.store
        row = store.catalogue.one("SELECT * FROM uploads WHERE upload_id = ?", upload_id)
        until = store.retain_until(store.clock())
        if content is None:
            digest, size = store.staging.digest(upload_id)
            if size:
                store.objects.put_file(store.staging.path(upload_id), digest, until)
            else:
                store.staging.remove(upload_id)
        else:
            digest, size = content
        # the object's lock as when storing: a purge of the same bytes (another recording's,
        # expired) either sees this row or has the camera send them again
        locks = (device_lock(row["device_id"]), *([object_lock(digest)] if size else []))
        with store.catalogue.tx(*locks) as db:
            if self._finished_elsewhere(upload_id):  # another worker settled it first
                return self._upload(row["device_id"], upload_id)
            if size and not self._objects_kept(digest, until):
                return self._upload(row["device_id"], upload_id)  # sent again
            db.execute("INSERT INTO quarantine (device_id, kind, file, reason, manifest, "
                       "signature, content_sha256, content_size, created_utc) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (row["device_id"], row["kind"], row["file"], exc.reason,
                        row["manifest"], row["signature"], digest if size else None, size,
                        store.now_utc()))
            db.execute("UPDATE uploads SET state = ?, reason = ? WHERE upload_id = ?",
                       (QUARANTINED, exc.reason, upload_id))
        store.audit.append("quarantined", device_id=row["device_id"], kind=row["kind"],
                           file=row["file"], reason=exc.reason,
                           content_sha256=digest if size else None, content_size=size)
        store.staging.remove_lock(upload_id)
        status = self._upload(row["device_id"], upload_id)
        if exc.status != 422:
            extra = {k: v for k, v in status.to_json().items() if k not in ("error", "status")}
            raise StoreError(exc.status, exc.reason, **extra)
        return status

    # catalogue helpers
    def _objects_kept(self, digest: str, until: float, manifest_sha: str | None = None,
                      manifest: bytes | None = None) -> bool:
        """Inside the storing transaction, holding the objects' locks: whether the objects
        ``put_file`` found already stored (the same bytes from another recording) are still
        there. Retention may have purged them since; a manifest is put again from the upload's
        row, while the content is gone with its staging file: False, and the upload stays open
        at 0 bytes, so the camera sends it again (it keeps its copy until the receipt)."""
        store = self.store
        for sha in (digest, manifest_sha):
            if sha is None or store.catalogue.one(  # never purged: put_file left it there
                    "SELECT 1 FROM segments WHERE deleted_utc IS NOT NULL AND (sha256 = ?1 OR "
                    "manifest_sha256 = ?1) LIMIT 1", sha) is None or store.objects.exists(sha):
                continue
            if sha == manifest_sha and manifest is not None:
                store.objects.put_bytes(sha, manifest, until)
                continue
            log.warning("store: object %s was purged while stored again; the upload is "
                        "sent again", sha)
            store.audit.append("object_purged_meanwhile", sha256=sha)
            return False
        return True

    def _finished_elsewhere(self, upload_id: str) -> bool:
        """Inside the storing transaction: whether another worker (another machine, resuming
        the same upload) stored or quarantined it first, so this one issues no second receipt."""
        row = self.store.catalogue.one("SELECT state FROM uploads WHERE upload_id = ?",
                                       upload_id)
        return row is None or row["state"] != OPEN

    def _lock_fields(self, until: float, flagged: str | None) -> dict[str, Any]:
        """What the audit entry says of the object lock, where the objects have one."""
        if not self.store.objects.locks:
            return {}
        return {"retain_until_utc": utc_iso(until), "legal_hold": flagged is not None}

    def _new_upload(self, device_id: str, kind: str, file: str, key: str, size: int,
                    sha256: str, manifest: bytes | None, signature: bytes | None,
                    ) -> UploadStatus:
        upload_id = secrets.token_hex(16)
        with self.store.catalogue.tx() as db:
            db.execute("INSERT OR IGNORE INTO uploads (upload_id, device_id, kind, file, key, "
                       "size, sha256, manifest, signature, state, created_utc, touched_s) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (upload_id, device_id, kind, file, key, size, sha256, manifest,
                        signature, OPEN, self.store.now_utc(), self.store.clock()))
        status = self._upload_by_key(device_id, kind, key)  # a concurrent open may have won
        assert status is not None
        return status

    def _from_row(self, row: Any) -> UploadStatus:
        received = (row["size"] if row["state"] == STORED
                    else self.store.staging.size(row["upload_id"]))
        return UploadStatus(row["upload_id"], row["kind"], row["file"], row["size"], received,
                            row["state"], row["reason"])

    def _upload(self, device_id: str, upload_id: str) -> UploadStatus:
        row = self.store.catalogue.one("SELECT * FROM uploads WHERE upload_id = ? AND "
                                       "device_id = ?", upload_id, device_id)
        if row is None:
            raise not_found(f"no upload {upload_id} from device {device_id}")
        return self._from_row(row)

    def _upload_by_key(self, device_id: str, kind: str, key: str) -> UploadStatus | None:
        row = self.store.catalogue.one("SELECT * FROM uploads WHERE device_id = ? AND kind = ? "
                                       "AND key = ?", device_id, kind, key)
        if row is None:
            return None
        status = self._from_row(row)
        if status.state == STORED:
            self._attach_receipt(device_id, status)
        return status

    def _attach_receipt(self, device_id: str, status: UploadStatus) -> None:
        row = self.store.catalogue.one(
            "SELECT receipt, receipt_signature FROM uploads u JOIN segments s ON "
            "s.device_id = u.device_id AND s.manifest_sha256 = u.key AND u.kind = ?2 "
            "WHERE u.upload_id = ?1 UNION ALL SELECT receipt, receipt_signature FROM uploads u "
            "JOIN audit_logs a ON a.device_id = u.device_id AND a.sha256 = u.key AND "
            "u.kind = ?3 WHERE u.upload_id = ?1", status.upload_id, SEGMENT, AUDIT_LOG)
        if row is not None:
            status.receipt, status.receipt_signature = row["receipt"], row["receipt_signature"]
            if status.kind == SEGMENT:
                key = Receipt.from_bytes(row["receipt"]).manifest_sha256
                status.transparency = key and self.store.tlog.receipt_proof(key)
