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
