"""Who wears a camera: the assignment a store gives it at the dock (docs/STORE.md, "Officer
assignment"; docs/FORMAT.md, ``officer``).

The store signs one document per dock session with its key (the one the camera pins for
receipts), over :data:`SIGNING_PREFIX` and the document's bytes, naming the camera and the nonce
the camera sent: a document for another camera, or one replayed from an earlier dock, is
refused. ``officer_id`` null: the camera is unassigned. The ids' rules are here, so the store's
command line, its API and the camera check the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.identity import signed_document

SIGNING_PREFIX = b"bodycam-assignment-v1\n"
MAX_OFFICER_ID, MAX_COLLAR = 32, 16
OFFICER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
COLLAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,15}")
#: What a manifest's ``officer`` holds when nobody was assigned.
UNASSIGNED = "unassigned"
FIELDS = {"device_id", "store_id", "nonce", "officer_id", "collar", "assigned_utc", "utc"}


class AssignmentError(ValueError):
    """An assignment cannot be used; one line."""


def officer_problem(officer_id: object) -> str | None:
    """Why ``officer_id`` is not an officer id (None when it is)."""
    if not isinstance(officer_id, str) or not OFFICER_ID.fullmatch(officer_id):
        return (f"officer id {str(officer_id)[:40]!r} must be 1-{MAX_OFFICER_ID} letters, "
                "digits, dots, hyphens or underscores, starting with a letter or digit")
    return None


def collar_problem(collar: object) -> str | None:
    """Why ``collar`` is not a collar number (None when it is)."""
    if not isinstance(collar, str) or not COLLAR.fullmatch(collar):
        return (f"collar number {str(collar)[:40]!r} must be 1-{MAX_COLLAR} letters, digits or "
                "hyphens, starting with a letter or digit")
    return None


@dataclass(frozen=True)
class Assignment:
    """The officer a store assigned a camera to (None: unassigned)."""

    store_id: str
    officer_id: str | None
    collar: str | None
    assigned_utc: str | None

    def manifest_field(self) -> dict[str, Any] | str:
        """What the manifests recorded under it carry as ``officer``."""
        if self.officer_id is None:
            return UNASSIGNED
        return {"officer_id": self.officer_id, "collar": self.collar,
                "assigned_utc": self.assigned_utc, "store_id": self.store_id}


def check_fields(data: Any, where: str = "assignment") -> None:
    """AssignmentError unless ``data`` holds a valid officer id and collar, or both null."""
    if not isinstance(data, dict):
        raise AssignmentError(f"{where} is not a JSON object")
    officer, collar = data.get("officer_id"), data.get("collar")
    if officer is None and collar is None:
        return
    for problem in (officer_problem(officer), collar_problem(collar)):
        if problem:
            raise AssignmentError(f"{where}: {problem}")


def parse(raw: bytes, signature: bytes, store_key: Ed25519PublicKey, device_id: str,
          nonce: str, store_id: str) -> Assignment:
    """The store's assignment for this camera and this dock, if its pinned key signed it."""
    try:
        data = signed_document(raw, signature, store_key, SIGNING_PREFIX, "assignment")
    except ValueError as exc:
        raise AssignmentError(str(exc)) from None
    if not isinstance(data, dict) or set(data) != FIELDS:
        raise AssignmentError("assignment must be an object of exactly "
                              f"{', '.join(sorted(FIELDS))}")
    if data["device_id"] != device_id:
        raise AssignmentError(f"assignment is for device {str(data['device_id'])[:40]}, not "
                              f"this camera ({device_id})")
    if data["store_id"] != store_id:
        raise AssignmentError(f"assignment names store {str(data['store_id'])[:40]}, not the "
                              f"pinned {store_id}")
    if data["nonce"] != nonce:
        raise AssignmentError("assignment is not for this dock (its nonce differs: replayed?)")
    check_fields(data)
    assigned = data["assigned_utc"]
    if data["officer_id"] is not None and not isinstance(assigned, str):
        raise AssignmentError("assignment has no assigned_utc")
    return Assignment(store_id=store_id, officer_id=data["officer_id"], collar=data["collar"],
                      assigned_utc=assigned if data["officer_id"] is not None else None)
