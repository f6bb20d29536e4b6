"""The operator's side of the HTTP API: enrol, flag, unflag, list, retention, export.

Requests carry ``Authorization: Bearer TOKEN`` (the token ``bodycam store init`` printed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from device.evidence.store_client import StoreConnection
from device.fsutil import durable_rename


class OperatorClient:
    def __init__(self, connection: StoreConnection, token: str) -> None:
        self.connection = connection
        self.token = token

    def request(self, method: str, target: str, body: bytes = b"",
                stream_to: Path | None = None) -> Any:
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
