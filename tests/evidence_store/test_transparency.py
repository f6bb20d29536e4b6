"""The store's public transparency log over real HTTP: a leaf per custody event, proofs for
anyone without a token, and ``bodycam transparency verify`` catching a rewritten history from
an earlier checkpoint, each way of rewriting with its own reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from device.cli import main as bodycam
from evidence.kept import receipt_path
from evidence.receipt import Receipt
from evidence.store_client import StoreConnection, StoreHttpError, receipt_of
from evidence.transparency import Checkpoint, ProofError, leaf_hash, open_note, verify_inclusion
from evidence.transparency_audit import check_kept_proof, origin_for
from store.service import Store
from store.tlog import LEAVES
from tests.evidence_store.conftest import Camera, Running

DAY = 86400.0


def public(running: Running, target: str) -> dict:
    """A request with no token and no device signature: what anyone may ask."""
    return StoreConnection(running.url).request("GET", target)[1]


def leaves(running: Running) -> list[dict]:
    size = public(running, "/v1/transparency/checkpoint")["tree_size"]
    got = public(running, f"/v1/transparency/leaves?start=0&end={size}")["leaves"]
    return [json.loads(base64.b64decode(x)) for x in got]


def verify(running: Running | None, state: Path, *check: Path) -> int:
    argv = ["transparency", "verify", "--state", str(state)]
    if running is not None:
        argv += ["--store", running.url]
    for path in check:
        argv += ["--check", str(path)]
    return bodycam(argv)


def history(running: Running, camera: Camera) -> tuple[str, str]:
    """Upload everything, flag one recording, flag and unflag the other, let retention delete
    the unflagged one: every kind of leaf the store writes today."""
    kept, dropped = running.upload_all(camera)
    op = running.operator()
    op.flag(kept, "CASE-2026-0042")
    op.flag(dropped, "CASE-WRONG")
    op.unflag(dropped)
    received = running.store.catalogue.one("SELECT MAX(received_s) AS s FROM recordings")["s"]
    assert [d["recording_id"] for d in running.store.retention.step(received + 32 * DAY)] == [
        dropped]
    return kept, dropped


def test_every_custody_event_is_a_leaf_and_the_log_verifies(running: Running, enrolled: Camera,
                                                            tmp_path: Path, capsys) -> None:
    kept, dropped = history(running, enrolled)
    got = leaves(running)
    kinds = [leaf["kind"] for leaf in got]
    assert kinds == ["segment"] * len(enrolled.segments()) + ["flag", "flag", "unflag",
                                                              "deletion"]
    manifests = {leaf["manifest_sha256"] for leaf in got if leaf["kind"] == "segment"}
    assert manifests == {Receipt.from_bytes(r[0]).manifest_sha256 for r in [
        (running.store.catalogue.one("SELECT receipt FROM segments WHERE file = ?",
                                     mp4.name)["receipt"],) for mp4 in enrolled.segments()]}
    flag = got[kinds.index("flag")]
    assert flag["recording_id"] == kept and "CASE-2026-0042" not in json.dumps(flag)
    deletion = got[-1]
    assert deletion["recording_id"] == dropped and deletion["rule"] == "retention_days"
    assert deletion["retention_days"] == 31 and deletion["flagged"] is False
    assert deletion["expires_utc"] <= deletion["utc"]

    assert verify(running, tmp_path / "seen") == 0
    out = capsys.readouterr().out
    assert "1 deletions checked" in out and "FAILED" not in out
    assert verify(None, tmp_path / "seen") == 0  # the saved series alone, offline


def test_an_export_is_a_leaf_naming_its_segments(running: Running, enrolled: Camera,
                                                 tmp_path: Path) -> None:
    kept, _ = running.upload_all(enrolled)
    out = tmp_path / "export.zip"
    running.operator().export(out, recording_id=kept)
    leaf = leaves(running)[-1]
    assert leaf["kind"] == "export" and leaf["recordings"] == [[enrolled.device_id, kept]]
    assert len(leaf["manifest_sha256s"]) == len([m for m in enrolled.segments()
                                                 if m.name.startswith(kept)])
    assert verify(running, tmp_path / "seen", out) == 0  # the export's segments are in the log


def test_the_receipt_carries_an_inclusion_proof_the_camera_can_check(running: Running,
                                                                     enrolled: Camera) -> None:
    client = running.client(enrolled)
    mp4 = enrolled.segments()[0]
    status = client.upload_segment(mp4)
    raw, _ = receipt_of(status)
    receipt = Receipt.from_bytes(raw)
    proof = status["transparency"]
    index, checkpoint = check_kept_proof(json.dumps(proof).encode(), running.store.public_key,
                                         receipt.manifest_sha256, receipt)
    assert (index, checkpoint.size) == (0, 1)
    again = client.status(status["upload_id"])["transparency"]  # asked again, still proven
    assert again["leaf_index"] == 0
    for other in enrolled.segments()[1:4]:
        client.upload_segment(other)
    later = client.status(status["upload_id"])["transparency"]
    assert later["tree_size"] == 4
    check_kept_proof(json.dumps(later).encode(), running.store.public_key,
                     receipt.manifest_sha256, receipt)

    forged = {**proof, "inclusion_proof": [base64.b64encode(b"\0" * 32).decode()]}
    with pytest.raises(ProofError, match="longer than the tree"):
        check_kept_proof(json.dumps(forged).encode(), running.store.public_key,
                         receipt.manifest_sha256, receipt)
    other = json.loads(base64.b64decode(later["leaf"]))
    with pytest.raises(ProofError, match="not this segment's"):
        check_kept_proof(json.dumps(later).encode(), running.store.public_key, "0" * 64)
    assert other["manifest_sha256"] == receipt.manifest_sha256


def test_proofs_by_index_and_manifest_and_consistency(running: Running,
                                                      enrolled: Camera) -> None:
    running.upload_all(enrolled)
    note = public(running, "/v1/transparency/checkpoint")["checkpoint"]
    origin = origin_for(running.store.store_id)
    checkpoint = Checkpoint.parse(open_note(note, origin, running.store.public_key))
    mp4 = enrolled.segments()[2]
    manifest = Receipt.from_bytes(running.store.catalogue.one(
        "SELECT receipt FROM segments WHERE file = ?", mp4.name)["receipt"]).manifest_sha256
    by_hash = public(running, f"/v1/transparency/inclusion?manifest_sha256={manifest}")
    by_index = public(running, f"/v1/transparency/inclusion?index={by_hash['leaf_index']}")
    assert by_hash == by_index and by_hash["tree_size"] == checkpoint.size
    verify_inclusion(leaf_hash(base64.b64decode(by_hash["leaf"])), by_hash["leaf_index"],
                     checkpoint.size, [base64.b64decode(h) for h in by_hash["inclusion_proof"]],
                     checkpoint.root)
    proof = public(running, f"/v1/transparency/consistency?first=3&second={checkpoint.size}")
    assert proof["first"] == 3 and proof["consistency_proof"]


@pytest.mark.parametrize("target, says", [
    ("/v1/transparency/inclusion?index=-1", "index '-1' is not a whole number"),
    ("/v1/transparency/inclusion?index=abc", "index 'abc' is not a whole number"),
    ("/v1/transparency/inclusion?index=99999999999999999999", "is not a whole number"),
    ("/v1/transparency/inclusion?index=7", "leaf 7 is outside a tree of 7"),
    ("/v1/transparency/inclusion?index=0&tree_size=8", "size 8 is outside the log of 7"),
    ("/v1/transparency/inclusion", "missing query parameter 'index'"),
    ("/v1/transparency/inclusion?manifest_sha256=zz", "must be a lowercase hex SHA-256"),
    ("/v1/transparency/inclusion?manifest_sha256=" + "0" * 64, "no segment with manifest"),
    ("/v1/transparency/inclusion?index=0&manifest_sha256=" + "0" * 64, "not both"),
    ("/v1/transparency/consistency?first=5&second=3", "no consistency proof from 5 to 3"),
    ("/v1/transparency/consistency?first=1&second=8", "size 8 is outside the log of 7"),
    ("/v1/transparency/consistency", "missing query parameter 'first'"),
    ("/v1/transparency/leaves?start=0&end=5000", "at most 1000 leaves per request"),
    ("/v1/transparency/leaves?start=6&end=9", "leaves 6..9 are outside the log of 7"),
    ("/v1/transparency/leaves?start=4&end=2", "outside the log"),
    ("/v1/transparency/checkpoint?size=3", "unknown query parameter 'size'"),
])
def test_bad_sizes_and_indexes_are_refused_in_one_line(running: Running, enrolled: Camera,
                                                       target: str, says: str) -> None:
    running.upload_all(enrolled)  # 7 segments: 7 leaves
    with pytest.raises(StoreHttpError) as err:
        public(running, target)
    assert err.value.status in (400, 404) and says in str(err.value)
    assert "\n" not in err.value.body["error"]


def _rewrite(directory: Path, how: str) -> None:
    path = directory / "tlog" / LEAVES
    lines = path.read_bytes().splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    if how == "dropped":
        del lines[kinds.index("flag")]
    elif how == "changed":
        entry = json.loads(lines[1])
        entry["sha256"] = "0" * 64
        lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    else:  # the deletion back-dated by a day
        i = kinds.index("deletion")
        entry = json.loads(lines[i])
        entry["utc"] = entry["utc"].replace(entry["utc"][8:10],
                                            f"{int(entry['utc'][8:10]) - 1:02d}", 1)
        lines[i] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.mark.parametrize("how, reason", [
    ("dropped", "leaf 7 (flag"),
    ("changed", "leaf 1 (segment"),
    ("back-dated", "deletion leaf 10 of"),
])
def test_a_rewritten_log_is_caught_from_an_earlier_checkpoint(running: Running, enrolled: Camera,
                                                              tmp_path: Path, capsys, how: str,
                                                              reason: str) -> None:
    history(running, enrolled)
    state = tmp_path / "seen"
    assert verify(running, state) == 0
    running.stop()
    _rewrite(running.directory, how)
    running.start()
    running.upload_all(enrolled)  # nothing new, and the store goes on signing checkpoints
    capsys.readouterr()
    assert verify(running, state) == 1
    out = capsys.readouterr().out
    [failed] = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert "the log was rewritten since the checkpoint of 11 leaves" in failed
    assert reason in failed and f"was {how}" in failed
    assert verify(running, state) == 1  # caught again: the rewritten checkpoint was not kept


def test_a_camera_checkpoint_catches_a_rewrite_without_earlier_runs(running: Running,
                                                                    enrolled: Camera,
                                                                    tmp_path: Path,
                                                                    capsys) -> None:
    """A camera that kept the proof with its receipt holds an earlier checkpoint too."""
    client = running.client(enrolled)
    mp4 = enrolled.segments()[0]
    status = client.upload_segment(mp4)
    raw, sig = receipt_of(status)
    receipt_path(mp4).write_bytes(raw)
    receipt_path(mp4).with_name(mp4.name + ".receipt.sig").write_bytes(sig)
    (mp4.parent / (mp4.name + ".receipt.tlog.json")).write_text(
        json.dumps(status["transparency"]))
    assert verify(running, tmp_path / "a", enrolled.data_dir) == 0
    running.stop()
    path = running.directory / "tlog" / LEAVES
    entry = json.loads(path.read_bytes().splitlines()[0])
    entry["segment_index"] = 5
    path.write_bytes(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    running.start()
    capsys.readouterr()
    assert verify(running, tmp_path / "fresh", enrolled.data_dir) == 1  # no saved state
    out = capsys.readouterr().out
    assert "not a prefix of the log" in out or "differs" in out


def test_a_segment_missing_from_the_log_is_named(running: Running, enrolled: Camera,
                                                 tmp_path: Path, capsys) -> None:
    client = running.client(enrolled)
    mp4 = enrolled.segments()[0]
    raw, sig = receipt_of(client.upload_segment(mp4))
    receipt_path(mp4).write_bytes(raw)
    receipt_path(mp4).with_name(mp4.name + ".receipt.sig").write_bytes(sig)
    running.stop()
    (running.directory / "tlog" / LEAVES).write_bytes(b"")  # a store that logged nothing
    running.start()
    assert verify(running, tmp_path / "seen", enrolled.data_dir) == 1
    assert f"{mp4.name}: its segment is not in the log" in capsys.readouterr().out


def test_workers_on_one_directory_share_one_log(running: Running, enrolled: Camera) -> None:
    """A second Store on the same directory (as a second worker process has) appends after
    the first's leaves and each serves the other's."""
    kept, _ = running.upload_all(enrolled)
    other = Store(running.directory, clock=running.clock)
    try:
        other.flag(kept, "CASE-7")
        assert public(running, "/v1/transparency/checkpoint")["tree_size"] == 8
        running.operator().unflag(kept)
        assert other.tlog.checkpoint()["tree_size"] == 9
        assert [json.loads(x)["kind"] for x in other.tlog.log.leaves(7, 9)] == ["flag",
                                                                               "unflag"]
    finally:
        other.close()


def test_an_edited_state_directory_is_named_not_blamed_on_the_store(running: Running,
                                                                     enrolled: Camera,
                                                                     tmp_path: Path,
                                                                     capsys) -> None:
    running.upload_all(enrolled)
    state = tmp_path / "seen"
    assert verify(running, state) == 0
    kept = (state / "leaves.jsonl").read_bytes().splitlines()
    (state / "leaves.jsonl").write_bytes(b"\n".join(kept[1:]) + b"\n")
    capsys.readouterr()
    assert verify(running, state) == 1
    assert "6 leaves kept for a checkpoint of 7" in capsys.readouterr().err
    (state / "leaves.jsonl").write_bytes(b"\n".join([kept[1], *kept[1:]]) + b"\n")
    assert verify(running, state) == 1
    err = capsys.readouterr().err
    assert "the kept leaves do not make the saved checkpoint of 7 (the state was edited)" in err
    (state / "leaves.jsonl").write_bytes(b"%%%\n")
    assert verify(None, state) == 1
    assert "a line is not base64" in capsys.readouterr().err
    (state / "leaves.jsonl").write_bytes(b"\n".join(kept) + b"\n")
    assert verify(None, state) == 0


def test_a_checkpoint_signed_by_another_key_is_refused(running: Running, enrolled: Camera,
                                                       tmp_path: Path, capsys) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from evidence.identity import public_pem

    running.upload_all(enrolled)
    other = tmp_path / "other.pub.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    capsys.readouterr()
    assert bodycam(["transparency", "verify", "--store", running.url, "--state",
                    str(tmp_path / "s"), "--store-key", str(other)]) == 1
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("FAILED")]
    assert "the store's checkpoint: the note carries no signature by bodycam.store/" in line


def test_a_flag_leaf_whose_change_never_committed_does_not_accuse_the_deletion(
        running: Running, enrolled: Camera, tmp_path: Path, capsys) -> None:
    """The log goes first: a crash after a flag's leaf and before its commit leaves a flag the
    catalogue never had. Retention then rightly deletes the recording; the log says why."""
    _, dropped = running.upload_all(enrolled)
    running.store.tlog.flag(running.store.now_utc(), enrolled.device_id, dropped, "CASE-9")
    running.operator().flag(_, "CASE-1")
    received = running.store.catalogue.one("SELECT MAX(received_s) AS s FROM recordings")["s"]
    assert len(running.store.retention.step(received + 32 * DAY)) == 1
    tail = leaves(running)[-3:]
    assert [(x["kind"], x.get("reconciled")) for x in tail] == [
        ("flag", None), ("unflag", True), ("deletion", None)]
    assert verify(running, tmp_path / "seen") == 0, capsys.readouterr().out


def test_a_manifest_that_is_a_fifo_is_named_not_read(running: Running, enrolled: Camera,
                                                     tmp_path: Path, capsys) -> None:
    import os

    client = running.client(enrolled)
    mp4 = enrolled.segments()[0]
    raw, sig = receipt_of(client.upload_segment(mp4))
    receipt_path(mp4).write_bytes(raw)
    receipt_path(mp4).with_name(mp4.name + ".receipt.sig").write_bytes(sig)
    manifest = mp4.with_name(mp4.name + ".json")
    manifest.unlink()
    os.mkfifo(manifest)  # would block a reader for ever
    assert verify(running, tmp_path / "seen", enrolled.data_dir) == 1
    assert f"{mp4.name}: its manifest cannot be read" in capsys.readouterr().out
