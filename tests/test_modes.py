"""Every gesture in every mode, table-driven, on the injected clock."""

from __future__ import annotations

import json

import pytest

from sim.simulator import Simulator
from tests.conftest import tiny_config

MODES = ["off", "standby", "buffering", "recording", "docked", "fault"]
SAME = {m: m for m in MODES}

#: (button, gesture) -> mode before -> mode after. Flags are checked separately below.
TABLE: dict[tuple[str, str], dict[str, str]] = {
    ("record", "double"): {**SAME, "standby": "recording", "buffering": "recording"},
    ("record", "hold"): {**SAME, "recording": "buffering"},
    ("record", "press"): SAME,
    ("function", "press"): SAME,
    ("function", "hold"): SAME,
    ("power", "press"): {**SAME, "off": "buffering"},
    ("power", "hold"): dict.fromkeys(MODES, "off"),
    ("program", "press"): SAME,
    ("program", "hold"): SAME,
}
FLAG_TOGGLES = {("function", "hold"): "muted", ("program", "hold"): "stealth"}


def bring_to(sim: Simulator, mode: str) -> None:
    sim.advance(1)
    if mode == "off":
        sim.button("power").hold(3.2)
    elif mode == "standby":
        sim.daemon.post("toggle_standby", reason="test set-up")
    elif mode == "recording":
        sim.button("record").double_press()
    elif mode == "docked":
        sim.dock.dock()
    elif mode == "fault":
        sim.camera.unplug()
    sim.advance(4)
    assert sim.mode == mode


def perform(sim: Simulator, button: str, gesture: str) -> None:
    target = sim.button(button)
    {"press": target.press, "double": target.double_press,
     "hold": lambda: target.hold(3.2)}[gesture]()
    sim.advance(4)


CASES = [(mode, button, gesture) for (button, gesture) in TABLE for mode in MODES]


@pytest.mark.parametrize("mode, button, gesture", CASES,
                         ids=[f"{m}-{b}-{g}" for m, b, g in CASES])
def test_gesture_in_mode(make_sim, mode: str, button: str, gesture: str) -> None:
    sim = make_sim()
    bring_to(sim, mode)
    flags_before = dict(sim.daemon.flags)
    perform(sim, button, gesture)
    assert sim.mode == TABLE[(button, gesture)][mode]
    toggled = FLAG_TOGGLES.get((button, gesture))
    for flag in ("muted", "stealth"):
        expected = flags_before[flag] ^ (flag == toggled and mode != "off")
        assert sim.daemon.flags[flag] == expected, flag
    audit = [json.loads(line) for line in
             (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()]
    gestures = [e for e in audit if e["event"] == "gesture"]
    if mode != "off":  # every gesture of a camera that is on is audited
        assert gestures[-1]["data"]["button"] == button
        assert gestures[-1]["data"]["gesture"] == gesture
    elif sim.mode != "off":  # switched on: the power-on is the first thing audited after
        assert audit[-1]["event"] == "mode" or any(e["event"] == "power" for e in audit)


def test_a_marker_lands_in_the_manifest_and_the_audit_log(make_sim) -> None:
    sim = make_sim()
    bring_to(sim, "recording")
    sim.button("function").press()
    sim.advance(1)
    sim.button("record").hold(3.2)
    sim.advance(4)
    manifests = [json.loads(p.read_text()) for p in
                 sorted(sim.data_dir.glob("recordings/*/*.mp4.json"))]
    markers = [m for man in manifests for m in man["markers"]]
    assert len(markers) == 1 and markers[0]["utc"].endswith("Z")
    audit = (sim.data_dir / "audit" / "audit.jsonl").read_text()
    assert '"event":"marker"' in audit


def test_starting_from_standby_has_no_pre_event_footage(make_sim) -> None:
    sim = make_sim()
    bring_to(sim, "standby")
    sim.advance(5)
    sim.button("record").double_press()
    sim.advance(2)
    sim.button("record").hold(3.2)
    sim.advance(4)
    first = json.loads(sorted(sim.data_dir.glob("recordings/*/*.mp4.json"))[0].read_text())
    assert first["pre_event_s"] == 0


def test_triggers_start_a_recording_with_their_name_and_never_stop_one(make_sim) -> None:
    sim = make_sim()
    sim.daemon.post("trigger", name="taser")
    sim.advance(1)
    assert sim.mode == "recording"
    assert sim.daemon.recording["reason"] == "trigger:taser"
    sim.daemon.post("trigger", name="holster")
    sim.advance(1)
    assert sim.mode == "recording"
    bring_to_buffering = sim.button("record")
    bring_to_buffering.hold(3.2)
    sim.advance(4)
    sim.daemon.post("toggle_standby", reason="test")
    sim.advance(1)
    sim.daemon.post("trigger", name="lightbar")
    sim.advance(1)
    assert sim.mode == "recording"


def test_docking_mid_recording_keeps_recording_and_docks_at_the_stop(make_sim) -> None:
    sim = make_sim()
    bring_to(sim, "recording")
    sim.dock.dock()
    sim.advance(10)
    assert sim.mode == "recording" and sim.daemon.flags["dock_pending"]
    sim.button("record").hold(3.2)
    sim.advance(4)
    assert sim.mode == "docked" and not sim.daemon.flags["dock_pending"]
    sim.dock.undock()
    sim.advance(1)
    assert sim.mode == "buffering"


def test_confirm_stop_needs_a_press_within_the_window(make_sim) -> None:
    sim = make_sim(tiny_config(gestures={"confirm_stop": True, "confirm_window_s": 5}))
    bring_to(sim, "recording")
    sim.button("record").hold(3.2)
    sim.advance(9)  # recognised at 3 s, no confirmation within 5 s: the stop lapses
    assert sim.mode == "recording" and not sim.daemon.flags["stop_pending"]
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    assert sim.daemon.flags["stop_pending"]
    sim.button("record").press()
    sim.advance(1)
    assert sim.mode == "buffering"


def test_program_hold_can_toggle_standby_instead_of_stealth(make_sim) -> None:
    sim = make_sim(tiny_config(gestures={"program_hold": "standby"}))
    perform(sim, "program", "hold")
    assert sim.mode == "standby" and not sim.daemon.flags["stealth"]
    perform(sim, "program", "hold")
    assert sim.mode == "buffering"


def test_critical_battery_finalises_and_signs_the_recording_then_powers_off(make_sim) -> None:
    sim = make_sim()
    bring_to(sim, "recording")
    sim.battery.level = 2.5
    sim.advance(sim.config.power.poll_s + 1)
    assert sim.mode == "off"
    from evidence.verify import verify
    findings = verify([sim.data_dir])
    assert findings and all(f.ok for f in findings), findings
    last = json.loads(sorted(sim.data_dir.glob("recordings/*/*.mp4.json"))[-1].read_text())
    assert last["last"] is True


def test_storage_full_finalises_the_recording_and_faults_without_deleting(make_sim) -> None:
    sim = make_sim()
    bring_to(sim, "recording")
    sim.advance(5)
    before = {p: p.stat().st_size for p in sim.data_dir.rglob("*.mp4")}
    sim.storage.limit_bytes = 1024
    sim.advance(sim.config.power.poll_s + 1)
    assert sim.mode == "fault" and sim.daemon.fault == "storage full"
    for path, size in before.items():
        assert path.exists() and path.stat().st_size == size
    from evidence.verify import verify
    assert all(f.ok for f in verify([sim.data_dir]))
    sim.storage.limit_bytes = None
    sim.advance(sim.config.power.poll_s + 1)
    assert sim.mode == "buffering"


@pytest.mark.parametrize(("end", "why"), [
    ("battery", "battery critical (2 %)"), ("hold", "record hold"), ("shutdown", "shutdown")])
def test_a_closed_recording_says_why_it_ended(make_sim, end: str, why: str) -> None:
    """Not a bare "stopped": the panel's "last:" line (status ``last_recording``), the
    daemon's note (the headless line) and the audit log's recording_closed entry name what
    ended it."""
    sim = make_sim()
    bring_to(sim, "recording")
    if end == "battery":
        sim.battery.level = 2.5
        sim.advance(sim.config.power.poll_s + 1)
    elif end == "hold":
        sim.button("record").hold(3.2)
        sim.advance(3.5)
    else:
        sim.shutdown()
    assert sim.daemon.last_recording is not None
    assert sim.daemon.last_recording["reason"] == why
    lines = (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()
    closed = [json.loads(line) for line in lines if '"event":"recording_closed"' in line]
    assert [c["reason"] for c in closed] == [why]
    note = next(text for _, text in sim.daemon.history if text.startswith("recording "))
    assert note.endswith(f"segment(s), {why}"), note
