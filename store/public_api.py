"""The operator API's routes for the public's side (docs/STORE.md): the location search, the
subject-access requests and the redaction of a stored recording.

Kept out of :mod:`store.http` so that module only adds them to its table: each handler takes
the store and the request (``query``, ``params``, ``body``) and returns ``(status, body)`` or
``(status, None, zip file)``; all are operator routes (the token), and every bad input is a 400
naming what was wrong.
"""

from __future__ import annotations

import re
import secrets
import shutil
import zipfile
from pathlib import Path
from typing import Any

from evidence.fsutil import private_dir
from store.errors import StoreError, bad_request
from store.requests import Requests
from store.search import backfill, find, make_query, parse_near, with_state
from store.validate import json_object, safe_name

MAX_JSON_BODY = 256 * 1024
REQUEST = r"(?P<request_id>SAR-[0-9a-f]{12})"


def _query(req: Any, allowed: set[str], required: set[str]) -> dict[str, str]:
    unknown = sorted(set(req.query) - allowed)
    if unknown:
        raise bad_request(f"unknown query parameter {unknown[0][:40]!r} (allowed: "
                          f"{', '.join(sorted(allowed))})")
    missing = sorted(required - set(req.query))
    if missing:
        raise bad_request(f"missing query parameter {missing[0]!r}")
    return req.query


def search(store: Any, req: Any) -> tuple[int, Any]:
    """``GET /v1/find?near=LAT,LON&radius=M&from=UTC&to=UTC[&officer=ID]``."""
    q = _query(req, {"near", "radius", "from", "to", "officer"},
               {"near", "radius", "from", "to"})
    lat, lon = parse_near(q["near"])
    query = make_query(lat, lon, q["radius"], q["from"], q["to"], q.get("officer"))
    backfill(store)
    return 200, with_state(store, find(store.catalogue, query))


def _body(req: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    return json_object(req.body or b"{}", allowed, required)


def request_open(store: Any, req: Any) -> tuple[int, Any]:
    data = _body(req, {"requester", "contact", "near", "radius_m", "from", "to",
                       "description"}, {"requester", "contact", "near", "radius_m", "from", "to"})
    near = data["near"]
    if isinstance(near, str):
        near = parse_near(near)
    elif not (isinstance(near, list) and len(near) == 2):
        raise bad_request("near must be [LAT, LON] or \"LAT,LON\"")
    return 201, Requests(store).open(data["requester"], data["contact"], (near[0], near[1]),
                                     data["radius_m"], data["from"], data["to"],
                                     data.get("description"))


def request_list(store: Any, req: Any) -> tuple[int, Any]:
    _query(req, set(), set())
    return 200, Requests(store).list()


def request_show(store: Any, req: Any) -> tuple[int, Any]:
    _query(req, set(), set())
    return 200, Requests(store).show(req.params["request_id"])


def request_decide(store: Any, req: Any) -> tuple[int, Any]:
    data = _body(req, {"recording_id", "device_id", "decision", "reason", "reviewer"},
                 {"recording_id", "decision", "reason", "reviewer"})
    return 200, Requests(store).decide(req.params["request_id"], data["recording_id"],
                                       data["decision"], data["reason"], data["reviewer"],
                                       data.get("device_id"))


def request_close(store: Any, req: Any) -> tuple[int, Any]:
    data = _body(req, {"note"}, set())
    return 200, Requests(store).close(req.params["request_id"], data.get("note"))


def redaction(store: Any, req: Any) -> tuple[int, Any, Path]:
    """``POST /v1/redactions``: a stored recording redacted by the store (faces blurred,
    sound silenced as the plan says), answered as a zip of redacted.mp4, derivation.json, its
    signature and the store key. With ``request_id``, the copy is that request's outcome for
    the recording (which must be decided as showing the requester)."""
    from store.redaction import RedactionError
    from store.redaction.plan import build_plan
    from store.redaction.run import redact_in_store

    data = _body(req, {"recording_id", "device_id", "plan", "reviewer", "request_id"},
                 {"recording_id", "reviewer"})
    recording_id = safe_name(data["recording_id"], "recording_id")
    device_id = safe_name(data["device_id"], "device_id") if data.get("device_id") else None
    plan_data = data.get("plan", {})
    if not isinstance(plan_data, dict):
        raise bad_request("plan must be a JSON object (reviewer, auto, boxes, silence)")
    requests = Requests(store)
    request_id = data.get("request_id")
    try:
        plan = build_plan(plan_data, data["reviewer"])
    except RedactionError as exc:
        raise bad_request(str(exc)) from None
    device_id, recording_id = store.find_recording(recording_id, device_id)
    if request_id is not None:
        requests.check_redaction(request_id, recording_id, device_id)
    private_dir(store.exports_dir)
    name = f"redaction-{secrets.token_hex(8)}"
    out_dir = store.exports_dir / name
    try:
        derivation = redact_in_store(store, None, recording_id, device_id, plan, out_dir)
    except RedactionError as exc:  # the recording cannot be redacted as asked
        shutil.rmtree(out_dir, ignore_errors=True)
        raise StoreError(422, str(exc)) from None
    zip_path = store.exports_dir / f"{name}.zip"
    try:
        if request_id is not None:  # decided again meanwhile: refused, nothing left behind
            requests.redacted(request_id, recording_id, device_id, derivation)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
            for part in sorted(out_dir.iterdir()):
                zf.write(part, part.name)
    except BaseException:
        zip_path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return 200, None, zip_path


ROUTES: list[tuple[str, re.Pattern[str], str, Any, int]] = [
    ("GET", re.compile(r"/v1/find"), "operator", search, 0),
    ("POST", re.compile(r"/v1/requests"), "operator", request_open, MAX_JSON_BODY),
    ("GET", re.compile(r"/v1/requests"), "operator", request_list, 0),
    ("GET", re.compile(rf"/v1/requests/{REQUEST}"), "operator", request_show, 0),
    ("POST", re.compile(rf"/v1/requests/{REQUEST}/decisions"), "operator", request_decide,
     MAX_JSON_BODY),
    ("POST", re.compile(rf"/v1/requests/{REQUEST}/close"), "operator", request_close,
     MAX_JSON_BODY),
    ("POST", re.compile(r"/v1/redactions"), "operator", redaction, MAX_JSON_BODY),
]
