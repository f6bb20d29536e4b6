"""The daemon on the Pi backend (mock pins, simulated camera and clock): the record gestures
done on the GPIO pins record, with the LED and tones showing on their pins."""

from __future__ import annotations

from pathlib import Path

from device.config import Config
from device.daemon import Daemon
from hal.indicators import LedState
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.microphone import SimMicrophone
from tests.pi_rig import mock_factory, pi_hardware, wait_states


def test_pin_gestures_drive_the_daemon(tmp_path: Path, config: Config) -> None:
    factory, clock = mock_factory(), SimClock()
    cam = config.camera
    hw = pi_hardware(config, tmp_path / "data", pin_factory=factory, clock=clock,
                     camera=(camera := SimCamera(clock, cam.width, cam.height, cam.fps)),
                     microphone=SimMicrophone(clock, config.audio.rate, config.audio.channels,
                                              camera=camera),  # the machine has no ALSA card
                     power_supply=tmp_path)
    daemon = Daemon(hw, config, tmp_path / "data")

    def advance(seconds: float) -> None:  # a frame at a time, letting the daemon catch up
        target = clock.monotonic() + seconds
        while clock.monotonic() < target - 1e-9:
            clock.advance_to(min(target, clock.monotonic() + 1 / cam.fps))
            daemon.sync()

    record, red, buzzer = factory.pin(5), factory.pin(17), factory.pin(12)
    daemon.post("power_on", reason="test")
    daemon.sync()
    advance(1.0)
    assert daemon.state == "buffering"
    assert hw.led.state == LedState("green", 0.5, 0.5)
    wait_states(factory.pin(27), 2)  # the green die has lit

    for edge, wait in ((record.drive_low, 0.1), (record.drive_high, 0.15),
                       (record.drive_low, 0.1), (record.drive_high, 0.05)):
        edge()
        advance(wait)
    assert daemon.state == "recording"
    assert hw.led.state == LedState("red", 0.5, 0.5)
    wait_states(red, len(red.states) + 1)  # gpiozero's blink thread lights the red die
    assert buzzer.frequency == 880.0  # the start tones sound (0.12 s each)

    record.drive_low()
    advance(3.1)
    record.drive_high()
    advance(0.1)
    assert daemon.state == "buffering"
    assert buzzer.frequency == 440.0  # one long stop tone
    daemon.post("power_off", reason="test")
    daemon.sync()
    hw.close()
    segments = sorted((tmp_path / "data" / "recordings").rglob("*.mp4"))
    assert segments, "the recording made by pin gestures has no segment"
