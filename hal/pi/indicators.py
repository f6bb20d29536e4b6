"""The Pi's status LED, buzzer and vibration motor, on gpiozero devices.

The LED blinks with gpiozero's own background blink (one thread per device, as gpiozero does it).
Tones and vibration pulses are timed by the injected clock through a :class:`Sequencer`, so they
never block the daemon and a test on a simulated clock sees each step at its exact time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gpiozero import LED, RGBLED, DigitalOutputDevice, TonalBuzzer
from gpiozero import Buzzer as ActiveBuzzer
from gpiozero.tones import Tone as GpioTone

from hal.clock import Clock
from hal.indicators import COLOURS, Buzzer, LedState, Pulse, StatusLed, Tone, Vibration
from hal.pi.sequencer import Sequencer

log = logging.getLogger(__name__)

DIES = ("red", "green", "blue")


def rgb_of(colour: str | None) -> tuple[int, int, int]:
    """The dies lit for ``colour``; an unknown name lights all three rather than none."""
    if colour is None:
        return (0, 0, 0)
    rgb = COLOURS.get(colour)
    if rgb is None:
        log.warning("LED colour %r is unknown (known: %s); showing white",
                    colour, ", ".join(COLOURS))
        return (1, 1, 1)
    return rgb


class RgbStatusLed(StatusLed):
    """A three-die RGB LED on one gpiozero :class:`~gpiozero.RGBLED` (dies blink in step)."""

    def __init__(self, device: RGBLED) -> None:
        super().__init__()
        self.device = device

    def show(self, state: LedState) -> None:
        if state == self.state:
            return  # restarting the blink would visibly stutter it
        self.state = state
        rgb = rgb_of(state.colour)
        if rgb == (0, 0, 0):
            self.device.off()
        elif state.blinking:
            self.device.blink(on_time=state.on_s, off_time=state.off_s, on_color=rgb,
                              off_color=(0, 0, 0))
        else:
            self.device.color = rgb


class SeparateStatusLed(StatusLed):
    """Single-colour LEDs, some of red, green and blue fitted; a missing die is left out."""

    def __init__(self, leds: dict[str, LED]) -> None:
        super().__init__()
        self.leds = leds

    def show(self, state: LedState) -> None:
        if state == self.state:
            return
        self.state = state
        wanted = {die for die, lit in zip(DIES, rgb_of(state.colour), strict=True) if lit}
        if wanted and not wanted & self.leds.keys():
            log.warning("LED colour %s has no fitted LED (fitted: %s); showing nothing",
                        state.colour, ", ".join(self.leds))
        for die, led in self.leds.items():
            if die not in wanted:
                led.off()
            elif state.blinking:
                led.blink(on_time=state.on_s, off_time=state.off_s)
            else:
                led.on()


class PiBuzzer(Buzzer):
    """A passive buzzer plays each tone's pitch; an active one beeps for it; none is silent."""

    def __init__(self, clock: Clock, device: TonalBuzzer | ActiveBuzzer | None) -> None:
        self.device = device
        self.sequencer: Sequencer[float] = Sequencer(clock, self._sound)

    def play(self, tones: Sequence[Tone]) -> None:
        if self.device is not None:
            self.sequencer.play((t.hz if t.hz > 0 else None, t.seconds) for t in tones)

    def _sound(self, hz: float | None) -> None:
        device = self.device
        if isinstance(device, TonalBuzzer):
            if hz is None:
                device.stop()
            else:  # out-of-range pitches are clamped: a wrong pitch beats silence
                low, high = device.min_tone.frequency, device.max_tone.frequency
                device.play(GpioTone(frequency=min(max(hz, low), high)))
        elif device is not None:
            device.value = hz is not None


class PiVibration(Vibration):
    """The vibration motor's driver transistor on a digital output; none fitted does nothing."""

    def __init__(self, clock: Clock, device: DigitalOutputDevice | None) -> None:
        self.device = device
        self.sequencer: Sequencer[bool] = Sequencer(clock, self._drive)

    def pulse(self, pattern: Sequence[Pulse]) -> None:
        if self.device is not None:
            self.sequencer.play(step for p in pattern
                                for step in ((True, p.on_s), (False, p.off_s)))

    def _drive(self, on: bool | None) -> None:
        if self.device is not None:
            self.device.value = bool(on)
