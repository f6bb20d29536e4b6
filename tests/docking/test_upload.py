"""Record, dock, upload: receipts checked and kept, local copies gone, the store's verified."""

from __future__ import annotations

import hashlib
import shutil

from device.upload.uploader import IDLE
from evidence.identity import load_public_key
from evidence.kept import receipt_path, receipt_signature_path
from evidence.manifest import manifest_path, sha256_file, signature_path
from evidence.receipt import verify_receipt
from evidence.verify import verify
from tests.docking.conftest import audit, dock, dock_config, drive, enrol, record, segments
from tests.evidence_store.conftest import Running


def test_docked_camera_uploads_everything_and_deletes_only_with_receipts(make_sim,
                                                                        running: Running):
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    record(sim, 2.0)
    recorded = {mp4: sha256_file(mp4) for mp4 in segments(sim)}
    assert len(recorded) >= 3
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []  # the local copies are gone...
    store_key = load_public_key(running.directory / "store.pub.pem")
    for mp4, (digest, size) in recorded.items():
        # ...the store's copies are the camera's bytes...
        held = running.store.objects.read_bytes(digest)  # whichever backend holds it
        assert (hashlib.sha256(held).hexdigest(), len(held)) == (digest, size)
        # ...and the camera kept the manifest, its signature and the store's receipt
        assert manifest_path(mp4).exists() and signature_path(mp4).exists()
        verify_receipt(receipt_path(mp4).read_bytes(),
                       receipt_signature_path(mp4).read_bytes(), store_key, digest,
                       device_id=sim.daemon.identity.device_id, file=mp4.name, size=size)
    assert all(r["complete"] for r in running.operator().recordings())
    receipts = [e["data"] for e in audit(sim, "upload_receipt")]
    assert [r["file"] for r in receipts if r["kind"] == "segment"] == [m.name for m in recorded]
    deleted = [e["data"]["file"] for e in audit(sim, "upload_deleted")]
    assert deleted == [m.name for m in recorded]
    lines = (sim.data_dir / "audit" / "audit.jsonl").read_bytes().splitlines(keepends=True)
    seqs = {e["data"]["file"]: e["seq"] for e in audit(sim, "upload_receipt")}
    assert all(seqs[f] < e["seq"] for e in audit(sim, "upload_deleted")
               for f in [e["data"]["file"]])  # the receipt is on record before the deletion
    [log_receipt] = [r for r in receipts if r["kind"] == "audit_log"]
    snapshot = b"".join(lines)[:log_receipt["size"]]
    assert running.store.objects.read_bytes(log_receipt["sha256"]) == snapshot

    shutil.copy(running.directory / "store.pub.pem", sim.data_dir / "store.pub.pem")
    findings = verify([sim.data_dir])
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    uploaded = [f for f in findings if f.code == "uploaded"]
    assert len(uploaded) == len(recorded) and not any("not checked" in f.detail
                                                      for f in uploaded)


def test_docked_while_recording_uploads_the_whole_recording_once_it_stops(make_sim,
                                                                         running: Running):
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    sim.button("record").double_press()
    sim.advance(6.0)
    sim.dock.dock()
    sim.daemon.sync()
    assert sim.mode == "recording" and sim.daemon.flags["dock_pending"]
    assert sim.daemon.uploader.step() == IDLE  # nothing while it records
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    assert sim.mode == "docked"
    assert drive(sim)[-1] == IDLE
    stored = running.store.catalogue.all("SELECT segment_index, last FROM segments")
    assert stored and stored[-1]["last"] and segments(sim) == []
