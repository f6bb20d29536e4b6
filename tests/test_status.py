"""The status a running camera reports (``bodycam status --json``, the control socket's and the
serial console's ``status``): every key, in order, with the type it has always had. Scripts
read this; a key that vanishes or changes type breaks them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from device.control import Controller, encode
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.evidence import cut_power

NONE = type(None)
#: key -> the JSON types it may have, in the order the keys come.
STATUS: dict[str, tuple[type, ...]] = {
    "mode": (str,), "camera": (str,), "fault": (str, NONE), "flags": (dict,),
    "docked": (bool,), "device_id": (str, NONE), "led": (dict,), "battery_percent": (float,),
    "charging": (bool,), "storage_free_bytes": (int,), "buffered_s": (float,),
    "frames_captured": (int,), "frames_dropped": (int,), "recording": (dict, NONE),
    "last_recording": (dict, NONE), "recovered": (list,), "audit_entries": (int, NONE),
    "audit_error": (str, NONE), "utc": (str,), "clock_set": (bool,), "data_dir": (str,),
    "upload": (dict,), "location": (dict,), "audio": (dict, NONE), "encryption": (str,),
    "encoder": (dict,),
    "officer": (str,),
}
#: the encoder's settings in force and the real-time watch (device/pipeline/adapt.py)
ENCODER: dict[str, tuple[type, ...]] = {
    "codec": (str,), "preset": (str,), "crf": (int,), "bitrate_kbps": (int,),
    "settings": (str,), "configured": (str,), "floor": (str,), "level": (int,),
    "adapted": (bool,), "hardware": (bool,), "load": (float, int, NONE), "changes": (int,),
    "preview_fps": (float, int, NONE)}
FLAGS = ["stealth", "muted", "low_battery", "storage_low", "clock_not_set", "dock_pending",
         "stop_pending", "camera_fault"]
LED: dict[str, tuple[type, ...]] = {"colour": (str, NONE), "on_s": (float,), "off_s": (float,),
                                    "alt": (str, NONE), "every_led": (bool,), "text": (str,)}
#: ``first_live_written_mono`` is there once the first frame after the press is written.
RECORDING: dict[str, tuple[type, ...]] = {
    "id": (str,), "reason": (str,), "started_utc": (str,), "segments": (int,),
    "markers": (int,), "pre_event": (bool,), "first_live_written_mono": (float,),
    "seconds": (float,)}
LAST_RECORDING: dict[str, tuple[type, ...]] = {"id": (str,), "segments": (list,),
                                               "reason": (str,)}
RECOVERED: dict[str, tuple[type, ...]] = {
    "file": (str,), "recording_id": (str,), "frames": (int,), "kept_bytes": (int,),
    "torn_bytes": (int,), "detail": (str,)}
UPLOAD = ["state", "store", "pending_segments", "pending_bytes", "current", "bytes_sent",
          "uploaded", "receipts", "quarantined", "failed", "not_uploadable", "last_receipt",
          "last_error", "retry_in_s"]


def wire_status(sim: Simulator) -> dict[str, Any]:
    """The status as it goes over the socket and the serial line: JSON, in its key order."""
    reply = json.loads(encode(Controller(sim.daemon).handle({"cmd": "status"})))
    assert reply["ok"] is True
    return reply["status"]


def check(value: dict[str, Any], shape: dict[str, tuple[type, ...]], where: str,
          optional: tuple[str, ...] = ()) -> None:
    keys = [k for k in shape if k in value or k not in optional]
    assert list(value) == keys, where
    for key in keys:
        # bool is an int in Python, and 1.0 is not an int in JSON: exact types
        assert type(value[key]) in shape[key], f"{where}.{key}: {value[key]!r}"


def check_status(status: dict[str, Any]) -> None:
    check(status, STATUS, "status")
    if status["encoder"]:  # empty while the camera is off (no pipeline)
        check(status["encoder"], ENCODER, "encoder")
    assert list(status["flags"]) == FLAGS
    assert all(type(v) is bool for v in status["flags"].values())
    check(status["led"], LED, "led")
    if status["recording"] is not None:
        check(status["recording"], RECORDING, "recording",
              optional=("first_live_written_mono",))
    if status["last_recording"] is not None:
        check(status["last_recording"], LAST_RECORDING, "last_recording")
        assert all(type(s) is str for s in status["last_recording"]["segments"])
    for entry in status["recovered"]:
        check(entry, RECOVERED, "recovered")
    assert list(status["upload"]) == UPLOAD


def test_status_keeps_every_key_and_type_through_a_camera_s_day(make_sim) -> None:
    sim = make_sim()
    seen: dict[str, dict[str, Any]] = {}

    def look(label: str) -> None:
        seen[label] = status = wire_status(sim)
        check_status(status)

    look("buffering")
    sim.button("record").double_press()
    sim.advance(2)
    look("recording")
    sim.button("function").press()
    sim.advance(5)
    look("recording, a marker, a segment closed")
    sim.button("record").hold(3.2)
    sim.advance(4)
    look("after the recording")
    sim.dock.dock()
    sim.advance(1)
    look("docked")
    sim.dock.undock()
    sim.camera.unplug()
    sim.advance(2)
    look("fault")
    # each situation was reached and shows in the status
    assert seen["buffering"]["mode"] == "buffering" and seen["buffering"]["recording"] is None
    recording = seen["recording, a marker, a segment closed"]["recording"]
    assert recording["markers"] == 1 and recording["segments"] >= 1
    assert "first_live_written_mono" in recording
    assert recording["seconds"] > seen["recording"]["recording"]["seconds"]
    assert seen["after the recording"]["last_recording"]["reason"] == "record hold"
    assert seen["docked"]["mode"] == "docked" and seen["docked"]["docked"] is True
    assert seen["fault"]["mode"] == "fault" and seen["fault"]["fault"]


def test_status_after_a_power_cut_lists_what_was_recovered(tmp_path: Path) -> None:
    sim = Simulator(tiny_config(), tmp_path / "d")
    sim.power_on()
    cut_power(sim, 6)
    again = Simulator(tiny_config(), tmp_path / "d")
    again.power_on()
    try:
        status = wire_status(again)
        check_status(status)
        assert status["recovered"] and status["recovered"][0]["detail"] == ""
    finally:
        again.shutdown()


def test_status_of_a_camera_without_its_key(tmp_path: Path) -> None:
    """No key: no identity and no audit log, which the status says with nulls."""
    sim = Simulator(tiny_config(device={"create_key_on_first_start": False}), tmp_path / "d",
                    provisioned=False)
    sim.power_on()
    try:
        status = wire_status(sim)
        check_status(status)
        assert status["mode"] == "fault" and status["device_id"] is None
        assert status["audit_entries"] is None
    finally:
        sim.shutdown()


def test_a_status_read_back_from_its_json_is_the_same(make_sim) -> None:
    from device.status import Status

    sim = make_sim()
    sim.button("record").double_press()
    sim.advance(6)
    status = sim.daemon.status()
    assert status.recording is not None and status.recording.segments >= 1
    again = Status.from_json(json.loads(json.dumps(status.to_json())))
    assert again == status


def test_a_status_the_command_line_cannot_read_is_a_one_line_error(
        tmp_path: Path, monkeypatch, capsys) -> None:
    from device import control
    from device.cli import main

    monkeypatch.setattr(control, "request", lambda data_dir, payload: {
        "ok": True, "status": {"mode": "buffering"}})
    assert main(["status", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bodycam status: error: ") and err.count("\n") == 1, err
    assert "--json" in err
    assert main(["status", "--json", "--data-dir", str(tmp_path)]) == 0  # shown as it came
    assert json.loads(capsys.readouterr().out) == {"mode": "buffering"}
