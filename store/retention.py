"""Retention: unflagged recordings are deleted when their category's retention has passed since
the store received them (``retention_days`` for an uncategorised one; store/categories.py).

Age counts from what the store knows: its own clock when the recording's latest segment arrived
(``received_s``, the time in its receipt), never from the time a camera claims. A camera whose
clock was unset writes UTC times years in the past; counted from those, its footage would go at
the first pass after upload, when the camera has already deleted its copy. A recording flagged
as evidence is kept until it is unflagged, and one in a holding category (``"evidence"``) until
its category changes; none goes before the latest retention date the store gave it.
:meth:`Retention.step` does one pass at the time it is given, so a test moves the clock instead
of waiting, and ``bodycam store serve`` calls it periodically.

Each deletion is written to the store's audit log (with every segment's hash) and to its
public transparency log (with the rule, the received time and the expiry) *before* any object
goes, then the catalogue marks the segments deleted, then the objects are removed; a
crash part-way leaves rows marked but not purged, which the next step finishes.

Several workers may run retention, flag and unflag at once: the decision (still unflagged, not
yet deleted) is taken again inside the transaction that marks the recording deleted, under the
device's catalogue lock (``device_lock``) that flagging takes too, so a flag on another worker
is either seen or refused. With Object Lock
the bucket is asked first: a recording any of whose objects it still protects (a retention date
not yet passed by the gateway's clock, or a legal hold) is not deleted, the refusal is audited
(``retention_refused``) and its catalogue rows are kept; a pass that finds a protected object at
purge time records ``purge_refused`` and leaves it for the next pass.

Each pass also sweeps staging (:meth:`Retention.sweep_staging`): an open upload with no
progress for ``staging_max_age_s`` loses its staged bytes (audited ``staging_removed``; the
camera still holds its copy and uploads it again from the start).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from store import categories
from store.catalogue import device_lock, object_lock
from store.clock import parse_utc, utc_iso
from store.objects_s3 import ObjectLockedError

if TYPE_CHECKING:
    from store.service import Store

log = logging.getLogger("bodycam.store")


class Retention:
    def __init__(self, store: Store) -> None:
        self.store = store

    def step(self, now: float) -> list[dict[str, Any]]:
        """Delete what is due at ``now`` (UTC seconds); return one entry per recording deleted."""
        store = self.store
        deleted = []
        with store.custody_lock:
            for rec in self._due(now):
                if self._refused(rec["device_id"], rec["recording_id"], now):
                    continue
                entry = self._delete(rec["device_id"], rec["recording_id"], now)
                if entry is not None:
                    deleted.append(entry)
        self.purge()
        self.sweep_staging(now)
        return deleted

    def _due(self, now: float) -> list[Any]:
        """Unflagged recordings with live segments whose date has come, oldest first: those
        received at least the shortest retention ago, then each by its own category."""
        store = self.store
        shortest = min([store.config.retention_days] + [
            float(d) for d in store.config.categories.values() if d is not None])
        rows = store.catalogue.all(
            "SELECT r.* FROM recordings r "
            "WHERE r.case_ref IS NULL AND r.received_s IS NOT NULL AND r.received_s <= ? "
            "AND EXISTS (SELECT 1 FROM segments s WHERE s.device_id = r.device_id AND "
            "s.recording_id = r.recording_id AND s.deleted_utc IS NULL) "
            "ORDER BY r.received_s", now - shortest * categories.DAY_S)
        due = []
        for row in rows:
            after = categories.delete_after(store, row)
            if after is not None and after <= now:
                due.append(row)
        return due

    def _objects(self, device_id: str, recording_id: str) -> list[str]:
        rows = self.store.catalogue.all(
            "SELECT sha256, manifest_sha256 FROM segments WHERE device_id = ? AND "
            "recording_id = ? AND deleted_utc IS NULL ORDER BY segment_index",
            device_id, recording_id)
        return list(dict.fromkeys(sha for r in rows for sha in (r["sha256"],
                                                                 r["manifest_sha256"])))

    def _refused(self, device_id: str, recording_id: str, now: float) -> bool:
        """Whether the object store would refuse to delete the recording now; if so the
        refusal is audited and the recording stays, rows and all."""
        store = self.store
        if not store.objects.locks:
            return False
        for sha in self._objects(device_id, recording_id):
            if store.catalogue.object_referenced_elsewhere(sha, device_id, recording_id):
                continue  # stays for the other row; the bucket's view of it does not matter
            reason = store.objects.delete_refusal(sha)
            if reason is not None:
                log.warning("store: retention of %s/%s refused by the bucket: object %s %s",
                            device_id, recording_id, sha, reason)
                store.audit.append("retention_refused", device_id=device_id,
                                   recording_id=recording_id, object_sha256=sha,
                                   reason=reason, now=utc_iso(now))
                return True
        return False

    def _delete(self, device_id: str, recording_id: str, now: float,
                ) -> dict[str, Any] | None:
        """Mark one recording deleted, audited, in one transaction that checks again that it is
        due, unflagged and not held by its category (another worker may have flagged,
        categorised or deleted it meanwhile)."""
        store = self.store
        with store.catalogue.tx(device_lock(device_id)) as db:  # the lock flag takes too
            rec = store._recording_row(device_id, recording_id)
            expires = None if rec is None else categories.delete_after(store, rec)
            if expires is None or expires > now:
                return None
            segments = store.catalogue.all(
                "SELECT segment_index, file, sha256, manifest_sha256 FROM segments WHERE "
                "device_id = ? AND recording_id = ? AND deleted_utc IS NULL ORDER BY "
                "segment_index", device_id, recording_id)
            if not segments:
                return None
            start_s, received_s, category = rec["start_s"], rec["received_s"], rec["category"]
            # the rule that allows it: the category's days, or (when a date given earlier is
            # later still) the days from receipt to that date
            days = categories.retention_days(store, category)
            assert days is not None
            if expires > received_s + days * categories.DAY_S:
                days = (parse_utc(utc_iso(expires)) - parse_utc(utc_iso(received_s))) \
                    / categories.DAY_S
            entry = store.audit.append(  # before the commit: no deletion goes unrecorded
                "retention_delete", device_id=device_id, recording_id=recording_id,
                recorded_utc=utc_iso(start_s), received_utc=utc_iso(received_s),
                retention_days=days, category=category,
                segments=[{"segment_index": s["segment_index"], "file": s["file"],
                           "sha256": s["sha256"], "manifest_sha256": s["manifest_sha256"]}
                          for s in segments])
            store.tlog.deletion(  # the public's record, with the rule and dates that allow it
                utc_iso(max(now, store.clock())), device_id, recording_id,  # (a long pass:
                # its leaves at their own time, not behind the segments logged meanwhile)
                retention_days=days, received_utc=utc_iso(received_s),
                expires_utc=utc_iso(received_s + days * categories.DAY_S),
                manifests=[s["manifest_sha256"] for s in segments], category=category,
                category_days=categories.retention_days(store, category))
            db.executemany("UPDATE segments SET deleted_utc = ? WHERE device_id = ? AND "
                           "recording_id = ? AND segment_index = ?",
                           [(entry["utc"], device_id, recording_id, s["segment_index"])
                            for s in segments])
            db.execute("UPDATE recordings SET deleted_utc = ? WHERE device_id = ? AND "
                       "recording_id = ?", (entry["utc"], device_id, recording_id))
        return {"device_id": device_id, "recording_id": recording_id,
                "recorded_utc": utc_iso(start_s), "received_utc": utc_iso(received_s),
                "segments": len(segments), "category": category,
                "deleted_utc": entry["utc"], "audit_seq": entry["seq"], "now": utc_iso(now)}

    def purge(self) -> int:
        """Remove the objects of segments marked deleted; returns how many segments finished.
        An object the bucket still protects stays, audited, and is tried again next pass."""
        store = self.store
        rows = store.catalogue.all(
            "SELECT device_id, recording_id, segment_index, sha256, manifest_sha256 FROM "
            "segments WHERE deleted_utc IS NOT NULL AND purged = 0")
        done = 0
        for row in rows:
            try:
                for sha in (row["sha256"], row["manifest_sha256"]):
                    # Under the object's lock: a worker storing the same bytes again (another
                    # camera, the same footage) either committed its row first, so the object
                    # stays, or finds it gone when it commits and has the camera send it again.
                    with store.catalogue.tx(object_lock(sha)):
                        if not store.catalogue.object_referenced(sha):
                            store.objects.delete(sha)
            except ObjectLockedError as exc:
                log.warning("store: %s", exc)
                store.audit.append("purge_refused", device_id=row["device_id"],
                                   recording_id=row["recording_id"],
                                   segment_index=row["segment_index"], reason=str(exc))
                continue
            with store.catalogue.tx() as db:
                db.execute("UPDATE segments SET purged = 1 WHERE device_id = ? AND "
                           "recording_id = ? AND segment_index = ?",
                           (row["device_id"], row["recording_id"], row["segment_index"]))
            done += 1
        return done

    def sweep_staging(self, now: float) -> list[dict[str, Any]]:
        """Remove staged bytes that made no progress for ``staging_max_age_s`` (store clock),
        and leftovers of uploads already settled; each removal is audited. An upload that is
        being written to right now (its lock held by a worker) is left alone."""
        store = self.store
        staging = store.staging
        names = staging.names()
        if not names:
            self._abort_incomplete(now)
            return []
        rows: dict[str, Any] = {}
        ordered = sorted(names)
        for i in range(0, len(ordered), 500):  # within every SQLite's parameter limit
            batch = ordered[i:i + 500]
            rows.update((r["upload_id"], r) for r in store.catalogue.all(
                "SELECT upload_id, device_id, file, state, created_utc, touched_s FROM uploads "
                "WHERE upload_id IN (" + ", ".join("?" * len(batch)) + ")", *batch))
        removed = []
        for upload_id in sorted(names):
            row = rows.get(upload_id)
            if row is not None and row["state"] == "open":
                touched = row["touched_s"]
                last = touched if touched is not None else parse_utc(row["created_utc"])
                if last > now - store.config.staging_max_age_s:
                    continue
            with staging.lock(upload_id, wait=False) as mine:
                if not mine:
                    continue
                size = staging.size(upload_id)
                if size or (staging.path(upload_id)).exists():
                    entry = {"upload_id": upload_id, "bytes": size,
                             "device_id": row["device_id"] if row else None,
                             "file": row["file"] if row else None,
                             "state": row["state"] if row else None}
                    store.audit.append("staging_removed", **entry,
                                       reason="no progress for staging_max_age_s"
                                       if row is not None and row["state"] == "open"
                                       else "the upload was already settled")
                    staging.remove(upload_id)
                    removed.append(entry)
                staging.remove_lock(upload_id)
        self._abort_incomplete(now)
        return removed

    def _abort_incomplete(self, now: float) -> None:
        """Multipart writes a crashed worker left in the bucket (gateway time, real clock)."""
        import time

        store = self.store
        if not store.objects.locks:
            return
        try:
            for key in store.objects.abort_incomplete(time.time()
                                                      - store.config.staging_max_age_s):
                store.audit.append("incomplete_object_aborted", key=key)
        except Exception:  # the sweep must not stop retention
            log.exception("store: aborting incomplete multipart uploads failed")


def run_periodically(retention: Retention, interval_s: float, stop: threading.Event) -> None:
    """``store serve``'s retention thread: a step now, then every ``interval_s`` until ``stop``.
    A pass that fails is logged and the next one runs: retention must not stop for good."""
    while not stop.is_set():
        try:
            retention.step(retention.store.clock())
        except Exception:
            log.exception("store: retention pass failed; trying again in %.0f s", interval_s)
        stop.wait(interval_s)
