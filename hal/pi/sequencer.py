"""Timed output patterns (tones, vibration pulses) played on the injected clock.

A pattern is a list of ``(value, seconds)`` steps; each value is applied to the output when its
step begins and ``None`` (silence, motor off) when the last step ends. Patterns asked for while
one plays queue behind it, so a stop tone is never cut short by the next reminder. Steps are
scheduled at absolute due times, so a long pattern does not drift, and on a
:class:`sim.clock.SimClock` a test sees every step at exactly its time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from hal.clock import Clock, Timer

V = TypeVar("V")


class Sequencer(Generic[V]):
    """Plays patterns on one output through ``apply(value | None)`` without blocking callers."""

    def __init__(self, clock: Clock, apply: Callable[[V | None], None]) -> None:
        self._clock = clock
        self._apply = apply
        self._steps: deque[tuple[V | None, float]] = deque()
        self._lock = threading.Lock()
        self._timer: Timer | None = None
        self._due = 0.0

    @property
    def busy(self) -> bool:
        return self._timer is not None

    def play(self, steps: Iterable[tuple[V | None, float]]) -> None:
        with self._lock:
            self._steps.extend((value, max(0.0, seconds)) for value, seconds in steps)
            if self._timer is None and self._steps:
                self._due = self._clock.monotonic()
                self._advance()

    def stop(self) -> None:
        """Silence the output now and forget queued patterns."""
        with self._lock:
            self._steps.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._apply(None)

    def _step_due(self) -> None:
        with self._lock:
            self._advance()

    def _advance(self) -> None:
        # Called with the lock held; zero-length steps are skipped, not flashed.
        while self._steps and self._steps[0][1] == 0:
            self._steps.popleft()
        if not self._steps:
            self._timer = None
            self._apply(None)
            return
        value, seconds = self._steps.popleft()
        self._apply(value)
        self._due += seconds
        self._timer = self._clock.call_at(self._due, self._step_due)
