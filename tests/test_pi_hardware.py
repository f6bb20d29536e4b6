"""The Pi backend on gpiozero's mock pins: pin edges in, LED, tones and vibration out."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import BadPinFactory, Device, DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockPin

from device.config import Config, ConfigError, GestureSection
from device.gestures import GestureRecognizer
from hal.indicators import LedState, Pulse, Tone
from hal.pi import PiHardware, PiSetupError
from hal.pi.camera import MissingCamera
from hal.pi.pins import PinsSection
from sim.camera import SimCamera
from sim.clock import SimClock
from tests.pi_rig import WatchedPin, mock_factory, pi_hardware, wait_states

RED, GREEN, BLUE, BUZZER, VIBRATION, DOCK = 17, 27, 22, 12, 23, 24
RECORD, FUNCTION, HOLSTER = 5, 6, 25


class Rig:
    def __init__(self, tmp_path: Path, pins: dict[str, object] | None = None,
                 factory: MockFactory | None = None) -> None:
        self.factory = factory or mock_factory()
        self.clock = SimClock()
        config = Config().replace(pins=pins or {}, camera={"width": 320, "height": 240})
        self.hw: PiHardware = pi_hardware(
            config, tmp_path / "data", pin_factory=self.factory, clock=self.clock,
            camera=SimCamera(self.clock, 320, 240, 30), power_supply=tmp_path / "no-sysfs")

    def pin(self, gpio: int) -> WatchedPin:
        return self.factory.pin(gpio)  # type: ignore[return-value]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.hw.close()


def at(rig: Rig, times: list[float], gpio: int) -> list[tuple[float | None, float]]:
    """(frequency, state) of a pin at each simulated time, moving the clock there."""
    seen = []
    for t in times:
        rig.clock.advance_to(t)
        pin = rig.pin(gpio)
        seen.append((pin.frequency, pin.state))
    return seen


# -- inputs ------------------------------------------------------------------------------------
def test_pin_edges_become_gestures(rig: Rig) -> None:
    seen: list[tuple[str, str]] = []
    recognizer = GestureRecognizer(rig.clock, GestureSection(),
                                   lambda b, g, t: seen.append((b, g)))
    for name, button in rig.hw.buttons.items():
        button.when_pressed = lambda n=name: recognizer.edge(n, True)
        button.when_released = lambda n=name: recognizer.edge(n, False)
    record, function = rig.pin(RECORD), rig.pin(FUNCTION)
    # Buttons close to ground: low is pressed.
    for edge, wait in ((record.drive_low, 0.1), (record.drive_high, 0.15),
                       (record.drive_low, 0.1), (record.drive_high, 0.0)):
        edge()
        rig.clock.advance(wait)
    assert seen == [("record", "double")]
    function.drive_low()
    assert rig.hw.buttons["function"].is_pressed
    rig.clock.advance(2.9)
    assert seen == [("record", "double")]
    rig.clock.advance(0.2)
    function.drive_high()
    assert seen == [("record", "double"), ("function", "hold")]
    assert not rig.hw.buttons["function"].is_pressed


def test_buttons_wired_to_3v3_are_pressed_when_high(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"inputs_pull_up": False})
    edges: list[bool] = []
    rig.hw.buttons["record"].when_pressed = lambda: edges.append(True)
    rig.hw.buttons["record"].when_released = lambda: edges.append(False)
    rig.pin(RECORD).drive_high()
    rig.pin(RECORD).drive_low()
    assert edges == [True, False]
    rig.hw.close()


def test_dock_sense_reports_changes(rig: Rig) -> None:
    changes: list[bool] = []
    rig.hw.dock.when_changed = changes.append
    assert not rig.hw.dock.is_docked
    rig.pin(DOCK).drive_high()  # the dock drives the pin high
    assert rig.hw.dock.is_docked
    rig.pin(DOCK).drive_low()
    assert changes == [True, False]


def test_trigger_inputs_report_activation_by_name(rig: Rig) -> None:
    triggers = rig.hw.triggers
    assert sorted(triggers) == ["holster", "lightbar", "taser"]
    fired: list[str] = []
    triggers.when_triggered = fired.append
    rig.pin(HOLSTER).drive_low()
    assert triggers.active() == ["holster"]
    rig.pin(HOLSTER).drive_high()  # release is not a trigger
    assert fired == ["holster"]


def test_unfitted_optional_pins_leave_devices_inert(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"dock": 0, "trigger_taser": -1, "vibration": 0, "buzzer": 0})
    assert sorted(rig.hw.triggers) == ["holster", "lightbar"]
    rig.hw.vibration.pulse([Pulse(0.2)])
    rig.hw.buzzer.play([Tone(440, 0.2)])
    rig.clock.advance(1)
    assert rig.pin(VIBRATION).states[-1].state == 0 and rig.pin(BUZZER).frequency is None
    assert not rig.hw.dock.is_docked
    rig.hw.close()


# -- status LED --------------------------------------------------------------------------------
def lit(rig: Rig) -> tuple[float, float, float]:
    return (rig.pin(RED).state, rig.pin(GREEN).state, rig.pin(BLUE).state)


def test_led_colours_light_the_right_dies(rig: Rig) -> None:
    rig.hw.led.show(LedState("red"))
    assert lit(rig) == (1, 0, 0)
    rig.hw.led.show(LedState("amber"))
    assert lit(rig) == (1, 1, 0)
    rig.hw.led.show(LedState(None))
    assert lit(rig) == (0, 0, 0)


def test_recording_blink_shows_on_the_red_pin_with_its_timing(rig: Rig) -> None:
    red = rig.pin(RED)
    red.clear_states()
    rig.hw.led.show(LedState("red", on_s=0.1, off_s=0.3))
    wait_states(red, 5)
    rig.hw.led.show(LedState(None))
    states = [bool(s.state) for s in red.states[:5]]
    assert states == [False, True, False, True, False]
    # Each entry's timestamp is the time since the previous change: on 0.1 s, off 0.3 s.
    durations = [s.timestamp for s in red.states[2:5]]
    assert durations == [pytest.approx(0.1, abs=0.07), pytest.approx(0.3, abs=0.07),
                         pytest.approx(0.1, abs=0.07)]
    assert len(rig.pin(GREEN).states) == 1 and len(rig.pin(BLUE).states) == 1


def test_common_anode_led_is_lit_low(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"led_active_high": False})
    rig.hw.led.show(LedState("green"))
    assert lit(rig) == (1, 0, 1)
    rig.hw.close()


def test_separate_leds_show_what_is_fitted(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"led_blue": 0})
    rig.hw.led.show(LedState("amber"))
    assert (rig.pin(RED).state, rig.pin(GREEN).state) == (1, 1)
    rig.hw.led.show(LedState("blue"))  # no blue LED: dark rather than a wrong colour
    assert (rig.pin(RED).state, rig.pin(GREEN).state) == (0, 0)
    red = rig.pin(RED)
    rig.hw.led.show(LedState("red", on_s=0.05, off_s=0.05))
    wait_states(red, len(red.states) + 3)
    rig.hw.close()
    assert red.states[-1].state == 0


# -- buzzer and vibration ------------------------------------------------------------------------
def test_passive_buzzer_plays_each_tone_at_its_pitch_and_time(rig: Rig) -> None:
    rig.hw.buzzer.play([Tone(880, 0.12), Tone(0, 0.08), Tone(880, 0.12)])
    rig.hw.buzzer.play([Tone(440, 1.0)])  # queued behind the first pattern, not cutting it
    # 880 Hz 0-0.12 s, rest to 0.2 s, 880 Hz to 0.32 s, then 440 Hz to 1.32 s, then silence.
    seen = at(rig, [0.06, 0.16, 0.26, 0.5, 1.31, 1.33], BUZZER)
    assert seen == [(880, 0.5), (None, 0), (880, 0.5), (440, 0.5), (440, 0.5), (None, 0)]


def test_out_of_range_pitch_is_clamped_not_dropped(rig: Rig) -> None:
    rig.hw.buzzer.play([Tone(20_000, 0.1)])
    assert rig.pin(BUZZER).frequency == pytest.approx(3520, rel=1e-3)


def test_active_buzzer_beeps_for_each_tone(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"buzzer_passive": False})
    rig.hw.buzzer.play([Tone(660, 0.15), Tone(0, 0.1), Tone(880, 0.25)])
    assert [state for _, state in at(rig, [0.1, 0.2, 0.3, 0.6], BUZZER)] == [1, 0, 1, 0]
    rig.hw.close()


def test_vibration_pulses_follow_the_pattern(rig: Rig) -> None:
    rig.hw.vibration.pulse([Pulse(0.2, 0.15), Pulse(0.2, 0.0)])
    states = [state for _, state in at(rig, [0.1, 0.25, 0.4, 0.56, 2.0], VIBRATION)]
    assert states == [1, 0, 1, 0, 0]
    assert [bool(s.state) for s in rig.pin(VIBRATION).states] == [False, True, False, True,
                                                                   False]


# -- bad wiring ----------------------------------------------------------------------------------
def test_missing_required_pin_is_a_config_error(tmp_path: Path) -> None:
    config = dataclasses.replace(Config(), pins=PinsSection(program=0))  # bypasses validation
    with pytest.raises(ConfigError, match=r"pins\.program is required, got 0"):
        pi_hardware(config, tmp_path, pin_factory=mock_factory(), clock=SimClock())


def test_conflicting_pins_are_a_config_error(tmp_path: Path) -> None:
    config = dataclasses.replace(Config(), pins=PinsSection(dock=RED))
    with pytest.raises(ConfigError, match=r"pins\.dock uses BCM 17, already taken by "
                                          r"pins\.led_red"):
        pi_hardware(config, tmp_path, pin_factory=mock_factory(), clock=SimClock())


def test_a_busy_gpio_names_the_key_and_frees_every_pin(tmp_path: Path) -> None:
    factory = mock_factory()
    squatter = DigitalOutputDevice(DOCK, pin_factory=factory)  # built after buttons and LEDs
    with pytest.raises(PiSetupError) as err:
        Rig(tmp_path, factory=factory)
    assert str(err.value).startswith("pins.dock (BCM 24): ")
    squatter.close()
    rig = Rig(tmp_path, factory=factory)  # nothing from the failed attempt is still reserved
    rig.hw.close()
    Rig(tmp_path, factory=factory).hw.close()  # and close() frees them too


def test_pwm_less_pin_for_a_passive_buzzer_says_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(PiSetupError, match=r"pins\.buzzer \(BCM 12\): this GPIO cannot do "
                                           r"PWM \(set pins\.buzzer_passive = false"):
        Rig(tmp_path, factory=MockFactory(pin_class=MockPin))


class NoGpioFactory(MockFactory):
    def pin(self, name: object, pin_class: object = None, **kwargs: object) -> MockPin:
        raise BadPinFactory("Unable to load any default pin factory!")


def test_no_gpio_at_all_is_one_line_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PiSetupError, match=r"no GPIO access .*install python3-lgpio"):
        Rig(tmp_path, factory=NoGpioFactory())


def test_no_camera_boots_into_a_named_fault_not_a_crash(tmp_path: Path) -> None:
    factory = mock_factory()
    config = Config().replace(camera={"width": 320, "height": 240})
    hw = pi_hardware(config, tmp_path, pin_factory=factory, clock=SimClock(),
                     power_supply=tmp_path)
    try:
        assert isinstance(hw.camera, MissingCamera)
        assert hw.camera.self_test().startswith("no camera: ")
    finally:
        hw.close()


#: What python3-lgpio does at import: open the notification pipe its C library made in the
#: working directory (gpiozero #1106, lg #22). In a read-only working directory there is none.
FAKE_LGPIO = "_file = open('.lgd-nfy-3', 'rb')\n"


def default_factory_hardware(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             lgpio_source: str | None) -> str:
    """Build the hardware on gpiozero's own default pin factory, as ``bodycam run`` does on a
    Pi, with an lgpio that behaves as given (None: not installed); return the error."""
    for module in ("lgpio", "gpiozero.pins.lgpio"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.delenv("LG_WD", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)
    if lgpio_source is not None:
        site = tmp_path / "site"
        site.mkdir()
        (site / "lgpio.py").write_text(lgpio_source)
        monkeypatch.syspath_prepend(str(site))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    config = Config().replace(camera={"width": 320, "height": 240})
    with pytest.raises(PiSetupError) as err:
        pi_hardware(config, tmp_path / "data", clock=SimClock(),
                    camera=SimCamera(SimClock(), 320, 240, 30),
                    power_supply=tmp_path / "no-sysfs")
    message = str(err.value)
    assert "\n" not in message
    return message


def test_lgpio_without_a_writable_working_directory_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = default_factory_hardware(tmp_path, monkeypatch, FAKE_LGPIO)
    assert "install python3-lgpio" not in message  # it is installed: that is not the fault
    assert ".lgd-nfy-3" in message and str(tmp_path / "cwd") in message
    assert "writable working directory" in message and "LG_WD" in message


def test_lgpio_missing_still_says_install_it(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "dist-packages" not in p])
    message = default_factory_hardware(tmp_path, monkeypatch, None)
    assert "install python3-lgpio" in message and "No module named 'lgpio'" in message


def test_lgpio_failing_otherwise_names_its_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    message = default_factory_hardware(tmp_path, monkeypatch,
                                       "raise PermissionError(13, 'Permission denied', "
                                       "'/dev/gpiochip0')\n")
    assert "lgpio" in message and "/dev/gpiochip0" in message
    assert "install python3-lgpio" not in message
