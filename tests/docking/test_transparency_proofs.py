"""A docked camera keeps the store's inclusion proof beside each receipt, and that proof is
what a third party later checks the store's log against."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from device.cli import main as bodycam
from device.upload.uploader import IDLE
from evidence.kept import receipt_path
from evidence.layout import Layout
from evidence.manifest import manifest_path
from evidence.receipt import Receipt
from evidence.transparency_audit import check_kept_proof
from store.tlog import LEAVES
from tests.docking.conftest import dock, dock_config, drive, enrol, record, segments
from tests.evidence_store.conftest import Running


def test_the_camera_keeps_a_proof_that_verifies_beside_each_receipt(make_sim, running: Running,
                                                                    tmp_path, capsys) -> None:
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 4.0)
    uploaded = segments(sim)
    assert len(uploaded) >= 2
    dock(sim)
    assert drive(sim)[-1] == IDLE
    for mp4 in uploaded:
        receipt = Receipt.from_bytes(receipt_path(mp4).read_bytes())
        kept = Layout.tlog_proof(mp4).read_bytes()
        index, checkpoint = check_kept_proof(kept, running.store.public_key,
                                             receipt.manifest_sha256, receipt)
        assert index < checkpoint.size
        assert json.loads(kept)["leaf_index"] == index
        assert receipt.manifest_sha256 == hashlib.sha256(manifest_path(mp4).read_bytes()
                                                         ).hexdigest()

    state = tmp_path / "seen"
    argv = ["transparency", "verify", "--store", running.url, "--state", str(state),
            "--check", str(sim.data_dir)]
    assert bodycam(argv) == 0
    assert "FAILED" not in capsys.readouterr().out

    # the store drops the first segment's leaf; a fresh auditor with only the camera's data
    # directory (no saved checkpoint of its own) still sees it
    port = running.server.server_address[1]
    running.stop()
    path = running.directory / "tlog" / LEAVES
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[1:]))
    running.start(port)
    fresh = ["transparency", "verify", "--store", running.url, "--state",
             str(tmp_path / "fresh"), "--check", str(sim.data_dir)]
    assert bodycam(fresh) == 1
    out = capsys.readouterr().out
    assert f"{uploaded[0].name}: its segment is not in the log" in out

    shutil.rmtree(tmp_path / "fresh")
    assert bodycam(argv) == 1  # and the auditor who kept a checkpoint names the dropped leaf
    assert "leaf 0 (segment" in capsys.readouterr().out


@pytest.mark.in_process_store("forges the serving store's inclusion proof")
def test_a_proof_that_does_not_verify_is_not_kept_and_the_receipt_still_counts(
        make_sim, running: Running, monkeypatch) -> None:
    honest = running.store.tlog.receipt_proof

    def forged(manifest_sha256: str) -> dict | None:
        proof = honest(manifest_sha256)
        assert proof is not None
        return {**proof, "leaf_index": proof["leaf_index"] + 1}  # another leaf's place

    monkeypatch.setattr(running.store.tlog, "receipt_proof", forged)
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 2.0)
    uploaded = segments(sim)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []  # deleted on the receipt, as before the log
    for mp4 in uploaded:
        assert receipt_path(mp4).exists() and not Layout.tlog_proof(mp4).exists()


@pytest.mark.in_process_store("the serving store's log gives no proof")
def test_a_store_without_a_log_sends_no_proof_and_nothing_changes(make_sim, running: Running,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(running.store.tlog, "receipt_proof", lambda sha: None)
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 2.0)
    uploaded = segments(sim)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []
    assert all(receipt_path(m).exists() and not Layout.tlog_proof(m).exists() for m in uploaded)
