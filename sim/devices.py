"""Simulated LED, buzzer, vibration, buttons, dock, battery and storage.

Outputs keep a timestamped log of what they were told (like gpiozero's ``MockPin`` state log), so
tests can assert on patterns and timings and the simulator can show them. Buttons can be pressed,
double-pressed and held from code; their edges are scheduled on the clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from hal.clock import Clock, Timer
from hal.indicators import Buzzer, LedState, Pulse, StatusLed, Tone, Vibration
from hal.inputs import BatteryGauge, Button, DockSensor, FilesystemStorage

T = TypeVar("T")
S = TypeVar("S")


class Paced(Generic[S]):
    """A simulated source that delivers to one sink on the clock's timers (camera, microphone,
    location receiver): one lock guards the sink and the pending timer, so a stop cancels
    what is scheduled and a tick never delivers after it. Subclasses call
    :meth:`_init_paced` and schedule their first delivery in :meth:`_begin`."""

    _lock: threading.Lock
    _sink: S | None
    _timer: Timer | None

    def _init_paced(self) -> None:
        self._lock = threading.Lock()
        self._sink = None
        self._timer = None

    @property
    def running(self) -> bool:
        return self._sink is not None

    def start(self, sink: S) -> None:
        """Deliver to ``sink``; a source already running only changes where it delivers."""
        with self._lock:
            started = self._sink is not None
            self._sink = sink
            if not started:
                self._begin()

    def stop(self) -> None:
        with self._lock:
            self._sink = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _begin(self) -> None:
        """Schedule the first delivery (called with the lock held)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Logged(Generic[T]):
    t: float
    value: T


class _Log(Generic[T]):
    def __init__(self, clock: Clock, listener: Callable[[str, object], None] | None) -> None:
        self._clock = clock
        self.entries: list[Logged[T]] = []
        self._lock = threading.Lock()
        self.listener = listener

    def add(self, kind: str, value: T) -> None:
        with self._lock:
            self.entries.append(Logged(self._clock.monotonic(), value))
        if self.listener is not None:
            self.listener(kind, value)


class SimLed(StatusLed):
    """Remembers every state it was shown and when; :meth:`lit_at` says what an eye would see."""

    def __init__(self, clock: Clock, listener: Callable[[str, object], None] | None = None) -> None:
        super().__init__()
        self._clock = clock
        self.log: _Log[LedState] = _Log(clock, listener)
        self._since = clock.monotonic()

    def show(self, state: LedState) -> None:
        if state == self.state:
            return
        self.state = state
        self._since = self._clock.monotonic()
        self.log.add("led", state)

    @property
    def since(self) -> float:
        """When the current pattern started: a viewer blinks in the same phase from it."""
        return self._since

    def lit_at(self, t: float | None = None) -> str | None:
        """The colour visible at time ``t`` (now by default), or None when dark."""
        t = self._clock.monotonic() if t is None else t
        return self.state.colour_at(t - self._since)


class SimBuzzer(Buzzer):
    def __init__(self, clock: Clock, listener: Callable[[str, object], None] | None = None) -> None:
        self.log: _Log[tuple[Tone, ...]] = _Log(clock, listener)

    def play(self, tones: Sequence[Tone]) -> None:
        self.log.add("tones", tuple(tones))


class SimVibration(Vibration):
    def __init__(self, clock: Clock, listener: Callable[[str, object], None] | None = None) -> None:
        self.log: _Log[tuple[Pulse, ...]] = _Log(clock, listener)

    def pulse(self, pattern: Sequence[Pulse]) -> None:
        self.log.add("vibration", tuple(pattern))


class SimButton(Button):
    """A button a test or a person at the keyboard can press; edges land on the clock.

    Each edge is stamped with the moment it was meant to happen (``t``, else now), as a GPIO
    interrupt's tick would be: a clock thread that runs the scheduled edge late does not move
    the press."""

    def __init__(self, name: str, clock: Clock) -> None:
        super().__init__(name)
        self._clock = clock

    def down(self, t: float | None = None) -> None:
        self._edge(True, self._clock.monotonic() if t is None else t)

    def up(self, t: float | None = None) -> None:
        self._edge(False, self._clock.monotonic() if t is None else t)

    def press(self, seconds: float = 0.1, after: float = 0.0) -> float:
        """Press for ``seconds``, starting ``after`` seconds from now; returns the release time."""
        start = self._clock.monotonic() + after
        if after <= 0:
            self.down(start)
        else:
            self._clock.call_at(start, lambda: self.down(start))
        self._clock.call_at(start + seconds, lambda: self.up(start + seconds))
        return start + seconds

    def double_press(self, gap: float = 0.15, seconds: float = 0.1) -> float:
        """Two short presses ``gap`` seconds apart (release to press)."""
        first = self.press(seconds)
        return self.press(seconds, after=first + gap - self._clock.monotonic())

    def hold(self, seconds: float) -> float:
        return self.press(seconds)


class SimDock(DockSensor):
    def dock(self) -> None:
        self._set(True)

    def undock(self) -> None:
        self._set(False)


class SimBattery(BatteryGauge):
    """A battery whose level tests and the simulator set; the daemon's model drains it."""

    def __init__(self, level: float = 100.0) -> None:
        self.level = level
        self.is_charging = False

    def percent(self) -> float:
        return self.level

    def charging(self) -> bool:
        return self.is_charging


class SimStorage(FilesystemStorage):
    """The real filesystem's free space, or a limit set to simulate a card filling up."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.limit_bytes: int | None = None

    def free_bytes(self) -> int:
        real = super().free_bytes()
        return real if self.limit_bytes is None else min(real, self.limit_bytes)
