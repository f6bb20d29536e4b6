"""The terminal panel (``bodycam sim --tui``) draws what the daemon's status says."""

from __future__ import annotations

from sim.tui import Panel


def test_the_panel_shows_the_mode_recording_flags_and_led(make_sim) -> None:
    sim = make_sim()
    sim.button("record").double_press()
    sim.advance(1)
    sim.button("function").hold(3.2)
    sim.advance(4)
    status = sim.daemon.status()
    assert status.recording is not None and status.flags["muted"]
    screen = Panel().draw(sim)
    assert "mode: RECORDING" in screen
    assert f"recording: {status.recording.id} " in screen
    assert "flags: muted" in screen
    assert status.led.describe() in screen
    sim.button("record").hold(3.2)
    sim.advance(4)
    assert "recording: -" in Panel().draw(sim) and "mode: BUFFERING" in Panel().draw(sim)


def test_a_hold_key_holds_as_long_as_the_configuration_s_hold(make_sim) -> None:
    """``gestures.hold_s`` set to 5 s: the panel's hold keys still make holds."""
    from tests.conftest import tiny_config

    sim = make_sim(tiny_config(gestures={"hold_s": 5.0}))
    panel = Panel()
    panel.key(sim, "u")  # hold FUNCTION: mute
    sim.advance(6)
    assert sim.daemon.flags["muted"]
    panel.key(sim, "r")
    sim.advance(2)
    assert sim.mode == "recording"
    panel.key(sim, "s")  # hold RECORD: stop
    sim.advance(6)
    assert sim.mode == "buffering"
