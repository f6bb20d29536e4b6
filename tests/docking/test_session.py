"""A dock session: marked recordings first, the clock and settings from the store, status."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.upload import settings as store_settings
from device.upload.uploader import BACKOFF, IDLE
from hal.clock import ClockSetError, SystemClock
from sim.clock import DEFAULT_EPOCH, SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.http import StoreHTTPServer, tls_context
from store.service import CAMERA_SETTINGS, Store, StoreDirError
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
from tests.evidence_store.conftest import START, Running
from tests.evidence_store.test_tls import self_signed


def test_marked_and_triggered_recordings_go_first(make_sim, running: Running):
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 2.0)                      # R1: plain
    record(sim, 2.0, marker=True)         # R2: a marker
    record(sim, 2.0, trigger="holster")   # R3: auto-activated
    record(sim, 2.0)                      # R4: plain
    dock(sim)
    assert drive(sim)[-1] == IDLE
    order = [e["data"]["recording_id"][:7] for e in audit(sim, "upload_receipt")
             if e["data"]["kind"] == "segment"]
    firsts = list(dict.fromkeys(order))
    assert firsts == ["R000002", "R000003", "R000001", "R000004"]
    assert order == sorted(order, key=firsts.index)  # a recording's segments together


def test_clock_is_set_from_the_store_on_dock(running: Running, tmp_path: Path):
    clock = SimClock()
    clock.wall_is_set = False  # a flat battery lost it
    sim = Simulator(dock_config(running), tmp_path / "cam", clock=clock, encoder=FakeEncoder)
    sim.power_on()
    try:
        enrol(running, sim)
        assert sim.daemon.flags["clock_not_set"]
        dock(sim)
        assert drive(sim)[-1] == IDLE
        assert abs(clock.wall() - START) < 5 and clock.wall_is_set
        assert not sim.daemon.flags["clock_not_set"]
        [entry] = audit(sim, "clock")
        assert entry["data"]["action"] == "set" and entry["data"]["delta_s"] >= 3590
        assert sim.daemon.status().upload["state"] == "done"
    finally:
        sim.shutdown()


class FixedClock(SimClock):
    """A clock the firmware may not set (as a Pi without CAP_SYS_TIME)."""

    def set_wall(self, wall: float, is_set: bool = True) -> None:
        raise ClockSetError("setting the system clock needs CAP_SYS_TIME")


def test_a_clock_that_cannot_be_set_is_reported_and_uploads_sign_with_store_time(
        running: Running, tmp_path: Path):
    sim = Simulator(dock_config(running), tmp_path / "cam", clock=FixedClock(), encoder=FakeEncoder)
    sim.power_on()
    try:
        enrol(running, sim)
        record(sim, 4.0)
        dock(sim)
        assert drive(sim)[-1] == IDLE
        assert segments(sim) == []  # an hour off, yet every request was accepted
        [entry] = audit(sim, "clock")
        assert entry["data"]["action"] == "not set" and "CAP_SYS_TIME" in entry["reason"]
        assert sim.clock.wall() < DEFAULT_EPOCH + 3000
    finally:
        sim.shutdown()


def test_system_clock_without_privilege_says_what_it_needs() -> None:
    class Denied(SystemClock):
        @staticmethod
        def settime(clock_id: int, seconds: float) -> None:
            raise PermissionError(1, "Operation not permitted")

    clock = Denied()
    try:
        with pytest.raises(ClockSetError, match="CAP_SYS_TIME"):
            clock.set_wall(START)
    finally:
        clock.close()


def write_settings(running: Running, document: dict) -> None:
    (running.directory / CAMERA_SETTINGS).write_text(json.dumps(document))
    running.restart()


def test_settings_from_the_store_are_applied_audited_and_kept(running: Running,
                                                              tmp_path: Path):
    write_settings(running, {"indicators": {"reminder_interval_s": 60},
                             "recording": {"pre_event_s": 5}})
    config = dock_config(running)
    sim = Simulator(config, tmp_path / "cam", encoder=FakeEncoder)
    sim.power_on()
    enrol(running, sim)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert sim.daemon.config.indicators.reminder_interval_s == 60
    assert sim.daemon.pipeline is not None
    assert sim.daemon.pipeline.recorder.config.recording.pre_event_s == 5  # made anew
    changes = {e["data"]["key"]: (e["data"]["old"], e["data"]["new"])
               for e in audit(sim, "setting")}
    assert changes == {"indicators.reminder_interval_s": (120.0, 60.0),
                       "recording.pre_event_s": (2.0, 5.0)}
    undock(sim)
    assert sim.mode == "buffering"
    sim.shutdown()

    again = Simulator(config, tmp_path / "cam", encoder=FakeEncoder)  # a restart keeps them
    again.power_on()
    try:
        assert again.daemon.config.recording.pre_event_s == 5
        dock(again)
        assert drive(again)[-1] == IDLE
        assert audit(again, "setting") == audit(sim, "setting")  # nothing changed this time
    finally:
        again.shutdown()


def test_settings_are_ignored_when_the_camera_says_so(running: Running, make_sim):
    write_settings(running, {"indicators": {"reminder_interval_s": 60}})
    sim = make_sim(dock_config(running, store_settings=False))
    enrol(running, sim)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert sim.daemon.config.indicators.reminder_interval_s == 120
    assert audit(sim, "setting") == []


def test_settings_this_camera_cannot_take_are_refused_whole_and_audited(make_sim):
    sim = make_sim()
    dock(sim)
    answer = sim.daemon.request("store_settings", store_id="store-x", settings={
        "indicators": {"reminder_interval_s": 60}, "recording": {"warp": 9}})
    sim.daemon.sync()
    assert "unknown key recording.warp" in answer.result()["error"]
    assert sim.daemon.config.indicators.reminder_interval_s == 120  # nothing of it applied
    [entry] = audit(sim, "settings_refused")
    assert "settings from the store" in entry["reason"]
    assert not (sim.data_dir / store_settings.SAVED).exists()


def test_store_refuses_to_serve_settings_a_camera_would_refuse(store_dir) -> None:
    directory, _ = store_dir
    (directory / CAMERA_SETTINGS).write_text('{"upload": {"store_url": "http://evil"}}')
    with pytest.raises(StoreDirError, match=r"camera-settings.json: .*section \[upload\]"):
        Store(directory)
    (directory / CAMERA_SETTINGS).write_text('{"recording": {"pre_event_s": 500}}')
    with pytest.raises(StoreDirError, match=r"recording\.pre_event_s: 500 is out of range"):
        Store(directory)


def test_settings_not_signed_by_the_pinned_key_are_refused() -> None:
    raw = b'{"indicators": {"reminder_interval_s": 5}}'
    signer = Ed25519PrivateKey.generate()
    signature = signer.sign(store_settings.SIGNING_PREFIX + raw)
    assert store_settings.parse(raw, signature, signer.public_key())
    with pytest.raises(store_settings.SettingsError, match="does not verify"):
        store_settings.parse(raw, signature, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(store_settings.SettingsError, match="does not verify"):
        store_settings.parse(raw, signer.sign(raw), signer.public_key())  # not a settings sig


def test_status_shows_upload_progress(make_sim, running: Running):
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    count = len(segments(sim))
    before = sim.daemon.status().upload
    assert before["state"] == "undocked" and before["pending_segments"] == count
    assert before["pending_bytes"] == sum(p.stat().st_size for p in segments(sim))
    dock(sim)
    sim.daemon.uploader.step()
    assert sim.daemon.status().upload["state"] == "uploading"
    drive(sim)
    after = sim.daemon.status().upload
    assert after["state"] == "done" and after["pending_segments"] == 0
    assert after["uploaded"] == count and after["receipts"] == count + 1
    assert after["bytes_sent"] >= before["pending_bytes"] and after["last_error"] is None
    assert after["last_receipt"]["store_id"] == running.store.store_id
    json.dumps(sim.daemon.status().to_json())  # what 'bodycam status --json' prints


def test_upload_over_https_to_a_pinned_certificate(make_sim, running: Running,
                                                   tmp_path: Path):
    cert, key = self_signed(tmp_path, "store")
    server = StoreHTTPServer(running.store, "127.0.0.1", 0, tls_context(cert, key))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        impostor, _ = self_signed(tmp_path, "impostor")
        sim = make_sim(dock_config(running, store_url=server.url, tls_cert=str(impostor)))
        enrol(running, sim)
        record(sim, 4.0)
        count = len(segments(sim))
        dock(sim)
        assert drive(sim)[-1] == BACKOFF
        assert "CERTIFICATE_VERIFY_FAILED" in sim.daemon.status().upload["last_error"]
        assert len(segments(sim)) == count

        good = make_sim(dock_config(running, store_url=server.url, tls_cert=str(cert)))
        enrol(running, good)
        record(good, 4.0)
        dock(good)
        assert drive(good)[-1] == IDLE and segments(good) == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
