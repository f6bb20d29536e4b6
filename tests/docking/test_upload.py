"""Record, dock, upload: receipts checked and kept, local copies gone, the store's verified."""

from __future__ import annotations

from device.evidence.manifest import manifest_path, sha256_file
from device.evidence.verify import verify
from device.upload.records import receipt_path
from tests.docking.conftest import (
    audit,
    dock,
    dock_config,
    drive,
    enrol,
    record,
    segments,
)
from tests.evidence_store.conftest import Running


def test_docked_camera_uploads_everything_and_deletes_only_with_receipts(make_sim,
                                                                        running: Running):
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    recorded = {mp4: sha256_file(mp4)[0] for mp4 in segments(sim)}
    assert len(recorded) >= 2
    dock(sim)
    steps = drive(sim)
    print(steps)
    assert segments(sim) == []
    for mp4, digest in recorded.items():
        assert running.store.objects.read_bytes(digest)
        assert receipt_path(mp4).exists() and manifest_path(mp4).exists()
    receipts = audit(sim, "upload_receipt")
    print(sim.daemon.status()["upload"])
    assert len(receipts) == len(recorded) + 1
    findings = verify([sim.data_dir])
    assert all(f.ok for f in findings), findings
