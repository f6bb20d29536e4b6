"""Time for the firmware: monotonic time, wall time and timers, behind one interface.

Everything in ``device/`` asks the clock for time and for timers, so a test can hand the daemon a
clock that it moves forward by hand (``sim.clock.SimClock``) instead of sleeping.

A backend must provide :meth:`Clock.monotonic`, :meth:`Clock.wall` and :meth:`Clock.call_at`;
:meth:`Clock.call_later` is derived. Timer callbacks must be short: they run on the clock's own
thread (or, for a simulated clock, on the thread that moves time) and should only post work.

A backend that can set the wall clock (the dock does, from the evidence store) overrides
:meth:`Clock.set_wall`; the default refuses with :class:`ClockSetError`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field


class ClockSetError(Exception):
    """The wall clock could not be set; the message says why, in one line."""


@dataclass(order=True)
class Timer:
    """A scheduled callback; :meth:`cancel` it to stop it from firing."""

    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock(ABC):
    """Monotonic time (for durations), wall time (for evidence) and timers."""

    #: True when time passes by itself; False when a test moves it. A pipeline may then apply
    #: back-pressure instead of dropping frames, because waiting costs no simulated time.
    realtime: bool = True

    def __init__(self) -> None:
        self.wall_is_set = True

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""

    @abstractmethod
    def wall(self) -> float:
        """Seconds since the Unix epoch, UTC (may be wrong when :attr:`wall_is_set` is False)."""

    @abstractmethod
    def call_at(self, due: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once when :meth:`monotonic` reaches ``due``."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.monotonic() + max(0.0, delay), callback)

    def set_wall(self, wall: float) -> None:
        """Set the wall clock to ``wall`` (Unix seconds, UTC) and mark it set. Monotonic time
        and timers are not affected. Raises :class:`ClockSetError` where it cannot be done."""
        raise ClockSetError(f"{type(self).__name__} cannot set the wall clock")

    def close(self) -> None:  # noqa: B027 - optional hook for backends that own a thread
        """Release the clock's thread, if any."""


class TimerQueue:
    """A heap of timers; shared by the real and the simulated clock."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()

    def push(self, due: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(due, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        return timer

    def next_due(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: float) -> Timer | None:
        due = self.next_due()
        if due is None or due > now:
            return None
        return heapq.heappop(self._heap)


class SystemClock(Clock):
    """The operating system's clocks, with one scheduler thread for timers."""

    realtime = True

    def __init__(self) -> None:
        super().__init__()
        self._timers = TimerQueue()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="clock", daemon=True)
        self._thread.start()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    #: How the system clock is set; a test replaces it rather than change the machine's time.
    settime: Callable[[int, float], None] = staticmethod(time.clock_settime)

    def set_wall(self, wall: float) -> None:
        """Needs CAP_SYS_TIME (the systemd unit can grant it); without it the dock reports
        the clock as not set and the camera signs its requests with the store's time."""
        try:
            type(self).settime(time.CLOCK_REALTIME, wall)
        except PermissionError:
            raise ClockSetError("setting the system clock needs CAP_SYS_TIME (run as root, add "
                                "AmbientCapabilities=CAP_SYS_TIME to the unit, or let NTP set "
                                "it)") from None
        except OSError as exc:
            raise ClockSetError(f"setting the system clock failed: {exc.strerror}") from None
        self.wall_is_set = True

    def call_at(self, due: float, callback: Callable[[], None]) -> Timer:
        with self._cond:
            timer = self._timers.push(due, callback)
            self._cond.notify()
        return timer

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                timer = self._timers.pop_due(time.monotonic())
                if timer is None:
                    due = self._timers.next_due()
                    self._cond.wait(None if due is None else max(0.0, due - time.monotonic()))
                    continue
            if not timer.cancelled:
                timer.callback()
