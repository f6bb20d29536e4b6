"""The location receiver (GNSS): fixes pushed to one sink, like the camera's frames.

A backend overrides :meth:`LocationReceiver.start` and :meth:`LocationReceiver.stop` and calls
the sink from its own thread (or a clock timer) with a :class:`Fix`, or with :data:`NO_FIX`
when the receiver has no position (a tunnel, indoors, a cold start). No fix is a state the
receiver reports, not an error: the firmware records the interval without one.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fix:
    """One position. ``fix_wall``: the receiver's own UTC time of the fix (Unix seconds, from
    the satellites, not the camera's clock); ``t_mono``: when the camera heard it (monotonic)."""

    latitude: float
    longitude: float
    accuracy_m: float
    fix_wall: float
    t_mono: float
    satellites: int

    def __post_init__(self) -> None:
        problem = fix_problem(self.latitude, self.longitude, self.accuracy_m, self.satellites)
        if problem is not None:
            raise ValueError(problem)


@dataclass(frozen=True, slots=True)
class NoFix:
    """The receiver answers but has no position; ``t_mono``: when it said so."""

    t_mono: float


#: What a sink hears: a position, or that there is none.
Reading = Fix | NoFix
LocationSink = Callable[[Reading], None]


def fix_problem(latitude: float, longitude: float, accuracy_m: float,
                satellites: int) -> str | None:
    """Why these numbers are no position (one line), or None when they are one."""
    for name, value, lo, hi in (("latitude", latitude, -90.0, 90.0),
                                ("longitude", longitude, -180.0, 180.0),
                                ("accuracy_m", accuracy_m, 0.0, 1e7)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or not lo <= value <= hi:
            return f"{name} {value!r} is not a number in [{lo:g}, {hi:g}]"
    if isinstance(satellites, bool) or not isinstance(satellites, int) or \
            not 0 <= satellites <= 255:
        return f"satellites {satellites!r} is not a whole number in [0, 255]"
    return None


class LocationReceiver(ABC):
    """A GNSS receiver. ``errors`` counts what it could not read (garbled sentences)."""

    def __init__(self) -> None:
        self.errors = 0
        self.last: Reading | None = None

    @abstractmethod
    def start(self, sink: LocationSink) -> None:
        """Power the receiver and deliver readings to ``sink`` until :meth:`stop`."""

    @abstractmethod
    def stop(self) -> None:
        """Stop delivering readings (and idle the receiver); safe to call when stopped."""

    def close(self) -> None:
        """Release the receiver's port or thread for good."""
        self.stop()
