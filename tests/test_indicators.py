"""The indicator policy as the public and the officer perceive it, on the injected clock."""

from __future__ import annotations

import itertools

import pytest

from device.config import Config
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import tiny_config


def tone_times(sim: Simulator, first_hz: float, count: int) -> list[float]:
    """When a pattern starting with ``first_hz`` and having ``count`` steps was played."""
    return [round(e.t, 3) for e in sim.hw.buzzer.log.entries
            if e.value[0].hz == first_hz and len(e.value) == count]


def test_recording_repeats_two_tones_and_two_vibrations_every_reminder_interval(make_sim
                                                                                ) -> None:
    sim = make_sim()
    sim.button("record").double_press()
    sim.advance(1)
    start = tone_times(sim, 880.0, 3)[0]
    sim.advance(365)
    assert tone_times(sim, 880.0, 3) == [start, start + 120, start + 240, start + 360]
    vibrations = [e for e in sim.hw.vibration.log.entries if len(e.value) == 2]
    assert len(vibrations) == 4


def test_a_force_may_set_a_shorter_reminder(make_sim) -> None:
    sim = make_sim(tiny_config(indicators={"reminder_interval_s": 30}))
    sim.button("record").double_press()
    sim.advance(61)
    assert len(tone_times(sim, 880.0, 3)) == 3


def test_stealth_turns_everything_off_and_restores_it(make_sim) -> None:
    sim = make_sim()
    sim.button("record").double_press()
    sim.advance(1)
    sim.button("program").hold(3.2)
    sim.advance(4)
    assert sim.daemon.flags["stealth"] and sim.led.state.colour is None
    sounds = len(sim.hw.buzzer.log.entries)
    buzzes = len(sim.hw.vibration.log.entries)
    sim.advance(300)  # reminders fall due, but nothing sounds or vibrates
    assert len(sim.hw.buzzer.log.entries) == sounds
    assert len(sim.hw.vibration.log.entries) == buzzes
    assert sim.mode == "recording"
    sim.button("program").hold(3.2)
    sim.advance(4)
    assert sim.led.state.colour == "red" and sim.led.state.blinking


def test_muted_blinks_blue_in_the_dark_phase(make_sim) -> None:
    sim = make_sim()
    sim.button("function").hold(3.2)
    sim.advance(4)
    state = sim.led.state
    assert (state.colour, state.alt) == ("green", "blue")
    colours = {sim.led.lit_at(sim.clock.monotonic() + dt / 10) for dt in range(10)}
    assert colours == {"green", "blue"}


def test_low_battery_sounds_four_quick_beeps_every_20_s(make_sim) -> None:
    sim = make_sim()
    sim.battery.level = 9
    sim.advance(sim.config.power.poll_s + 45)
    times = tone_times(sim, 2000.0, 7)  # 4 beeps and the 3 rests between them
    assert len(times) == 3 and times[1] - times[0] == 20 and times[2] - times[1] == 20
    assert sim.daemon.flags["low_battery"]


def test_clock_not_set_sounds_five_quick_beeps_every_20_s(tmp_path) -> None:
    clock = SimClock()
    clock.wall_is_set = False
    sim = Simulator(tiny_config(), tmp_path / "d", clock=clock, encoder=FakeEncoder)
    sim.power_on()
    sim.advance(41)
    assert sim.daemon.flags["clock_not_set"]
    assert tone_times(sim, 2000.0, 9) == [0.0, 20.0, 40.0]
    sim.shutdown()


def test_standby_vibrates_every_15_minutes(make_sim) -> None:
    sim = make_sim()
    sim.daemon.post("toggle_standby", reason="test")
    sim.daemon.sync()
    sim.advance(1801)
    reminders = [e.t for e in sim.hw.vibration.log.entries if len(e.value) == 1]
    assert reminders == [900.0, 1800.0]


def test_boot_has_two_rising_tones_and_stop_one_long_tone(make_sim) -> None:
    sim = make_sim()
    boot = sim.hw.buzzer.log.entries[0].value
    assert len(boot) == 2 and boot[0].hz < boot[1].hz
    sim.button("record").double_press()
    sim.advance(1)
    sim.button("record").hold(3.2)
    sim.advance(4)
    stop = sim.hw.buzzer.log.entries[-1].value
    assert len(stop) == 1 and stop[0].seconds >= 1.0


def test_indicator_patterns_are_configuration(make_sim) -> None:
    config: Config = tiny_config(indicators={"start_tones": [[1000, 0.5]],
                                             "blink_on_s": 0.25, "blink_off_s": 0.75})
    sim = make_sim(config)
    sim.button("record").double_press()
    sim.advance(1)
    assert sim.hw.buzzer.log.entries[-1].value[0].hz == 1000
    assert (sim.led.state.on_s, sim.led.state.off_s) == (0.25, 0.75)


def test_a_fault_sounds_five_quick_beeps_every_20_s_until_it_clears(make_sim) -> None:
    sim = make_sim()
    sim.camera.unplug()
    sim.advance(41)
    assert sim.mode == "fault" and sim.led.state.colour == "red" and not sim.led.state.blinking
    times = tone_times(sim, 2000.0, 9)
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([20, 20])
    sim.camera.replug()
    sim.advance(41)
    assert sim.mode == "buffering" and len(tone_times(sim, 2000.0, 9)) == 3


def test_which_reminders_repeat_in_which_mode_is_the_policy_s_table() -> None:
    from device.indicators import IndicatorPolicy

    flags = dict.fromkeys(("low_battery", "clock_not_set", "camera_fault"), False)

    def repeating(mode: str, **up: bool) -> set[str]:
        return {c for c, on in IndicatorPolicy.reminders(mode, {**flags, **up}).items() if on}

    assert repeating("buffering") == set()
    assert repeating("recording") == {"recording"}
    assert repeating("recording", camera_fault=True) == {"recording", "camera_fault"}
    assert repeating("buffering", camera_fault=True) == set()  # it faults instead
    assert repeating("standby") == {"standby"}
    assert repeating("fault") == {"fault"}
    assert repeating("docked", low_battery=True, clock_not_set=True) == {
        "low_battery", "clock_not_set"}
    assert repeating("off", low_battery=True, clock_not_set=True) == set()
