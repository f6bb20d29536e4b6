"""Output devices the officer and the public perceive: status LED, buzzer, vibration motor.

The daemon says *what* to show (a colour and a blink pattern, a list of tones, a vibration pattern);
the backend does the timing, the way gpiozero's ``LED.blink`` runs its own background thread.
A backend must override ``show`` / ``play`` / ``pulse``. ``state`` and the logs are for status
displays and tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

#: Colour name -> which of the red, green and blue dies are lit.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1),
    "amber": (1, 1, 0), "yellow": (1, 1, 0), "cyan": (0, 1, 1),
    "magenta": (1, 0, 1), "white": (1, 1, 1),
}


@dataclass(frozen=True, slots=True)
class LedState:
    """A colour (None = dark) lit for ``on_s`` then dark for ``off_s``; ``off_s == 0`` is solid."""

    colour: str | None = None
    on_s: float = 0.0
    off_s: float = 0.0
    #: Shown in the blink's dark phase instead of darkness (muted: red alternating with blue).
    alt: str | None = None
    #: Every LED of the camera shows it, not only the front one ("both LEDs blinking red").
    every_led: bool = False

    @property
    def blinking(self) -> bool:
        return self.colour is not None and self.off_s > 0

    def colour_at(self, phase_s: float) -> str | None:
        """The colour shown ``phase_s`` seconds after the pattern started."""
        if not self.blinking:
            return self.colour
        return self.colour if phase_s % (self.on_s + self.off_s) < self.on_s else self.alt

    def describe(self) -> str:
        if self.colour is None:
            return "off"
        if not self.blinking:
            return f"solid {self.colour}"
        shown = f"{self.colour}/{self.alt}" if self.alt else self.colour
        where = "all LEDs " if self.every_led else ""
        return f"{where}blinking {shown} ({self.on_s:g}s on / {self.off_s:g}s off)"

    def as_dict(self) -> dict[str, object]:
        return {"colour": self.colour, "on_s": self.on_s, "off_s": self.off_s, "alt": self.alt,
                "every_led": self.every_led, "text": self.describe()}


LED_OFF = LedState()


@dataclass(frozen=True, slots=True)
class Tone:
    """A tone of ``hz`` for ``seconds``; ``hz == 0`` is a rest."""

    hz: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Pulse:
    """The vibration motor on for ``on_s``, then off for ``off_s``."""

    on_s: float
    off_s: float = 0.0


class StatusLed(ABC):
    """The status LED (the red circle in the centre of the camera, plus its other colours)."""

    def __init__(self) -> None:
        self.state: LedState = LED_OFF

    @abstractmethod
    def show(self, state: LedState) -> None:
        """Show ``state`` until told otherwise; the backend runs the blinking."""


class Buzzer(ABC):
    """The sounder."""

    @abstractmethod
    def play(self, tones: Sequence[Tone]) -> None:
        """Play ``tones`` one after another without blocking the caller."""


class Vibration(ABC):
    """The vibration motor."""

    @abstractmethod
    def pulse(self, pattern: Sequence[Pulse]) -> None:
        """Run ``pattern`` without blocking the caller."""
