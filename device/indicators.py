"""The indicator policy: which LED pattern each mode shows, and which tones and vibrations each
event plays. Patterns and timings come from the configuration (defaults: the field reference).
"""

from __future__ import annotations

from device.config import IndicatorSection, Pattern
from hal.indicators import LED_OFF, LedState, Pulse, Tone

#: mode -> (colour, blinking). Modes not listed show nothing.
LED_BY_MODE: dict[str, tuple[str, bool]] = {
    "booting": ("red", False),
    "fault": ("red", False),
    "buffering": ("green", True),
    "recording": ("red", True),
}

#: event -> (tones, vibration): names of IndicatorSection patterns, or None.
SIGNALS: dict[str, tuple[str | None, str | None]] = {
    "boot_done": ("boot_tones", None),
    "recording_started": ("start_tones", "start_vibration"),
    "recording_reminder": ("start_tones", "start_vibration"),
    "recording_stopped": ("stop_tones", None),
}


class IndicatorPolicy:
    def __init__(self, config: IndicatorSection) -> None:
        self.config = config

    def led(self, mode: str) -> LedState:
        entry = LED_BY_MODE.get(mode)
        if entry is None:
            return LED_OFF
        colour, blinking = entry
        if not blinking:
            return LedState(colour)
        return LedState(colour, self.config.blink_on_s, self.config.blink_off_s)

    def tones(self, event: str) -> tuple[Tone, ...]:
        name = SIGNALS.get(event, (None, None))[0]
        return tuple(Tone(hz, s) for hz, s in self._pattern(name))

    def vibration(self, event: str) -> tuple[Pulse, ...]:
        name = SIGNALS.get(event, (None, None))[1]
        return tuple(Pulse(on, off) for on, off in self._pattern(name))

    def _pattern(self, name: str | None) -> Pattern:
        return () if name is None else getattr(self.config, name)
