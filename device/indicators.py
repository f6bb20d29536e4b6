"""The indicator policy: what the LED shows in each mode, which tones and vibrations each event
plays, and which warnings repeat while their condition holds. Patterns and timings come from
the configuration (defaults: the field reference).

Stealth overrides everything: no light, no sound, no vibration. When it ends the indicators are
computed afresh from the mode and flags, so the previous ones come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from device.config import IndicatorSection, Pattern
from device.modes import STATES
from hal.indicators import LED_OFF, LedState, Pulse, Tone

#: mode -> (colour, blinking); "docked" takes its colour from the configuration.
LED_BY_MODE: dict[str, tuple[str, bool]] = {
    "booting": ("red", False),
    "fault": ("red", False),
    "buffering": ("green", True),
    "recording": ("red", True),
    "docked": ("docked_colour", False),
}

#: event -> (tone pattern, vibration pattern): names of IndicatorSection settings, or None.
SIGNALS: dict[str, tuple[str | None, str | None]] = {
    "boot_done": ("boot_tones", None),
    "recording_started": ("start_tones", "start_vibration"),
    "recording_reminder": ("start_tones", "start_vibration"),
    "recording_stopped": ("stop_tones", None),
    "confirm_stop": ("confirm_tones", None),
    "low_battery": ("low_battery_tones", None),
    "storage_full": ("storage_full_tones", None),
    "error": ("error_tones", None),
    "standby_reminder": (None, "standby_vibration"),
}

@dataclass(frozen=True)
class Reminder:
    """A warning that repeats while its condition holds."""

    signal: str
    #: The IndicatorSection setting of its interval.
    interval: str
    #: Sounds at once when the condition starts (else first after one interval).
    at_once: bool
    #: The modes it repeats in...
    modes: frozenset[str]
    #: ...and the flag that must be up there too, if any.
    flag: str | None = None


_ALL_BUT_OFF = frozenset(STATES) - {"off"}

#: condition -> its reminder. In this order when several start at once.
REPEATING: dict[str, Reminder] = {
    "fault": Reminder("error", "error_interval_s", True, frozenset({"fault"})),
    "camera_fault": Reminder("error", "error_interval_s", True, frozenset({"recording"}),
                             "camera_fault"),
    "recording": Reminder("recording_reminder", "reminder_interval_s", False,
                          frozenset({"recording"})),
    "standby": Reminder("standby_reminder", "standby_reminder_s", False, frozenset({"standby"})),
    "low_battery": Reminder("low_battery", "low_battery_interval_s", True, _ALL_BUT_OFF,
                            "low_battery"),
    "clock_not_set": Reminder("error", "error_interval_s", True, _ALL_BUT_OFF, "clock_not_set"),
}


class IndicatorPolicy:
    def __init__(self, config: IndicatorSection) -> None:
        self.config = config

    def led(self, mode: str, muted: bool = False, stealth: bool = False,
            camera_fault: bool = False) -> LedState:
        entry = LED_BY_MODE.get(mode)
        if stealth or entry is None:
            return LED_OFF
        if camera_fault:  # recording, but the sensor is out: show the error, not the red circle
            entry = LED_BY_MODE["fault"]
        colour, blinking = entry
        if colour == "docked_colour":
            colour = self.config.docked_colour
        on, off = self.config.blink_on_s, self.config.blink_off_s
        if muted:  # muted shows blue in the dark phase (or alternating with a solid colour)
            return LedState(colour, on, off, alt=self.config.mute_colour)
        return LedState(colour, on, off) if blinking else LedState(colour)

    def recovering(self) -> LedState:
        """Recovering an interrupted video: every LED blinking red, fast."""
        return LedState("red", self.config.blink_on_s / 2, self.config.blink_off_s / 2,
                        every_led=True)

    def tones(self, signal: str) -> tuple[Tone, ...]:
        name = SIGNALS.get(signal, (None, None))[0]
        return tuple(Tone(hz, s) for hz, s in self._pattern(name))

    def vibration(self, signal: str) -> tuple[Pulse, ...]:
        name = SIGNALS.get(signal, (None, None))[1]
        return tuple(Pulse(on, off) for on, off in self._pattern(name))

    def interval(self, condition: str) -> float:
        return float(getattr(self.config, REPEATING[condition].interval))

    @staticmethod
    def reminders(mode: str, flags: Mapping[str, bool]) -> dict[str, bool]:
        """Each condition of :data:`REPEATING`: does it repeat now, in ``mode`` with ``flags``?"""
        return {condition: mode in r.modes and (r.flag is None or flags[r.flag])
                for condition, r in REPEATING.items()}

    def _pattern(self, name: str | None) -> Pattern:
        return () if name is None else getattr(self.config, name)
