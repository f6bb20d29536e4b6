"""``bodycam store find`` and ``bodycam store request ...``: the public's side, from the
operator's terminal, over the store's API (store/public_api.py) with the operator token.

Every argument is checked here first (the same checks the store makes), so a mistyped
latitude or time is one line naming it, whether or not the store is reachable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from evidence.fsutil import durable_rename
from store.errors import StoreError
from store.requests import NOT_SHOWN, SHOWS, text
from store.search import make_query, parse_near

#: Seconds ``request redact`` waits for the store's answer (a long recording takes minutes).
REDACTION_TIMEOUT_S = 3600.0


class PublicCliError(Exception):
    """A one-line usage error (the command line's exit code 2)."""


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except StoreError as exc:
        raise PublicCliError(exc.message) from None


def _query(args: argparse.Namespace) -> dict[str, str]:
    lat, lon = _checked(parse_near, args.near)
    _checked(make_query, lat, lon, args.radius, args.since, args.until, args.officer)
    query = {"near": f"{lat!r},{lon!r}", "radius": args.radius, "from": args.since,
             "to": args.until}
    if args.officer:
        query["officer"] = args.officer
    return query


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_find(args: argparse.Namespace, client: Any) -> int:
    target = "/v1/find?" + urlencode(_query(args))  # checked before any connection
    matches = client().request("GET", target)
    if args.json:
        _print(matches)
        return 0
    for m in matches:
        state = (f"deleted {m['deleted_utc']}" if m["deleted_utc"] else
                 "EVIDENCE" if m["flagged"] else "kept")
        print(f"{m['recording_id']}  {m['device_id']}  nearest {m['nearest_utc']}  "
              f"{m['distance_m']:.1f} m  ({m['nearest_lat']:.6f},{m['nearest_lon']:.6f})  "
              f"{m['officer_id'] or 'unassigned'}  {state}")
    print(f"{len(matches)} recording(s) within {float(args.radius):g} m")
    return 0


def _show(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print(record)
        return
    print(f"{record['request_id']}  {record['state']}  {record['requester']} "
          f"({record['contact']})  {record['from_utc']} to {record['to_utc']}  within "
          f"{record['radius_m']:g} m of {record['near'][0]},{record['near'][1]}")
    for c in record["candidates"]:
        if c["deleted_utc"]:
            proof = c.get("deletion_proof")
            where = (f"deletion leaf {proof['leaf_index']} of {proof['tree_size']}" if proof
                     else "no deletion leaf (deleted before the log)")
            state = f"DELETED {c['deleted_utc']} ({where})"
        elif c["decision"]:
            state = f"{c['decision']}: {c['reason']} ({c['reviewer']})" + (
                f", redacted {c['redacted_sha256'][:16]}" if c["redacted_sha256"] else "")
        else:
            state = "undecided"
        print(f"  {c['recording_id']}  {c['device_id']}  nearest {c['nearest_utc']}  "
              f"{c['distance_m']:.1f} m  {state}")
    if "footage_gone" in record:
        print(f"footage gone: {record['footage_gone']}")
    print(f"{len(record['candidates'])} candidate recording(s)")


def cmd_request(args: argparse.Namespace, client: Any) -> int:
    action = args.action
    if action == "open":
        lat, lon = _checked(parse_near, args.near)
        _checked(make_query, lat, lon, args.radius, args.since, args.until)
        for name in ("requester", "contact"):
            _checked(text, getattr(args, name), name)
        body = {"requester": args.requester, "contact": args.contact, "near": [lat, lon],
                "radius_m": float(args.radius), "from": args.since, "to": args.until}
        if args.description:
            body["description"] = args.description
        _show(client().request("POST", "/v1/requests", json.dumps(body).encode()), args.json)
    elif action == "list":
        rows = client().request("GET", "/v1/requests")
        if args.json:
            _print(rows)
        else:
            for r in rows:
                print(f"{r['request_id']}  {r['state']:<6}  {r['opened_utc']}  {r['requester']}"
                      f"  {r['candidates']} candidate(s), {r['undecided']} undecided, "
                      f"{r['deleted']} deleted")
            print(f"{len(rows)} request(s)")
    elif action == "show":
        _show(client().request("GET", f"/v1/requests/{quote(args.request_id, safe='')}"),
              args.json)
    elif action == "decide":
        for name in ("reason", "reviewer"):
            _checked(text, getattr(args, name), name)
        body = {"recording_id": args.recording_id, "decision": SHOWS if args.shows else
                NOT_SHOWN, "reason": args.reason, "reviewer": args.reviewer}
        if args.device:
            body["device_id"] = args.device
        _show(client().request("POST", f"/v1/requests/{quote(args.request_id, safe='')}"
                                     "/decisions", json.dumps(body).encode()), args.json)
    elif action == "close":
        body = {"note": args.note} if args.note else {}
        _show(client().request("POST", f"/v1/requests/{quote(args.request_id, safe='')}/close",
                             json.dumps(body).encode()), args.json)
    elif action == "redact":
        return _redact(args, client)
    return 0


def _redact(args: argparse.Namespace, client: Any) -> int:
    """The store redacts the recording (its API, not this machine) and sends the copy."""
    from store.redaction import RedactionError
    from store.redaction.plan import load_plan, parse_box_spec, parse_silence_spec

    try:
        plan = load_plan(Path(args.plan)) if args.plan else {}
        boxes = [parse_box_spec(op, spec).to_json() for op in ("add", "remove", "keep")
                 for spec in getattr(args, op)]
        silences = [parse_silence_spec(spec) for spec in args.silence]
    except RedactionError as exc:
        raise PublicCliError(str(exc)) from None
    plan = dict(plan)  # the store checks the plan file's fields; the flags add to its lists
    for name, more in (("boxes", boxes), ("silence", [
            {"from_s": s.from_s, "to_s": s.to_s, "note": s.note} for s in silences])):
        if more:
            if not isinstance(plan.get(name, []), list):
                raise PublicCliError(f"plan {args.plan}: {name} must be a list")
            plan[name] = [*plan.get(name, []), *more]
    if args.no_auto:
        plan["auto"] = False
    body: dict[str, Any] = {"recording_id": args.recording_id, "reviewer": args.reviewer,
                            "plan": plan, "request_id": args.request_id}
    if args.device:
        body["device_id"] = args.device
    out = Path(args.out)
    part = out.with_name(out.name + ".part")
    operator = client()
    # the store decodes, blurs and re-encodes the whole recording before it answers
    operator.connection.timeout = max(operator.connection.timeout, REDACTION_TIMEOUT_S)
    operator.request("POST", "/v1/redactions", json.dumps(body).encode(), stream_to=part)
    durable_rename(part, out)
    print(f"redacted copy for {args.request_id} written to {out}: redacted.mp4, "
          "derivation.json signed by the store (check it: bodycam store check-redaction)")
    return 0


def add_commands(sub: Any, remote: argparse.ArgumentParser) -> None:
    """The ``find`` and ``request`` subcommands, on the store command line's parser."""
    p = sub.add_parser("find", parents=[remote],
                       help="recordings whose track passed near a place in a time window")
    p.add_argument("--near", required=True, metavar="LAT,LON", help="decimal degrees (WGS84)")
    p.add_argument("--radius", required=True, metavar="M", help="metres")
    p.add_argument("--from", dest="since", required=True, metavar="UTC")
    p.add_argument("--to", dest="until", required=True, metavar="UTC")
    p.add_argument("--officer", metavar="ID", help="only recordings by this officer")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find, remote_call=True)

    p = sub.add_parser("request", parents=[remote],
                       help="subject-access requests: open, list, show, decide, close, redact")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION",
                               parser_class=type(p))
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true")
    a = actions.add_parser("open", parents=[json_flag], help="record a request and find its "
                                                             "candidate recordings")
    a.add_argument("--requester", required=True, help="who asks")
    a.add_argument("--contact", required=True, help="how to reach them")
    a.add_argument("--near", required=True, metavar="LAT,LON")
    a.add_argument("--radius", required=True, metavar="M")
    a.add_argument("--from", dest="since", required=True, metavar="UTC")
    a.add_argument("--to", dest="until", required=True, metavar="UTC")
    a.add_argument("--description", help="what the requester says they look like or did")
    actions.add_parser("list", parents=[json_flag], help="every request")
    a = actions.add_parser("show", parents=[json_flag], help="one request, with proofs")
    a.add_argument("request_id", metavar="REQUEST_ID")
    a = actions.add_parser("decide", parents=[json_flag],
                           help="whether a candidate recording shows the requester")
    a.add_argument("request_id", metavar="REQUEST_ID")
    a.add_argument("recording_id", metavar="RECORDING_ID")
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument("--shows", action="store_true", help="it shows the requester")
    which.add_argument("--not-shown", action="store_true", help="it does not")
    a.add_argument("--reason", required=True)
    a.add_argument("--reviewer", required=True)
    a.add_argument("--device", help="device id, if the recording id is ambiguous")
    a = actions.add_parser("close", parents=[json_flag], help="close with its outcome")
    a.add_argument("request_id", metavar="REQUEST_ID")
    a.add_argument("--note", help="the outcome in words")
    a = actions.add_parser("redact", help="the store redacts a decided recording for the "
                                          "request (its API) and sends the copy")
    a.add_argument("request_id", metavar="REQUEST_ID")
    a.add_argument("recording_id", metavar="RECORDING_ID")
    a.add_argument("--out", required=True, metavar="FILE.zip")
    a.add_argument("--reviewer", required=True)
    a.add_argument("--device", help="device id, if the recording id is ambiguous")
    a.add_argument("--plan", metavar="PLAN.json", help="the reviewer's boxes and silences")
    for op in ("add", "remove", "keep"):
        a.add_argument(f"--{op}", action="append", default=[], metavar="FIRST-LAST:X,Y,W,H")
    a.add_argument("--silence", action="append", default=[], metavar="FROM-TO")
    a.add_argument("--no-auto", action="store_true", help="no automatic face pass")
    p.set_defaults(func=cmd_request, remote_call=True)
