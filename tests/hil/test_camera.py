"""The camera's behaviour as seen on its serial console: boot, gestures with their indicators,
markers, stealth, triggers, the dock and bad input. Runs on the simulator and on a board."""

from __future__ import annotations

import pytest

from tests.hil.console import Event
from tests.hil.device import Device, in_order
from tests.hil.targets import Target


def test_boot_ends_in_buffering_with_tones_and_a_green_led(device: Device) -> None:
    assert device.status()["mode"] == "buffering"
    kept = [Event.from_dict(e) for e in device.ask("events")["events"]]
    boots = [i for i, e in enumerate(kept) if e.matches("power", action="on")]
    if not boots:  # only a board that has been up a long time gets here
        pytest.skip("the boot's events are no longer kept; power-cycle the board first")
    in_order(kept[boots[-1]:],
             ("mode", {"source": "off", "dest": "booting"}),
             ("led", {"colour": "red", "off_s": 0.0}),  # solid red while booting
             ("tones", {"signal": "boot_done"}),  # two rising tones
             ("mode", {"source": "booting", "dest": "buffering"}),
             ("led", {"colour": "green"}))
    info = device.info
    assert info["device_id"] and info["version"] and info["clock"] in ("virtual", "real")


def test_record_and_stop_gestures_with_led_and_tones_in_order(device: Device) -> None:
    mark = device.mark()
    device.gesture("press", "record")  # a brush against the button does nothing
    in_order(device.since(mark), ("gesture", {"button": "record", "accepted": False}))
    assert not [e for e in device.since(mark) if e.kind in ("mode", "tones", "led")]

    mark = device.mark()
    device.gesture("double", "record")
    started = device.since(mark)
    in_order(started,
             ("gesture", {"button": "record", "gesture": "double", "accepted": True}),
             ("recording_start", {"pre_event": True}),
             ("tones", {"signal": "recording_started"}),
             ("vibration", {"signal": "recording_started"}),
             ("mode", {"source": "buffering", "dest": "recording"}),
             ("led", {"colour": "red", "every_led": False}))
    led = [e for e in started if e.kind == "led"][-1]
    assert led.data["off_s"] > 0, "the red circle blinks while recording"
    assert device.status()["recording"]["reason"] == "record double"

    device.elapse(3)
    mark = device.mark()
    device.gesture("hold", "record")
    in_order(device.since(mark),
             ("gesture", {"button": "record", "gesture": "hold", "accepted": True}),
             ("tones", {"signal": "recording_stopped"}),  # one long tone
             ("mode", {"source": "recording", "dest": "buffering"}),
             ("led", {"colour": "green"}))
    closed = device.wait_for("recording_closed", mark)
    assert closed.data["segments"], "the recording has segments"


def test_markers_from_the_console_and_the_function_button(device: Device) -> None:
    assert "no recording to mark" in device.refuse("marker too early")
    device.gesture("double", "record")
    device.elapse(1)
    mark = device.mark()
    device.ask("marker suspect left the scene")
    device.wait_for("marker", mark, note="suspect left the scene")
    device.gesture("press", "function")
    device.wait_for("marker", mark, reason="function press")
    assert device.status()["recording"]["markers"] == 2
    device.gesture("hold", "record")


def test_stealth_silences_everything_and_brings_it_back(device: Device) -> None:
    mark = device.mark()
    device.gesture("hold", "program")
    in_order(device.since(mark), ("flag", {"flag": "stealth", "value": True}),
             ("led", {"colour": None}))

    mark = device.mark()
    device.gesture("double", "record")
    device.elapse(2)
    assert device.status()["mode"] == "recording"
    shown = [e for e in device.since(mark) if e.kind in ("led", "tones", "vibration")]
    assert not shown, f"stealth, yet the camera showed {shown}"

    mark = device.mark()
    device.gesture("hold", "program")
    in_order(device.since(mark), ("flag", {"flag": "stealth", "value": False}),
             ("led", {"colour": "red"}))  # the red circle is back
    mark = device.mark()
    device.gesture("hold", "record")
    in_order(device.since(mark), ("tones", {"signal": "recording_stopped"}))


def test_triggers_start_a_recording_and_never_stop_one(device: Device) -> None:
    mark = device.mark()
    assert device.ask("trigger holster") == {"started": True, "mode": "recording"}
    in_order(device.since(mark),
             ("trigger", {"name": "holster", "action": "start recording"}),
             ("recording_start", {"reason": "trigger:holster"}),
             ("mode", {"dest": "recording"}))
    assert device.ask("trigger peer") == {"started": False, "mode": "recording"}  # a peer camera
    assert device.status()["recording"]["reason"] == "trigger:holster"
    assert 'unknown trigger "banana"' in device.refuse("trigger banana")
    device.gesture("hold", "record")
    assert device.status()["mode"] == "buffering"


def test_docking_mid_recording_docks_when_it_stops(device: Device) -> None:
    if not device.has("dock"):
        pytest.skip("no dock command: a board's dock is a contact (needs a dock rig)")
    device.gesture("double", "record")
    mark = device.mark()
    device.ask("dock")
    device.wait_for("flag", mark, flag="dock_pending", value=True)
    device.gesture("hold", "record")
    in_order(device.since(mark), ("gesture", {"button": "record", "gesture": "hold"}),
             ("led", {"colour": "amber"}), ("mode", {"source": "recording", "dest": "docked"}))
    mark = device.mark()
    device.ask("undock")
    in_order(device.since(mark), ("mode", {"dest": "buffering"}), ("led", {"colour": "green"}))


@pytest.mark.rig("button")
def test_the_buttons_themselves_mark_and_stop(device: Device, target: Target) -> None:
    device.gesture("double", "record")
    mark = device.mark()
    target.press(device, "function", 0.2)
    device.elapse(0.5)
    device.wait_for("marker", mark, reason="function press")
    target.press(device, "record", 3.3)
    device.elapse(0.5)
    in_order(device.since(mark), ("gesture", {"button": "record", "gesture": "hold"}),
             ("mode", {"dest": "buffering"}))


def test_bad_lines_get_one_error_each_and_change_nothing(device: Device) -> None:
    device.gesture("double", "record")
    before = device.status()
    junk = [b"\xff\xfe\xfd\n", b"A" * 100_000 + b"\n", b"\x00\x01\x1b[2J\n",
            bytes(range(128, 256)) + b"\n", b"press elbow\n", b"hold record forever\n",
            b"#no-such-id-is-this-long-1234567890 status\n", b"reboot now\n"]
    for line in junk:
        device.console.write(line)
        reply = device.console.answer()
        assert reply.startswith("error ") and len(reply) < 300, reply
    after = device.status()
    assert (after["mode"], after["flags"]) == (before["mode"], before["flags"]) == (
        "recording", before["flags"])
    if device.virtual:  # nothing reached the camera: not even an audit entry
        assert after["audit_entries"] == before["audit_entries"]
    device.gesture("hold", "record")
    assert device.status()["mode"] == "buffering"
