"""Retention: unflagged recordings are deleted ``retention_days`` after the store received them.

Age counts from what the store knows: its own clock when the recording's latest segment arrived
(``received_s``, the time in its receipt), never from the time a camera claims. A camera whose
clock was unset writes UTC times years in the past; counted from those, its footage would go at
the first pass after upload, when the camera has already deleted its copy. A recording flagged
as evidence is kept until it is unflagged. :meth:`Retention.step` does one pass at the time it
is given, so a test moves the clock instead of waiting, and ``bodycam store serve`` calls it
periodically.

Each deletion is written to the store's audit log (with every segment's hash) *before* any
object goes, then the catalogue marks the segments deleted, then the objects are removed; a
crash part-way leaves rows marked but not purged, which the next step finishes.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from store.clock import utc_iso

if TYPE_CHECKING:
    from store.service import Store

log = logging.getLogger("bodycam.store")


class Retention:
    def __init__(self, store: Store) -> None:
        self.store = store

    def step(self, now: float) -> list[dict[str, Any]]:
        """Delete what is due at ``now`` (UTC seconds); return one entry per recording deleted."""
        store = self.store
        cutoff = now - store.config.retention_s
        deleted = []
        with store.custody_lock:
            due = store.catalogue.all(
                "SELECT r.device_id, r.recording_id, r.start_s, r.received_s FROM recordings r "
                "WHERE r.case_ref IS NULL AND r.received_s IS NOT NULL AND r.received_s <= ? "
                "AND EXISTS (SELECT 1 FROM segments s WHERE s.device_id = r.device_id AND "
                "s.recording_id = r.recording_id AND s.deleted_utc IS NULL) "
                "ORDER BY r.received_s", cutoff)
            for rec in due:
                deleted.append(self._delete(rec["device_id"], rec["recording_id"],
                                            rec["start_s"], rec["received_s"], now))
        self.purge()
        return deleted

    def _delete(self, device_id: str, recording_id: str, start_s: float, received_s: float,
                now: float) -> dict[str, Any]:
        store = self.store
        segments = store.catalogue.all(
            "SELECT segment_index, file, sha256, manifest_sha256 FROM segments WHERE "
            "device_id = ? AND recording_id = ? AND deleted_utc IS NULL ORDER BY segment_index",
            device_id, recording_id)
        entry = store.audit.append(
            "retention_delete", device_id=device_id, recording_id=recording_id,
            recorded_utc=utc_iso(start_s), received_utc=utc_iso(received_s),
            retention_days=store.config.retention_days,
            segments=[{"segment_index": s["segment_index"], "file": s["file"],
                       "sha256": s["sha256"], "manifest_sha256": s["manifest_sha256"]}
                      for s in segments])
        with store.catalogue.tx() as db:
            db.executemany("UPDATE segments SET deleted_utc = ? WHERE device_id = ? AND "
                           "recording_id = ? AND segment_index = ?",
                           [(entry["utc"], device_id, recording_id, s["segment_index"])
                            for s in segments])
            db.execute("UPDATE recordings SET deleted_utc = ? WHERE device_id = ? AND "
                       "recording_id = ?", (entry["utc"], device_id, recording_id))
        return {"device_id": device_id, "recording_id": recording_id,
                "recorded_utc": utc_iso(start_s), "received_utc": utc_iso(received_s),
                "segments": len(segments),
                "deleted_utc": entry["utc"], "audit_seq": entry["seq"], "now": utc_iso(now)}

    def purge(self) -> int:
        """Remove the objects of segments marked deleted; returns how many segments finished."""
        store = self.store
        rows = store.catalogue.all(
            "SELECT device_id, recording_id, segment_index, sha256, manifest_sha256 FROM "
            "segments WHERE deleted_utc IS NOT NULL AND purged = 0")
        for row in rows:
            for sha in (row["sha256"], row["manifest_sha256"]):
                if not store.catalogue.object_referenced(sha):
                    store.objects.delete(sha)
            with store.catalogue.tx() as db:
                db.execute("UPDATE segments SET purged = 1 WHERE device_id = ? AND "
                           "recording_id = ? AND segment_index = ?",
                           (row["device_id"], row["recording_id"], row["segment_index"]))
        return len(rows)


def run_periodically(retention: Retention, interval_s: float, stop: threading.Event) -> None:
    """``store serve``'s retention thread: a step now, then every ``interval_s`` until ``stop``.
    A pass that fails is logged and the next one runs: retention must not stop for good."""
    while not stop.is_set():
        try:
            retention.step(retention.store.clock())
        except Exception:
            log.exception("store: retention pass failed; trying again in %.0f s", interval_s)
        stop.wait(interval_s)
