"""Subject-access requests (store/requests.py): a member of the public asks for footage of
themselves; the location search finds the candidates, the reviewer decides each, the store's
redaction makes the copy through its API, the request closes with its outcome; every step in
the audit log; past the retention the footage is gone, proven by the transparency log; every
hostile input refused in one line."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from evidence.identity import load_public_key
from evidence.store_client import StoreHttpError
from evidence.transparency import Checkpoint, leaf_hash, open_note, verify_inclusion
from evidence.utc import utc_iso
from sim.clock import DEFAULT_EPOCH as EPOCH
from store.auditlog import verify_chain
from store.cli import main as store_main
from store.redaction.derivation import verify_derivation
from store.transparency import origin_for
from tests.evidence_store.conftest import Camera, Running
from tests.evidence_store.test_find import CENTRE, M_PER_DEG, cli, with_track

DAY = 86400.0
WINDOW = {"from": utc_iso(EPOCH - 600), "to": utc_iso(EPOCH + 3600)}


def opened(op: Any, **changes: Any) -> dict[str, Any]:
    body = {"requester": "Ann Example", "contact": "ann@example.org",
            "near": [CENTRE[0], CENTRE[1]], "radius_m": 30, **WINDOW, **changes}
    return op.request("POST", "/v1/requests", json.dumps(body).encode())


@pytest.fixture
def walked(running: Running, enrolled: Camera) -> list[str]:
    """Recording 1 passed the place (between two fixes); recording 2 stayed 1.5 km away."""
    lat, lon = CENTRE
    d = 300 / M_PER_DEG
    with_track(enrolled, {1: [(EPOCH + 2, lat - d, lon), (EPOCH + 12, lat + d, lon)],
                          2: [(EPOCH + 30, lat + 5 * d, lon)]})
    return running.upload_all(enrolled)


def events(running: Running, prefix: str = "request_") -> list[dict[str, Any]]:
    return [e for e in running.store.audit.entries() if e["event"].startswith(prefix)]


def test_a_request_from_open_to_close_over_the_api(running: Running, walked: list[str],
                                                   enrolled: Camera, tmp_path: Path) -> None:
    op = running.operator()
    record = opened(op, description="red coat")
    request_id = record["request_id"]
    assert record["state"] == "open" and "footage_gone" not in record
    assert [c["recording_id"] for c in record["candidates"]] == [walked[0]]
    assert record["candidates"][0]["decision"] is None
    assert record["candidates"][0]["nearest_utc"] == utc_iso(EPOCH + 7)
    base = f"/v1/requests/{request_id}"
    with pytest.raises(StoreHttpError) as caught:  # every candidate needs a decision first
        op.request("POST", f"{base}/close", b"{}")
    assert caught.value.status == 409 and walked[0] in str(caught.value)
    with pytest.raises(StoreHttpError) as caught:  # a redaction before the decision
        op.request("POST", "/v1/redactions", json.dumps({
            "recording_id": walked[0], "reviewer": "DC 1", "request_id": request_id,
            "plan": {"auto": False}}).encode(), stream_to=tmp_path / "early.zip")
    assert caught.value.status == 409 and "decide" in str(caught.value)
    decided = op.request("POST", f"{base}/decisions", json.dumps({
        "recording_id": walked[0], "decision": "shows", "reason": "red coat at 00:07",
        "reviewer": "DC 1"}).encode())
    assert decided["candidates"][0]["decision"] == "shows"
    # the reviewer's redaction runs in the store, through its API
    op.request("POST", "/v1/redactions", json.dumps({
        "recording_id": walked[0], "reviewer": "DC 1", "request_id": request_id,
        "plan": {"auto": False, "boxes": [{"op": "add", "frames": [0, 5],
                                           "box": [0, 0, 40, 40]}],
                 "silence": [{"from_s": 0.5, "to_s": 1.0}]}}).encode(),
               stream_to=tmp_path / "copy.zip")
    out = tmp_path / "copy"
    with zipfile.ZipFile(tmp_path / "copy.zip") as zf:
        assert {"redacted.mp4", "derivation.json", "derivation.json.sig",
                "store.pub.pem"} <= set(zf.namelist())
        zf.extractall(out)
    key = load_public_key(running.directory / "store.pub.pem")
    assert verify_derivation(out, key) == []
    derivation = json.loads((out / "derivation.json").read_text())
    assert derivation["reviewer"] == "DC 1"
    shown = op.request("GET", base)
    assert shown["candidates"][0]["redacted_sha256"] == derivation["output"]["sha256"]
    closed = op.request("POST", f"{base}/close", json.dumps({"note": "copy sent"}).encode())
    assert closed["state"] == "closed" and closed["closed_utc"]
    assert closed["outcome"]["shown"] == [[enrolled.device_id, walked[0],
                                           derivation["output"]["sha256"]]]
    assert closed["outcome"]["note"] == "copy sent"
    with pytest.raises(StoreHttpError) as caught:
        op.request("POST", f"{base}/decisions", json.dumps({
            "recording_id": walked[0], "decision": "not_shown", "reason": "x",
            "reviewer": "DC 2"}).encode())
    assert caught.value.status == 409 and "closed" in str(caught.value)
    assert [e["event"] for e in events(running)] == [
        "request_opened", "request_decision", "request_redaction", "request_closed"]
    assert events(running)[0]["candidates"] == [[enrolled.device_id, walked[0]]]
    assert [e for e in running.store.audit.entries() if e["event"] == "redaction"]
    count, problems = verify_chain(running.directory / "audit.jsonl")
    assert problems == [] and count
    assert [r["request_id"] for r in op.request("GET", "/v1/requests")] == [request_id]


def test_past_the_retention_the_footage_is_gone_and_the_log_proves_it(
        running: Running, walked: list[str], enrolled: Camera) -> None:
    running.clock.now += 32 * DAY
    deleted = running.store.retention.step(running.clock.now)
    assert {d["recording_id"] for d in deleted} == set(walked)
    record = opened(running.operator())
    assert "footage_gone" in record and "31-day retention" in record["footage_gone"]
    assert "1 matching recording(s) deleted" in record["footage_gone"]
    [candidate] = record["candidates"]
    assert candidate["recording_id"] == walked[0] and candidate["deleted_utc"]
    proof = candidate["deletion_proof"]
    # anyone checks it: the checkpoint signed by the store key, the leaf in it, and the leaf
    # is the deletion of that recording
    key = load_public_key(running.directory / "store.pub.pem")
    origin = origin_for(running.store.store_id)
    checkpoint = Checkpoint.parse(open_note(proof["checkpoint"], origin, key))
    leaf = base64.b64decode(proof["leaf"])
    verify_inclusion(leaf_hash(leaf), proof["leaf_index"], checkpoint.size,
                     [base64.b64decode(h) for h in proof["inclusion_proof"]], checkpoint.root)
    entry = json.loads(leaf)
    assert (entry["kind"], entry["device_id"], entry["recording_id"]) == (
        "deletion", enrolled.device_id, walked[0])
    with pytest.raises(StoreHttpError) as caught:
        running.operator().request("POST", f"/v1/requests/{record['request_id']}/decisions",
                                   json.dumps({"recording_id": walked[0], "decision": "shows",
                                               "reason": "r", "reviewer": "DC 1"}).encode())
    assert caught.value.status == 409 and "deleted" in str(caught.value)
    closed = running.operator().request("POST", f"/v1/requests/{record['request_id']}/close",
                                        b"{}")
    assert closed["outcome"]["deleted"][0][1] == walked[0]
    assert closed["outcome"]["footage_gone"] is True


def test_a_window_past_the_retention_with_nothing_found_says_gone(running: Running) -> None:
    running.clock.now += 40 * DAY
    record = opened(running.operator())
    assert record["candidates"] == [] and "no recording matched" in record["footage_gone"]
    fresh = opened(running.operator(), **{"from": utc_iso(running.clock.now - DAY),
                                          "to": utc_iso(running.clock.now)})
    assert "footage_gone" not in fresh


@pytest.mark.parametrize(("change", "named"), [
    ({"requester": ""}, "requester"),
    ({"requester": None}, "requester"),
    ({"contact": "a\nb"}, "contact"),
    ({"contact": "x" * 500}, "contact"),
    ({"near": [91, 0]}, "latitude"),
    ({"near": "51.5"}, "LAT,LON"),
    ({"near": [1, 2, 3]}, "near"),
    ({"near": ["a", 0]}, "latitude"),
    ({"radius_m": -1}, "radius"),
    ({"radius_m": "1e400"}, "radius"),
    ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "after"),
    ({"from": "soon"}, "from"),
    ({"to": 12}, "to"),
    ({"extra": 1}, "extra"),
])
def test_hostile_requests_are_refused_in_one_line(running: Running, change: dict[str, Any],
                                                  named: str) -> None:
    with pytest.raises(StoreHttpError) as caught:
        opened(running.operator(), **change)
    assert caught.value.status == 400 and named in str(caught.value)
    assert "\n" not in str(caught.value)
    assert events(running) == []


def test_hostile_decisions_and_ids(running: Running, walked: list[str]) -> None:
    op = running.operator()
    request_id = opened(op)["request_id"]
    base = f"/v1/requests/{request_id}"
    good = {"recording_id": walked[0], "decision": "shows", "reason": "r", "reviewer": "DC 1"}
    for change, status, named in (
            ({"decision": "maybe"}, 400, "decision"), ({"reason": ""}, 400, "reason"),
            ({"reviewer": "\x00"}, 400, "reviewer"), ({"recording_id": "../x"}, 400,
                                                      "recording_id"),
            ({"recording_id": walked[1]}, 404, "not a candidate"),
            ({"device_id": "nobody"}, 404, "not a candidate")):
        with pytest.raises(StoreHttpError) as caught:
            op.request("POST", f"{base}/decisions", json.dumps({**good, **change}).encode())
        assert caught.value.status == status and named in str(caught.value), change
    for target in ("/v1/requests/SAR-000000000000", "/v1/requests/SAR-..%2f..",
                   "/v1/requests/x"):
        with pytest.raises(StoreHttpError) as caught:
            op.request("GET", target)
        assert caught.value.status == 404
    with pytest.raises(StoreHttpError) as caught:
        op.request("POST", f"{base}/decisions", b"[not json")
    assert caught.value.status == 400
    with pytest.raises(StoreHttpError) as caught:
        running.operator("wrong-token").request("GET", base)
    assert caught.value.status == 401
    assert [e["event"] for e in events(running)] == ["request_opened"]


def test_redaction_endpoint_refuses_bad_input(running: Running, walked: list[str],
                                              tmp_path: Path) -> None:
    op = running.operator()
    for body, status, named in (
            ({"recording_id": walked[0]}, 400, "reviewer"),
            ({"recording_id": "R999999-x", "reviewer": "DC 1"}, 404, "no recording"),
            ({"recording_id": walked[0], "reviewer": "DC 1", "plan": []}, 400, "plan"),
            ({"recording_id": walked[0], "reviewer": "DC 1", "plan": {"boxes": [
                {"op": "blur", "frames": [0, 1], "box": [0, 0, 1, 1]}]}}, 400, "op"),
            ({"recording_id": walked[0], "reviewer": "DC 1", "plan": {"auto": "yes"}}, 400,
             "auto"),
            ({"recording_id": walked[0], "reviewer": "DC 1", "request_id": "SAR-1"}, 400,
             "request id"),
            ({"recording_id": walked[0], "reviewer": "DC 1", "plan": {"auto": False, "boxes": [
                {"op": "add", "frames": [0, 99999], "box": [0, 0, 10, 10]}]}}, 422, "frame")):
        with pytest.raises(StoreHttpError) as caught:
            op.request("POST", "/v1/redactions", json.dumps(body).encode(),
                       stream_to=tmp_path / "x.zip")
        assert caught.value.status == status and named in str(caught.value), body
    with pytest.raises(StoreHttpError) as caught:
        running.operator("wrong-token").request("POST", "/v1/redactions", b"{}")
    assert caught.value.status == 401
    assert not list((running.directory / "exports").glob("redaction-*"))


def test_requests_on_the_command_line(running: Running, walked: list[str],
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lat, lon = CENTRE
    code, out, err = cli(capsys, monkeypatch, running, "request", "open", "--requester",
                         "Ann Example", "--contact", "ann@example.org", "--near",
                         f"{lat},{lon}", "--radius", "30", "--from", WINDOW["from"], "--to",
                         WINDOW["to"], "--json")
    assert code == 0, err
    request_id = json.loads(out)["request_id"]
    code, out, err = cli(capsys, monkeypatch, running, "request", "list")
    assert code == 0 and request_id in out and "1 undecided" in out
    code, out, err = cli(capsys, monkeypatch, running, "request", "decide", request_id,
                         walked[0], "--shows", "--reason", "seen at 00:07", "--reviewer",
                         "DC 1")
    assert code == 0 and "shows: seen at 00:07 (DC 1)" in out
    code, out, err = cli(capsys, monkeypatch, running, "request", "redact", request_id,
                         walked[0], "--reviewer", "DC 1", "--no-auto", "--silence", "0-0.5",
                         "--out", str(tmp_path / "copy.zip"))
    assert code == 0, err
    assert zipfile.ZipFile(tmp_path / "copy.zip").getinfo("redacted.mp4").file_size > 0
    code, out, err = cli(capsys, monkeypatch, running, "request", "close", request_id,
                         "--note", "sent")
    assert code == 0 and "closed" in out
    code, out, err = cli(capsys, monkeypatch, running, "request", "show", request_id)
    assert code == 0 and "redacted" in out
    for args, named in ((("open", "--requester", "A", "--contact", "c", "--near", "95,0",
                          "--radius", "3", "--from", WINDOW["from"], "--to", WINDOW["to"]),
                         "latitude"),
                        (("decide", request_id, walked[0], "--shows", "--reason", "",
                          "--reviewer", "x"), "reason"),
                        (("show", "SAR-000000000000"), "no request"),
                        (("redact", request_id, walked[0], "--reviewer", "x", "--add", "1-2",
                          "--out", str(tmp_path / "y.zip")), "FIRST-LAST")):
        code, out, err = cli(capsys, monkeypatch, running, "request", *args)
        assert code != 0 and named in err and err.count("\n") == 1, (args, err)
        assert "Traceback" not in err


def test_the_store_main_entry_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        store_main(["request"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_deletion_leaf_is_found_among_many_by_its_time(running: Running, walked: list[str],
                                                           enrolled: Camera) -> None:
    """Leaves before and after the deletion, both recordings deleted in passes days apart:
    each proof is its own recording's deletion leaf."""
    from store.requests import Requests

    tlog = running.store.tlog
    for i in range(300):  # other custody events, in time order
        running.clock.now += 60
        tlog.flag(running.store.now_utc(), "dev-other", f"R{i:06d}-000000", "CASE")
    with running.store.catalogue.tx() as db:  # recording 2 arrived later: deleted later
        db.execute("UPDATE recordings SET received_s = received_s + 3 * 86400 WHERE "
                   "recording_id = ?", (walked[1],))
    running.clock.now += 32 * DAY
    assert [d["recording_id"] for d in running.store.retention.step(running.clock.now)] == [
        walked[0]]
    for i in range(300):
        running.clock.now += 60
        tlog.unflag(running.store.now_utc(), "dev-other", f"R{i:06d}-000000")
    running.clock.now += 3 * DAY
    assert [d["recording_id"] for d in running.store.retention.step(running.clock.now)] == [
        walked[1]]
    requests = Requests(running.store)
    for rec in walked:
        proof = requests.deletion_proof(enrolled.device_id, rec)
        assert proof is not None
        entry = json.loads(base64.b64decode(proof["leaf"]))
        assert (entry["kind"], entry["recording_id"]) == ("deletion", rec)
    assert requests.deletion_proof(enrolled.device_id, "R000999-nothere") is None


def test_footage_kept_as_evidence_is_not_called_gone(running: Running, walked: list[str]) -> None:
    running.operator().flag(walked[0], "CASE-7")
    running.clock.now += 40 * DAY
    assert running.store.retention.step(running.clock.now) != []  # recording 2 went
    record = opened(running.operator())
    assert "footage_gone" not in record
    assert [(c["recording_id"], c["deleted_utc"]) for c in record["candidates"]] == [
        (walked[0], None)]


def test_the_operator_client_speaks_every_route(running: Running, walked: list[str],
                                                tmp_path: Path) -> None:
    op = running.operator()
    near = f"{CENTRE[0]},{CENTRE[1]}"
    assert [m["recording_id"] for m in op.find(near, 30, WINDOW["from"], WINDOW["to"])] == [
        walked[0]]
    assert op.find(near, 30, WINDOW["from"], WINDOW["to"], officer="PC-1") == []
    record = op.open_request(requester="B", contact="b@example.org", near=list(CENTRE),
                             radius_m=30, **WINDOW)
    rid = record["request_id"]
    assert op.subject_request(rid)["candidates"][0]["recording_id"] == walked[0]
    op.decide(rid, walked[0], "shows", "seen", "DC 2")
    op.redaction(tmp_path / "c.zip", walked[0], "DC 2", {"auto": False}, request_id=rid)
    assert "redacted.mp4" in zipfile.ZipFile(tmp_path / "c.zip").namelist()
    assert op.close_request(rid, "done")["outcome"]["shown"][0][1] == walked[0]
