"""Subject-access requests: a member of the public asks to see footage of themselves.

A request records who asks, how to reach them, the time window and the place (a point and a
radius); opening it runs the location search (:mod:`store.search`), and the recordings found
are its candidates. The reviewer decides, recording by recording, whether it shows the
requester (with a reason); the outcome of a recording that does is a redacted copy made by the
store's redaction (``POST /v1/redactions`` with the request's id), and the request is closed
with its outcome once every kept candidate has a decision. Each step is an entry in the store's
audit log (``request_opened``, ``request_decision``, ``request_redaction``, ``request_closed``).

Footage past its retention is gone, and the request says so with proof: for each candidate the
retention deleted, the transparency log's deletion leaf with its inclusion proof against the
current signed checkpoint, which anyone checks with the store's public key
(:mod:`evidence.transparency`). A window that ended more than the retention period ago is
answered "footage gone" even when nothing matched (the index keeps the positions of deleted
recordings, so a match that was deleted is shown and proven).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any

from evidence.transparency_audit import MAX_LEAF_STEP_BACK_S
from evidence.utc import utc_seconds
from store.clock import utc_iso
from store.errors import bad_request, conflict, not_found
from store.search import Query, find, make_query, with_state
from store.validate import safe_name

OPEN, CLOSED = "open", "closed"
SHOWS, NOT_SHOWN = "shows", "not_shown"
MAX_TEXT = 200
MAX_REQUESTS_LISTED = 10_000
REQUEST_ID = "SAR-"
REQUEST_ID_FORM = re.compile(r"SAR-[0-9a-f]{12}")

TABLES = [
    "CREATE TABLE IF NOT EXISTS subject_requests (request_id TEXT PRIMARY KEY, opened_utc TEXT "
    "NOT NULL, requester TEXT NOT NULL, contact TEXT NOT NULL, description TEXT NOT NULL, "
    "lat REAL NOT NULL, lon REAL NOT NULL, radius_m REAL NOT NULL, from_s REAL NOT NULL, "
    "to_s REAL NOT NULL, state TEXT NOT NULL, outcome TEXT, closed_utc TEXT)",
    "CREATE TABLE IF NOT EXISTS subject_request_items (request_id TEXT NOT NULL, device_id "
    "TEXT NOT NULL, recording_id TEXT NOT NULL, nearest_utc TEXT NOT NULL, distance_m REAL NOT "
    "NULL, deleted_utc TEXT, decision TEXT, reason TEXT, reviewer TEXT, decided_utc TEXT, "
    "redacted_sha256 TEXT, PRIMARY KEY (request_id, device_id, recording_id))",
]


def text(value: Any, name: str, required: bool = True, limit: int = MAX_TEXT) -> str:
    """A person's words for the record: printable, one line, bounded."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (not value.strip() and required):
        raise bad_request(f"{name} is required (1-{limit} printable characters)")
    value = value.strip()
    if len(value) > limit or not value.isprintable():
        raise bad_request(f"{name} must be at most {limit} printable characters on one line")
    return value


def _request_id(value: Any) -> str:
    if not isinstance(value, str) or not REQUEST_ID_FORM.fullmatch(value):
        raise bad_request(f"request id {str(value)[:40]!r} is not one this store gives "
                          "(SAR- and 12 hex digits)")
    return value


_LEAF_TIME = re.compile(rb'[{,]"utc":"([^"]{1,40})"')


def _leaf_time(leaf: bytes) -> float:
    """A leaf's ``utc`` as seconds (-inf if it has none readable: bisection goes past it)."""
    match = _LEAF_TIME.search(leaf)
    try:
        return utc_seconds(match.group(1).decode()) if match else float("-inf")
    except ValueError:
        return float("-inf")


class Requests:
    """The store's subject-access requests (``store.requests`` is built per call: it holds
    no state of its own beyond the catalogue)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def open(self, requester: Any, contact: Any, near: tuple[Any, Any], radius: Any,
             since: Any, until: Any, description: Any = None) -> dict[str, Any]:
        from store.search import backfill

        store = self.store
        person, reach = text(requester, "requester"), text(contact, "contact")
        about = text(description, "description", required=False, limit=1000)
        q = make_query(near[0], near[1], radius, since, until)
        backfill(store)
        matches = with_state(store, find(store.catalogue, q))
        request_id = REQUEST_ID + secrets.token_hex(6)
        now = store.now_utc()
        with store.catalogue.tx() as db:
            db.execute("INSERT INTO subject_requests (request_id, opened_utc, requester, "
                       "contact, description, lat, lon, radius_m, from_s, to_s, state) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (request_id, now, person, reach, about, q.lat, q.lon, q.radius_m,
                        q.t_from, q.t_to, OPEN))
            db.executemany("INSERT INTO subject_request_items (request_id, device_id, "
                           "recording_id, nearest_utc, distance_m, deleted_utc) VALUES "
                           "(?, ?, ?, ?, ?, ?)",
                           [(request_id, m["device_id"], m["recording_id"], m["nearest_utc"],
                             m["distance_m"], m["deleted_utc"]) for m in matches])
        store.audit.append("request_opened", request_id=request_id, requester=person,
                           contact=reach, near=[q.lat, q.lon], radius_m=q.radius_m,
                           from_utc=utc_iso(q.t_from), to_utc=utc_iso(q.t_to),
                           candidates=[[m["device_id"], m["recording_id"]] for m in matches])
        return self.show(request_id)

    def _row(self, request_id: Any) -> Any:
        row = self.store.catalogue.one("SELECT * FROM subject_requests WHERE request_id = ?",
                                       _request_id(request_id))
        if row is None:
            raise not_found(f"no request {request_id} in this store")
        return row

    def list(self) -> list[dict[str, Any]]:
        rows = self.store.catalogue.all("SELECT * FROM subject_requests ORDER BY opened_utc, "
                                        "request_id LIMIT ?", MAX_REQUESTS_LISTED)
        return [self._summary(r) for r in rows]

    def _summary(self, row: Any) -> dict[str, Any]:
        items = self.store.catalogue.all("SELECT decision, deleted_utc FROM "
                                         "subject_request_items WHERE request_id = ?",
                                         row["request_id"])
        return {"request_id": row["request_id"], "opened_utc": row["opened_utc"],
                "requester": row["requester"], "state": row["state"],
                "from_utc": utc_iso(row["from_s"]), "to_utc": utc_iso(row["to_s"]),
                "candidates": len(items),
                "undecided": sum(1 for i in items if i["decision"] is None
                                 and i["deleted_utc"] is None),
                "deleted": sum(1 for i in items if i["deleted_utc"] is not None)}

    def show(self, request_id: Any) -> dict[str, Any]:
        """The whole record: the request, each candidate with its decision, and for what
        retention deleted, the proof (a deletion leaf and its inclusion proof)."""
        store = self.store
        row = self._row(request_id)
        items = store.catalogue.all("SELECT * FROM subject_request_items WHERE request_id = ? "
                                    "ORDER BY nearest_utc, device_id, recording_id",
                                    row["request_id"])
        candidates = []
        for item in items:
            rec = store.catalogue.one("SELECT deleted_utc FROM recordings WHERE device_id = ? "
                                      "AND recording_id = ?", item["device_id"],
                                      item["recording_id"])
            deleted = (rec["deleted_utc"] if rec is not None else None) or item["deleted_utc"]
            entry = {k: item[k] for k in ("device_id", "recording_id", "nearest_utc",
                                          "distance_m", "decision", "reason", "reviewer",
                                          "decided_utc", "redacted_sha256")}
            entry["deleted_utc"] = deleted
            if deleted:
                entry["deletion_proof"] = self.deletion_proof(item["device_id"],
                                                              item["recording_id"])
            candidates.append(entry)
        retention_end = store.clock() - store.config.retention_s
        gone = row["to_s"] < retention_end
        out = {"request_id": row["request_id"], "opened_utc": row["opened_utc"],
               "requester": row["requester"], "contact": row["contact"],
               "description": row["description"], "near": [row["lat"], row["lon"]],
               "radius_m": row["radius_m"], "from_utc": utc_iso(row["from_s"]),
               "to_utc": utc_iso(row["to_s"]), "state": row["state"],
               "closed_utc": row["closed_utc"],
               "outcome": json.loads(row["outcome"]) if row["outcome"] else None,
               "candidates": candidates}
        kept = [c for c in candidates if not c["deleted_utc"]]
        deleted = len(candidates) - len(kept)
        if not kept and (gone or deleted):  # a recording kept longer (evidence) says otherwise
            out["footage_gone"] = (
                (f"the window ended before {utc_iso(retention_end)}, more than the store's "
                 f"{store.config.retention_days:g}-day retention ago, and no footage of it is "
                 "kept" if gone else "every recording that matched was deleted by retention")
                + (f"; {deleted} matching recording(s) deleted, each with its deletion leaf's "
                   "inclusion proof" if deleted else "; no recording matched"))
        return out

    def deletion_proof(self, device_id: str, recording_id: str) -> dict[str, Any] | None:
        """The recording's deletion leaf in the transparency log, with its inclusion proof
        against the current signed checkpoint; None if the log holds none (deleted before it
        existed). Leaves are in time order (within ``MAX_LEAF_STEP_BACK_S``, which
        ``transparency verify`` holds the store to), so the search starts at the first leaf
        after the recording was received, found by bisection, not at the log's beginning."""
        log = self.store.tlog.log
        log.refresh()
        size = log.size
        row = self.store.catalogue.one("SELECT received_s FROM recordings WHERE device_id = ? "
                                       "AND recording_id = ?", device_id, recording_id)
        since = (row["received_s"] if row is not None and row["received_s"] is not None
                 else float("-inf")) - MAX_LEAF_STEP_BACK_S
        low, high = 0, size
        while low < high:  # the first leaf at or after ``since``
            middle = (low + high) // 2
            if _leaf_time(log.leaves(middle, middle + 1)[0]) < since:
                low = middle + 1
            else:
                high = middle
        needle = [f'"device_id":{json.dumps(device_id)}'.encode(),
                  f'"recording_id":{json.dumps(recording_id)}'.encode(), b'"kind":"deletion"']
        found = None
        step = 4096
        for start in range(max(0, low - 1), size, step):
            leaves = log.leaves(start, min(size, start + step))
            found = next((start + i for i, leaf in enumerate(leaves)
                          if all(n in leaf for n in needle)), None)
            if found is not None:
                break
        if found is None:
            return None
        note = log.signed_checkpoint()
        tree = int(note.split("\n")[1])
        return {"leaf_index": found, "tree_size": tree,
                "leaf": base64.b64encode(log.leaves(found, found + 1)[0]).decode(),
                "checkpoint": note,
                "inclusion_proof": [base64.b64encode(h).decode()
                                    for h in log.inclusion_proof(found, tree)]}

    def decide(self, request_id: Any, recording_id: Any, decision: Any, reason: Any,
               reviewer: Any, device_id: Any = None) -> dict[str, Any]:
        store = self.store
        row = self._row(request_id)
        if decision not in (SHOWS, NOT_SHOWN):
            raise bad_request(f"decision {str(decision)[:40]!r} is not {SHOWS!r} or "
                              f"{NOT_SHOWN!r}")
        why, who = text(reason, "reason"), text(reviewer, "reviewer")
        item = self._item(row, recording_id, device_id)
        if row["state"] != OPEN:
            raise conflict(f"request {row['request_id']} is closed")
        if item["deleted_utc"] or self._deleted(item):
            raise conflict(f"recording {item['recording_id']} was deleted by retention; there "
                           "is nothing to decide")
        now = store.now_utc()
        with store.catalogue.tx() as db:
            db.execute("UPDATE subject_request_items SET decision = ?, reason = ?, reviewer = ?, "
                       "decided_utc = ? WHERE request_id = ? AND device_id = ? AND "
                       "recording_id = ?", (decision, why, who, now, row["request_id"],
                                            item["device_id"], item["recording_id"]))
        store.audit.append("request_decision", request_id=row["request_id"],
                           device_id=item["device_id"], recording_id=item["recording_id"],
                           decision=decision, reason=why, reviewer=who,
                           previous=item["decision"])
        return self.show(row["request_id"])

    def _deleted(self, item: Any) -> bool:
        rec = self.store.catalogue.one("SELECT deleted_utc FROM recordings WHERE device_id = ? "
                                       "AND recording_id = ?", item["device_id"],
                                       item["recording_id"])
        return rec is None or rec["deleted_utc"] is not None

    def _item(self, row: Any, recording_id: Any, device_id: Any) -> Any:
        safe_name(recording_id, "recording_id")
        if device_id is not None:
            safe_name(device_id, "device_id")
        items = self.store.catalogue.all(
            "SELECT * FROM subject_request_items WHERE request_id = ?1 AND recording_id = ?2 "
            "AND (?3 IS NULL OR device_id = ?3)", row["request_id"], recording_id, device_id)
        if not items:
            raise not_found(f"recording {recording_id} is not a candidate of request "
                            f"{row['request_id']}")
        if len(items) > 1:
            raise conflict(f"recording id {recording_id} is a candidate from several devices: "
                           "name the device")
        return items[0]

    def redacted(self, request_id: Any, recording_id: str, device_id: str,
                 derivation: dict[str, Any]) -> None:
        """A redacted copy was made for the request: its outcome for that recording."""
        row = self._row(request_id)
        item = self._item(row, recording_id, device_id)
        if item["decision"] != SHOWS:
            raise conflict(f"recording {recording_id} is not decided as showing the requester "
                           f"(decide {SHOWS} first)")
        sha = derivation["output"]["sha256"]
        with self.store.catalogue.tx() as db:
            db.execute("UPDATE subject_request_items SET redacted_sha256 = ? WHERE request_id = ? "
                       "AND device_id = ? AND recording_id = ?",
                       (sha, row["request_id"], item["device_id"], item["recording_id"]))
        self.store.audit.append("request_redaction", request_id=row["request_id"],
                                device_id=item["device_id"], recording_id=item["recording_id"],
                                redacted_mp4_sha256=sha, reviewer=derivation.get("reviewer"))

    def check_redaction(self, request_id: Any, recording_id: str, device_id: str | None) -> None:
        """Before the (slow) redaction runs: the request is open and the recording decided."""
        row = self._row(request_id)
        if row["state"] != OPEN:
            raise conflict(f"request {row['request_id']} is closed")
        item = self._item(row, recording_id, device_id)
        if item["decision"] != SHOWS:
            raise conflict(f"recording {recording_id} is not decided as showing the requester "
                           f"(decide {SHOWS} first)")

    def close(self, request_id: Any, note: Any = None) -> dict[str, Any]:
        """Close with the outcome: what was shown (redacted copies), what not and why, what
        was gone. Every candidate still kept must have a decision first."""
        store = self.store
        row = self._row(request_id)
        if row["state"] != OPEN:
            raise conflict(f"request {row['request_id']} is already closed")
        summary = text(note, "note", required=False, limit=1000)
        record = self.show(row["request_id"])
        undecided = [c["recording_id"] for c in record["candidates"]
                     if c["decision"] is None and not c["deleted_utc"]]
        if undecided:
            raise conflict(f"recording {undecided[0]} of request {row['request_id']} has no "
                           f"decision ({len(undecided)} undecided)")
        outcome = {"shown": [[c["device_id"], c["recording_id"], c["redacted_sha256"]]
                             for c in record["candidates"] if c["decision"] == SHOWS
                             and not c["deleted_utc"]],
                   "not_shown": [[c["device_id"], c["recording_id"], c["reason"]]
                                 for c in record["candidates"] if c["decision"] == NOT_SHOWN
                                 and not c["deleted_utc"]],
                   "deleted": [[c["device_id"], c["recording_id"], c["deleted_utc"]]
                               for c in record["candidates"] if c["deleted_utc"]],
                   "footage_gone": "footage_gone" in record, "note": summary}
        now = store.now_utc()
        with store.catalogue.tx() as db:
            db.execute("UPDATE subject_requests SET state = ?, outcome = ?, closed_utc = ? WHERE "
                       "request_id = ? AND state = ?",
                       (CLOSED, json.dumps(outcome, sort_keys=True), now, row["request_id"],
                        OPEN))
        store.audit.append("request_closed", request_id=row["request_id"], outcome=outcome)
        return self.show(row["request_id"])


__all__ = ["Query", "Requests"]
