"""A clock that only moves when told to, so tests and the simulator run without sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hal.clock import Clock, Timer, TimerQueue

#: 2026-01-01T00:00:00Z: a fixed, plausible wall time so simulated evidence is reproducible.
DEFAULT_EPOCH = 1767225600.0


class SimClock(Clock):
    """Monotonic time starts at 0 and moves by :meth:`advance`; timers fire in due order.

    Timers fire on the thread that calls :meth:`advance`, each with the clock set to its due time,
    so a callback that reads the clock sees exactly when it was meant to run.
    """

    realtime = False

    def __init__(self, epoch: float = DEFAULT_EPOCH) -> None:
        super().__init__()
        self._now = 0.0
        self._epoch = epoch
        self._timers = TimerQueue()
        self._lock = threading.RLock()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._epoch + self._now

    def set_wall(self, wall: float, is_set: bool = True) -> None:
        """Set the wall clock (the dock does this on a real camera)."""
        with self._lock:
            self._epoch = wall - self._now
            self.wall_is_set = is_set

    def call_at(self, due: float, callback: Callable[[], None]) -> Timer:
        with self._lock:
            return self._timers.push(due, callback)

    def next_due(self) -> float | None:
        with self._lock:
            return self._timers.next_due()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards by {seconds} s")
        self.advance_to(self._now + seconds)

    def advance_to(self, target: float) -> None:
        while True:
            with self._lock:
                timer = self._timers.pop_due(target)
                if timer is None:
                    self._now = max(self._now, target)
                    return
                self._now = max(self._now, timer.due)
            if not timer.cancelled:
                timer.callback()
