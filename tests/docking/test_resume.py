"""Uploads resume where they stopped: undock mid-file, the store restarted, the store away, the
device not yet enrolled. Nothing is lost, nothing is sent twice, nothing is deleted early."""

from __future__ import annotations

import hashlib

from device.upload.uploader import BACKOFF, IDLE
from evidence.manifest import sha256_file
from sim.simulator import Simulator
from tests.docking.conftest import (
    audit,
    dock,
    dock_config,
    drive,
    enrol,
    record,
    segments,
    undock,
)
from tests.evidence_store.conftest import Running


def step_until(sim: Simulator, sent: int) -> None:
    """Drive the uploader until ``sent`` chunks have gone."""
    count = 0
    while count < sent:
        result = sim.daemon.uploader.step()
        sim.daemon.sync()
        assert result not in (IDLE, BACKOFF), result
        count += result == "sent"


def stored_exactly(running: Running, recorded: dict[str, int]) -> None:
    """The store holds each recorded segment once, byte for byte, and no other."""
    rows = running.store.catalogue.all("SELECT sha256, size FROM segments")
    assert sorted((r["sha256"], r["size"]) for r in rows) == sorted(recorded.items())
    for digest in recorded:
        assert hashlib.sha256(running.store.objects.read_bytes(digest)).hexdigest() == digest
    uploads = running.store.catalogue.all("SELECT kind FROM uploads WHERE kind = 'segment'")
    assert len(uploads) == len(recorded)  # resumed, never opened afresh


def snapshot(sim: Simulator) -> dict[str, int]:
    return dict(sha256_file(mp4) for mp4 in segments(sim))


def audit_bytes(sim: Simulator) -> int:
    return sum(e["data"]["size"] for e in audit(sim, "upload_receipt")
               if e["data"]["kind"] == "audit_log")


def mid_upload(make_sim, running: Running, sent: int) -> tuple[Simulator, dict[str, int]]:
    """An enrolled camera with a recording, docked, ``sent`` chunks into its upload."""
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    recorded = snapshot(sim)
    dock(sim)
    step_until(sim, sent)
    return sim, recorded


def test_undocked_mid_file_and_docked_again_resumes_without_resending(make_sim,
                                                                      running: Running):
    sim, recorded = mid_upload(make_sim, running, sent=3)
    first = sim.daemon.status().upload["bytes_sent"]
    undock(sim)
    assert sim.daemon.uploader.step() == IDLE  # stops at once: no more requests
    assert snapshot(sim) == recorded  # nothing deleted without a receipt
    assert sim.daemon.status().upload["state"] == "undocked"

    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []
    stored_exactly(running, recorded)
    second = sim.daemon.status().upload["bytes_sent"]
    assert first + second - audit_bytes(sim) == sum(recorded.values())


def test_store_restarted_mid_upload_is_retried_with_backoff_and_resumed(make_sim,
                                                                        running: Running):
    sim, recorded = mid_upload(make_sim, running, sent=2)
    port = running.server.server_address[1]
    running.stop()
    assert drive(sim)[-1] == BACKOFF
    status = sim.daemon.status().upload
    assert status["state"] == "backoff" and status["last_error"]  # a 500, or unreachable
    assert sim.daemon.uploader.step() == BACKOFF  # not due yet: no request
    sim.advance(status["retry_in_s"])
    assert drive(sim)[-1] == BACKOFF  # still down: waits longer
    again = sim.daemon.status().upload
    assert "unreachable" in again["last_error"] and again["retry_in_s"] >= 1.0
    running.start(port)
    sim.advance(sim.daemon.status().upload["retry_in_s"])
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []
    stored_exactly(running, recorded)
    status = sim.daemon.status().upload
    assert status["state"] == "done" and status["last_error"] is None


def test_unenrolled_camera_keeps_everything_and_uploads_once_enrolled(make_sim,
                                                                      running: Running):
    sim = make_sim(dock_config(running))
    record(sim, 6.0)
    recorded = snapshot(sim)
    dock(sim)
    assert drive(sim)[-1] == BACKOFF
    status = sim.daemon.status().upload
    assert "not enrolled" in status["last_error"] and "\n" not in status["last_error"]
    assert snapshot(sim) == recorded
    assert running.store.catalogue.all("SELECT * FROM uploads") == []
    enrol(running, sim)
    sim.advance(status["retry_in_s"])
    assert drive(sim)[-1] == IDLE
    assert segments(sim) == []
    stored_exactly(running, recorded)
