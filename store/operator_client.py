"""The operator's side of the HTTP API: enrol, flag, unflag, list, retention, export; find,
subject-access requests and redaction.

Requests carry ``Authorization: Bearer TOKEN`` (the token ``bodycam store init`` printed). Before
the first one, the client asks ``GET /v1/info`` (public, no token) and sends the token only if
the answer is a bodycam store whose id its key makes, and, when a key is pinned, that key: a
panel, another service or another store on the address gets nothing secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.fsutil import durable_rename
from evidence.identity import IdentityError, public_key_from_pem, public_pem
from evidence.receipt import store_id_for
from evidence.store_client import StoreConnection, StoreHttpError


class NotTheStore(StoreHttpError):
    """The address does not answer as the (pinned) evidence store: no token was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class OperatorClient:
    def __init__(self, connection: StoreConnection, token: str,
                 pinned_key: Ed25519PublicKey | None = None) -> None:
        self.connection = connection
        self.token = token
        self.pinned_key = pinned_key
        self.store_id: str | None = None  # known once the store has been checked

    @property
    def url(self) -> str:
        c = self.connection
        return f"{c.scheme}://{c.host}" + (f":{c.port}" if c.port else "")

    def check_store(self) -> str:
        """The store's id, once ``/v1/info`` shows it is a bodycam store (the pinned one, if
        pinned); else :class:`NotTheStore`. Nothing secret is sent to ask."""
        if self.store_id is not None:
            return self.store_id
        not_a_store = f"{self.url} is not a bodycam evidence store"
        try:
            info = self.connection.info()
        except StoreHttpError as exc:
            if not exc.status:
                raise
            raise NotTheStore(f"{not_a_store} (GET /v1/info answered {exc.status}); is --url "
                              f"or $BODYCAM_STORE_URL right?") from None
        pem = info.get("store_public_key") if isinstance(info, dict) else None
        try:
            key = public_key_from_pem(pem.encode() if isinstance(pem, str) else b"")
        except IdentityError:
            raise NotTheStore(f"{not_a_store} (its /v1/info has no store key); is --url or "
                              f"$BODYCAM_STORE_URL right?") from None
        store_id = store_id_for(key)
        if info.get("api") != 1 or info.get("store_id") != store_id:
            raise NotTheStore(f"{not_a_store} (its /v1/info names store "
                              f"{str(info.get('store_id'))[:40]!r}, which its key does not "
                              f"make)")
        if self.pinned_key is not None and public_pem(key) != public_pem(self.pinned_key):
            raise NotTheStore(f"{self.url} is {store_id}, not the pinned store "
                              f"{store_id_for(self.pinned_key)} (--store-key or "
                              f"$BODYCAM_STORE_KEY); no token sent")
        self.store_id = store_id
        return store_id

    def request(self, method: str, target: str, body: bytes = b"",
                stream_to: Path | None = None) -> Any:
        self.check_store()
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.connection.request(method, target, body, headers, stream_to)[1]

    def _post_json(self, target: str, data: dict[str, Any]) -> Any:
        clean = {k: v for k, v in data.items() if v is not None}
        return self.request("POST", target, json.dumps(clean).encode())

    def enrol(self, pem: bytes, label: str = "") -> dict[str, Any]:
        return self.request("POST", "/v1/devices" + (f"?{urlencode({'label': label})}"
                                                     if label else ""), pem)

    def devices(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/devices")

    def flag(self, recording_id: str, case: str, device_id: str | None = None) -> dict[str, Any]:
        return self._post_json(f"/v1/recordings/{quote(recording_id, safe='')}/flag",
                               {"case": case, "device_id": device_id})

    def unflag(self, recording_id: str, device_id: str | None = None) -> dict[str, Any]:
        return self._post_json(f"/v1/recordings/{quote(recording_id, safe='')}/unflag",
                               {"device_id": device_id})

    def categorise(self, recording_id: str, category: str,
                   device_id: str | None = None) -> dict[str, Any]:
        return self._post_json(f"/v1/recordings/{quote(recording_id, safe='')}/category",
                               {"category": category, "device_id": device_id})

    def assign(self, device_id: str, officer_id: str | None, collar: str | None,
               clear: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"clear": True} if clear else {"officer_id": officer_id,
                                                                "collar": collar}
        return self.request("POST", f"/v1/devices/{quote(device_id, safe='')}/assignment",
                            json.dumps(body).encode())

    def recordings(self, device_id: str | None = None, since: str | None = None,
                   until: str | None = None) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("device", device_id), ("from", since), ("to", until)) if v}
        return self.request("GET", "/v1/recordings" + (f"?{urlencode(query)}" if query else ""))

    def quarantine(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/quarantine")

    def retention(self) -> dict[str, Any]:
        return self.request("POST", "/v1/retention", b"{}")

    def export(self, out: Path, recording_id: str | None = None, device_id: str | None = None,
               since: str | None = None, until: str | None = None) -> None:
        body = {"recording_id": recording_id, "device_id": device_id, "from": since, "to": until}
        clean = {k: v for k, v in body.items() if v is not None}
        part = out.with_name(out.name + ".part")
        self.request("POST", "/v1/exports", json.dumps(clean).encode(), stream_to=part)
        durable_rename(part, out)

    # the public's side (store/public_api.py)
    def find(self, near: str, radius: float | str, since: str, until: str,
             officer: str | None = None) -> list[dict[str, Any]]:
        query = {"near": near, "radius": str(radius), "from": since, "to": until}
        return self.request("GET", "/v1/find?" + urlencode(
            {**query, **({"officer": officer} if officer else {})}))

    def open_request(self, **fields: Any) -> dict[str, Any]:
        """``requester``, ``contact``, ``near`` ([lat, lon]), ``radius_m``, ``from``, ``to``."""
        return self._post_json("/v1/requests", fields)

    def subject_request(self, request_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/requests/{quote(request_id, safe='')}")

    def decide(self, request_id: str, recording_id: str, decision: str, reason: str,
               reviewer: str, device_id: str | None = None) -> dict[str, Any]:
        return self._post_json(f"/v1/requests/{quote(request_id, safe='')}/decisions",
                               {"recording_id": recording_id, "decision": decision,
                                "reason": reason, "reviewer": reviewer, "device_id": device_id})

    def close_request(self, request_id: str, note: str | None = None) -> dict[str, Any]:
        return self._post_json(f"/v1/requests/{quote(request_id, safe='')}/close",
                               {"note": note})

    def redaction(self, out: Path, recording_id: str, reviewer: str,
                  plan: dict[str, Any] | None = None, request_id: str | None = None,
                  device_id: str | None = None) -> None:
        """The store redacts a stored recording; the zip is written to ``out``."""
        body = {"recording_id": recording_id, "reviewer": reviewer, "plan": plan,
                "request_id": request_id, "device_id": device_id}
        part = out.with_name(out.name + ".part")
        self.request("POST", "/v1/redactions",
                     json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
                     stream_to=part)
        durable_rename(part, out)
