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
        return
    # an off camera has no log open: its gestures leave nothing, and the shutdown's
    # checkpoint stays the last entry until it is switched on
    off_at = max(i for i, e in enumerate(audit)
                 if e["event"] == "checkpoint" and e["reason"] == "shutdown")
    after = audit[off_at + 1:]
    if sim.mode == "off":
        assert after == []
    else:  # switched on: the power-on is the first thing audited after, then the boot
        assert [e["event"] for e in after[:2]] == ["power", "mode"]
        assert after[0]["data"]["action"] == "on" and after[0]["reason"] == f"{button} {gesture}"
        assert (after[1]["data"]["source"], after[1]["data"]["dest"]) == ("off", "booting")
        assert not [e for e in after if e["event"] == "gesture"]


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
    assert sim.daemon.recording is not None
    assert sim.daemon.recording.reason == "trigger:taser"
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
    assert before  # a segment closed by now: the loop below checks something
    sim.storage.limit_bytes = 1024
    sim.advance(sim.config.power.poll_s + 1)
    assert sim.mode == "fault" and sim.daemon.fault == "storage full"
    for path, size in before.items():
        assert path.exists() and path.stat().st_size == size
    from evidence.verify import verify
    findings = verify([sim.data_dir])
    assert findings and all(f.ok for f in findings), findings
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
    assert sim.daemon.last_recording.reason == why
    lines = (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()
    closed = [json.loads(line) for line in lines if '"event":"recording_closed"' in line]
    assert [c["reason"] for c in closed] == [why]
    note = next(text for _, text in sim.daemon.history if text.startswith("recording "))
    assert note.endswith(f"segment(s), {why}"), note


ON = {"booting", "standby", "buffering", "recording", "docked", "fault"}
#: action -> the modes it does something in (docs/BEHAVIOUR.md); elsewhere it is refused.
ALLOWED: dict[str, set[str]] = {
    "start_recording": {"buffering", "standby"},
    "stop_recording": {"recording"},
    "marker": {"recording"},
    "request_stop": {"recording"},
    "toggle_mute": ON,
    "toggle_stealth": ON,
    "toggle_standby": {"buffering", "standby"},
    "power_on": {"off"},
    "power_off": ON,
    "confirm_stop": set(),  # only while a stop waits for its confirmation, below
}


def test_the_mode_table_says_where_every_action_is_allowed(make_sim) -> None:
    from device.modes import STATES
    from device.status import Recording

    sim = make_sim()
    daemon = sim.daemon
    real = daemon.state
    try:
        for mode in STATES:
            daemon.machine.set_state(mode, model=daemon)
            daemon.recording = Recording("R1", "test", "", 0.0, False) \
                if mode == "recording" else None
            for action, modes in ALLOWED.items():
                assert daemon.may_trigger(action) == (mode in modes), (action, mode)
            daemon.flags["stop_pending"] = True  # as a RECORD hold with confirm_stop leaves it
            assert daemon.may_trigger("confirm_stop") == (mode == "recording"), mode
            daemon.flags["stop_pending"] = False
        daemon.machine.set_state("recording", model=daemon)
        daemon.recording = None  # the recording could not start (its counter failed)
        assert not daemon.may_trigger("marker")
    finally:
        daemon.machine.set_state(real, model=daemon)
        daemon.recording = None


def test_an_action_the_mode_refuses_is_audited_as_refused_and_changes_nothing(make_sim
                                                                             ) -> None:
    sim = make_sim()
    sim.button("function").press()  # a marker, but nothing is recording
    sim.advance(1)
    audit = [json.loads(line) for line in
             (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()]
    gesture = [e for e in audit if e["event"] == "gesture"][-1]
    assert gesture["data"]["action"] == "marker" and gesture["data"]["accepted"] is False
    assert not [e for e in audit if e["event"] == "marker"]
    notes = [text for _, text in sim.daemon.history if text.startswith("gesture: ")]
    assert notes[-1] == "gesture: function press -> nothing"
    placed = sim.daemon.request("marker", note="x")
    sim.daemon.sync()
    assert placed.result(timeout=0) is False  # what the control socket's refusal is made of


def test_every_trigger_of_the_mode_table_has_a_handler_and_an_unknown_event_is_refused(
        make_sim) -> None:
    from device.daemon import UnknownEvent

    sim = make_sim()
    assert set(sim.daemon.machine.events) <= set(sim.daemon.handlers)
    with pytest.raises(UnknownEvent) as err:
        sim.daemon.post("toggle_everything", reason="test")
    message = str(err.value)
    assert "'toggle_everything'" in message and "marker" in message and "\n" not in message
    assert sim.daemon.events.empty()


def test_asking_again_for_a_stop_gives_a_whole_new_window(make_sim) -> None:
    """A second RECORD hold while a stop waits sounds the confirm tones again: its window
    runs from then, not from the first hold's (whose timer must not end the new one)."""
    sim = make_sim(tiny_config(gestures={"confirm_stop": True, "confirm_window_s": 5}))
    bring_to(sim, "recording")
    sim.button("record").hold(3.2)
    sim.advance(3.5)  # asked at 3 s: until 8 s from the first hold
    assert sim.daemon.flags["stop_pending"]
    sim.button("record").hold(3.2)
    sim.advance(4)  # asked again at 3 s: the window now ends 5 s later
    assert sim.daemon.flags["stop_pending"]
    sim.advance(1)  # past where the first window ended
    assert sim.daemon.flags["stop_pending"] and sim.mode == "recording"
    sim.button("record").press()
    sim.advance(1)
    assert sim.mode == "buffering"
