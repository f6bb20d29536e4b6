"""Who wears each camera on its next shift: the store's side of the assignment (docs/STORE.md,
"Officer assignment").

An operator assigns an enrolled camera to an officer (``bodycam store assign DEVICE --officer ID
--collar NUMBER``, ``--clear``; ``POST /v1/devices/ID/assignment``); every change goes to the
store's audit log. At the dock the camera asks for it with a nonce, and gets a document signed
by the store key naming itself and that nonce (:mod:`evidence.assignment`), which it applies to
the recordings it makes after leaving the dock.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from evidence import assignment as contract
from store.errors import bad_request, not_found

if TYPE_CHECKING:
    from store.service import Store


def _enrolled(store: Store, device_id: str) -> None:
    if store.catalogue.one("SELECT 1 FROM devices WHERE device_id = ?", device_id) is None:
        raise not_found(f"no enrolled device {device_id} in this store")


def current(store: Store, device_id: str) -> dict[str, Any]:
    """The device's assignment as the API shows it (``officer_id`` null: unassigned)."""
    row = store.catalogue.one("SELECT * FROM assignments WHERE device_id = ?", device_id)
    if row is None:
        return {"device_id": device_id, "officer_id": None, "collar": None,
                "assigned_utc": None}
    return {k: row[k] for k in ("device_id", "officer_id", "collar", "assigned_utc")}


def assign(store: Store, device_id: str, officer_id: object, collar: object) -> dict[str, Any]:
    """Assign the camera to an officer (replacing any earlier assignment); audited."""
    for problem in (contract.officer_problem(officer_id), contract.collar_problem(collar)):
        if problem:
            raise bad_request(problem)
    _enrolled(store, device_id)
    with store.catalogue.tx() as db:
        before = current(store, device_id)
        if (before["officer_id"], before["collar"]) == (officer_id, collar):
            return {**before, "changed": False}
        now = store.now_utc()
        db.execute("INSERT INTO assignments (device_id, officer_id, collar, assigned_utc) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET officer_id = "
                   "excluded.officer_id, collar = excluded.collar, assigned_utc = "
                   "excluded.assigned_utc", (device_id, officer_id, collar, now))
        store.audit.append("assign", device_id=device_id, officer_id=officer_id, collar=collar,
                           previous_officer_id=before["officer_id"],
                           previous_collar=before["collar"])
    return {**current(store, device_id), "changed": True}


def clear(store: Store, device_id: str) -> dict[str, Any]:
    """The camera is unassigned from its next dock on; audited (nothing to clear: unchanged)."""
    _enrolled(store, device_id)
    with store.catalogue.tx() as db:
        before = current(store, device_id)
        if before["officer_id"] is None:
            return {**before, "changed": False}
        db.execute("DELETE FROM assignments WHERE device_id = ?", (device_id,))
        store.audit.append("assign_clear", device_id=device_id,
                           previous_officer_id=before["officer_id"],
                           previous_collar=before["collar"])
    return {**current(store, device_id), "changed": True}


def signed(store: Store, device_id: str, nonce: str) -> dict[str, str]:
    """What a docked camera gets: its assignment for this dock, signed by the store key."""
    now = current(store, device_id)
    document = {"device_id": device_id, "store_id": store.store_id, "nonce": nonce,
                "officer_id": now["officer_id"], "collar": now["collar"],
                "assigned_utc": now["assigned_utc"], "utc": store.now_utc()}
    raw = (json.dumps(document, sort_keys=True) + "\n").encode()
    signature = store.private_key.sign(contract.SIGNING_PREFIX + raw)
    return {"assignment": base64.b64encode(raw).decode(),
            "assignment_signature": base64.b64encode(signature).decode()}
