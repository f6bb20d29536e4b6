"""The store's custody events as transparency-log leaves, and the public side of the log.

One leaf per custody event (docs/STORE.md, "Transparency log"): a segment ingested, a flag set
or lifted, a category changed (with the retention it gives), an export made, a recording
deleted by retention with the rule and dates that allowed it. Leaves are canonical JSON
(:func:`store.tlog.canonical`); their meaning is in :mod:`evidence.transparency_audit`, which a
third party runs.

**Log first.** Each leaf is appended (fsynced) inside the catalogue transaction that makes the
change, before its commit. A crash in between leaves a leaf whose change never happened: the
camera got no receipt and uploads again (a second segment leaf, harmless), a flag or an unflag
is asked again, a deletion is done at the next pass (a second deletion leaf, its dates still
true). The other order (catalogue first, replay at start) could lose the leaf of a deletion that
did happen, which is exactly what the log is for; so nothing is ever replayed. The one leaf
that could mislead is a flag that never committed, followed later by the (honest) deletion of
the still-unflagged recording: so a deletion whose recording's last log word is a flag is
preceded, in the same write, by an unflag leaf marked ``reconciled``.

The log is a file in the store's directory (``tlog/``) on both backends: PostgreSQL and S3 hold
the catalogue and the objects; the log, like the audit log and the key, stays on the machine
whose workers share it (one writer at a time, under ``tlog/tlog.lock``).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.transparency_audit import LEAF_VERSION, MAX_LEAVES_PER_REQUEST
from store.errors import bad_request, not_found
from store.tlog import LogRangeError, TransparencyLog

#: Sizes and indexes beyond this are not sizes of any log (2^53: exact in JSON everywhere).
MAX_SIZE = (1 << 53) - 1


def origin_for(store_id: str) -> str:
    """The checkpoint's origin line, which is also the name of the key that signs it."""
    return f"bodycam.store/{store_id}"


class StoreLog:
    """The store's transparency log: leaves for custody events, proofs for anyone."""

    def __init__(self, directory: Path, store_id: str, key: Ed25519PrivateKey) -> None:
        self.log = TransparencyLog(directory, origin_for(store_id), key)

    # --- leaves ------------------------------------------------------------------------------

    def _append(self, kind: str, utc: str, **fields: Any) -> int:
        return self.log.append({"v": LEAF_VERSION, "kind": kind, "utc": utc, **fields})

    def segment(self, *, device_id: str, recording_id: str, segment_index: int, file: str,
                sha256: str, size: int, manifest_sha256: str, received_utc: str) -> int:
        return self._append("segment", received_utc, device_id=device_id,
                            recording_id=recording_id, segment_index=segment_index, file=file,
                            sha256=sha256, size=size, manifest_sha256=manifest_sha256)

    def flag(self, utc: str, device_id: str, recording_id: str, case_ref: str) -> int:
        """The case reference itself is not public: its SHA-256 lets a court match it."""
        return self._append("flag", utc, device_id=device_id, recording_id=recording_id,
                            case_ref_sha256=hashlib.sha256(case_ref.encode()).hexdigest())

    def unflag(self, utc: str, device_id: str, recording_id: str) -> int:
        return self._append("unflag", utc, device_id=device_id, recording_id=recording_id)

    def category(self, utc: str, device_id: str, recording_id: str, *, category: str,
                 previous: str | None, retention_days: float | None) -> int:
        """A recording's category changed; ``retention_days`` None: kept until it changes."""
        return self._append("category", utc, device_id=device_id, recording_id=recording_id,
                            category=category, previous_category=previous,
                            retention_days=retention_days)

    def export(self, utc: str, file: str, export_mp4_sha256: str,
               recordings: list[list[str]], manifests: list[str], redacted: bool = False,
               ) -> int:
        """An export zip, or (``redacted``) a redacted copy made from those segments."""
        return self._append("export", utc, file=file, export_mp4_sha256=export_mp4_sha256,
                            recordings=recordings, manifest_sha256s=manifests,
                            **({"redacted": True} if redacted else {}))

    def deletion(self, utc: str, device_id: str, recording_id: str, *, retention_days: float,
                 received_utc: str, expires_utc: str, manifests: list[str],
                 category: str | None = None, category_days: float | None = None) -> int:
        """The deletion of a recording the catalogue shows unflagged. If the log's last word on
        it is a flag (one whose transaction never committed: the log goes first), an unflag
        leaf marked ``reconciled`` goes before it, in the same write: the log then agrees with
        the catalogue, and an honest deletion is never taken for one of flagged footage. So
        does a category leaf (``category`` the catalogue's, with its ``category_days``) when
        the log's last category for it is another."""
        leaves: list[dict[str, Any]] = []
        base = {"v": LEAF_VERSION, "utc": utc, "device_id": device_id,
                "recording_id": recording_id}
        self.log.refresh()
        if self.log.flag_state(device_id, recording_id) == "flag":
            leaves.append({**base, "kind": "unflag", "reconciled": True})
        logged, last = self.log.category_state(device_id, recording_id)
        if logged and last != category:  # a category leaf whose change never committed
            leaves.append({**base, "kind": "category", "category": category,
                           "previous_category": last, "retention_days": category_days,
                           "reconciled": True})
        leaves.append({**base, "kind": "deletion", "rule": "retention_days",
                       "retention_days": retention_days, "received_utc": received_utc,
                       "expires_utc": expires_utc, "flagged": False,
                       "manifest_sha256s": manifests,
                       **({"category": category} if category is not None else {})})
        return self.log.append_many(leaves)

    # --- what the camera gets with a receipt -------------------------------------------------

    def receipt_proof(self, manifest_sha256: str) -> dict[str, Any] | None:
        """The segment's leaf, its index, the current signed checkpoint and the inclusion proof
        against it; None if the log holds no leaf for it (a segment stored before the log)."""
        log = self.log
        log.refresh()
        index = log.segment_leaf(manifest_sha256)
        if index is None:
            return None
        note = log.signed_checkpoint()
        size = int(note.split("\n")[1])
        return {"leaf_index": index, "tree_size": size,
                "leaf": base64.b64encode(log.leaves(index, index + 1)[0]).decode(),
                "checkpoint": note,
                "inclusion_proof": [base64.b64encode(h).decode()
                                    for h in log.inclusion_proof(index, size)]}

    # --- the public endpoints ----------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        self.log.refresh()
        note = self.log.signed_checkpoint()
        return {"checkpoint": note, "origin": self.log.origin,
                "tree_size": int(note.split("\n")[1])}

    def inclusion(self, query: dict[str, str]) -> dict[str, Any]:
        self.log.refresh()
        size = _number(query, "tree_size", self.log.size)
        if "manifest_sha256" in query:
            if "index" in query:
                raise bad_request("give index or manifest_sha256, not both")
            sha = query["manifest_sha256"]
            if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise bad_request("manifest_sha256 must be a lowercase hex SHA-256 (64 digits)")
            found = self.log.segment_leaf(sha)
            if found is None:
                raise not_found(f"no segment with manifest {sha[:16]}… in the log")
            index = found
        else:
            index = _number(query, "index", None)
        try:
            proof = self.log.inclusion_proof(index, size)
            leaf = self.log.leaves(index, index + 1)[0]
        except LogRangeError as exc:
            raise bad_request(str(exc)) from None
        return {"leaf_index": index, "tree_size": size,
                "leaf": base64.b64encode(leaf).decode(),
                "inclusion_proof": [base64.b64encode(h).decode() for h in proof]}

    def consistency(self, query: dict[str, str]) -> dict[str, Any]:
        self.log.refresh()
        first = _number(query, "first", None)
        second = _number(query, "second", self.log.size)
        try:
            proof = self.log.consistency_proof(first, second)
        except LogRangeError as exc:
            raise bad_request(str(exc)) from None
        return {"first": first, "second": second,
                "consistency_proof": [base64.b64encode(h).decode() for h in proof]}

    def leaves(self, query: dict[str, str]) -> dict[str, Any]:
        self.log.refresh()
        start = _number(query, "start", None)
        end = _number(query, "end", start + 1)
        if end - start > MAX_LEAVES_PER_REQUEST:
            raise bad_request(f"at most {MAX_LEAVES_PER_REQUEST} leaves per request "
                              f"(asked {start}..{end})")
        try:
            leaves = self.log.leaves(start, end)
        except LogRangeError as exc:
            raise bad_request(str(exc)) from None
        return {"start": start, "leaves": [base64.b64encode(leaf).decode() for leaf in leaves]}


def _number(query: dict[str, str], name: str, default: int | None) -> int:
    """A query parameter that is a size or an index: decimal digits, at most 2^53."""
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise bad_request(f"missing query parameter {name!r}")
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16 or int(raw) > MAX_SIZE:
        raise bad_request(f"{name} {raw[:24]!r} is not a whole number from 0 to {MAX_SIZE}")
    return int(raw)
