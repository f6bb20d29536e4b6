"""The issue's case end to end: a camera whose clock was lost records (its UTC times decades in
the past), with a marker; docked, it uploads, gets receipts and deletes its copies; the store's
next retention pass must keep that footage for the full period from when it arrived."""

from __future__ import annotations

from pathlib import Path

from device.upload.uploader import IDLE
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.clock import parse_utc
from tests.docking.conftest import audit, dock, dock_config, drive, enrol, record, segments
from tests.evidence_store.conftest import START, Running

DAY = 86400.0
#: 2000-01-01T00:00:00Z: where an RTC without its battery starts counting.
LOST_CLOCK = 946684800.0


def test_footage_from_an_unset_clock_survives_the_retention_pass_after_upload(
        running: Running, tmp_path: Path) -> None:
    clock = SimClock(epoch=LOST_CLOCK)
    clock.wall_is_set = False
    sim = Simulator(dock_config(running), tmp_path / "cam", clock=clock, encoder=FakeEncoder)
    sim.power_on()
    try:
        enrol(running, sim)
        record(sim, 6.0, marker=True)
        assert segments(sim)
        dock(sim)
        assert drive(sim)[-1] == IDLE
        assert segments(sim) == []  # receipts checked, the camera's copies are gone
        receipts = [e for e in audit(sim, "upload_receipt") if e["data"]["kind"] == "segment"]
        assert receipts
    finally:
        sim.shutdown()

    store = running.store
    [recording] = store.catalogue.all("SELECT recording_id, start_s FROM recordings")
    assert recording["start_s"] < LOST_CLOCK + DAY  # the camera's claimed time: year 2000
    assert store.retention.step(running.clock()) == []  # the pass right after the upload
    assert store.retention.step(START + 31 * DAY - 60) == []
    rows = store.catalogue.all("SELECT sha256, stored_utc FROM segments")
    assert rows and all(store.objects.exists(row["sha256"]) for row in rows)
    [listed] = running.operator().recordings()
    assert parse_utc(listed["delete_after_utc"]) >= START + 31 * DAY - 1
    deleted = store.retention.step(START + 31 * DAY + 60)
    assert [d["recording_id"] for d in deleted] == [recording["recording_id"]]
