"""The location policy: when the receiver is on, when a fix is taken, what is told of it.

The receiver's sink (its own thread) only keeps the latest reading. On the daemon's thread a
timer takes a fix every ``location.recording_interval_s`` while recording and every
``location.buffering_interval_s`` while buffering; in standby, docked or off the receiver is
powered down. The audit log hears the first fix, each loss and each regain; during a recording
each fix (or its absence) goes down the pipeline in band (:class:`LocationSample`), so it lands
in the manifest of the segment it belongs to (:func:`segment_track`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evidence.utc import utc_iso
from hal.clock import Clock, Timer
from hal.location import Fix, LocationReceiver, Reading

#: The first look after a mode change waits this long: a receiver reports once a second.
FIRST_LOOK_S = 1.0
#: The modes in which the receiver is on, and the configuration key of each one's cadence.
CADENCE = {"recording": "recording_interval_s", "buffering": "buffering_interval_s"}


@dataclass(frozen=True)
class LocationSample:
    """One look at the receiver during a recording: a fix, or None when there was none."""

    t_mono: float
    wall: float
    fix: Fix | None


def fix_entry(sample: LocationSample) -> dict[str, Any]:
    """A fix as the manifest's ``track`` holds it (docs/FORMAT.md)."""
    fix = sample.fix
    assert fix is not None
    return {"utc": utc_iso(sample.wall), "fix_utc": utc_iso(fix.fix_wall),
            "lat": fix.latitude, "lon": fix.longitude, "accuracy_m": fix.accuracy_m,
            "satellites": fix.satellites}


#: A sample as a pending record keeps it (for recovery after a power cut): monotonic time,
#: camera UTC as Unix seconds, and the manifest's fix entry, or None for no fix.
Look = tuple[float, float, dict[str, Any] | None]


def looks(samples: Sequence[LocationSample], start_mono: float) -> list[Look]:
    """What a segment starting at ``start_mono`` needs of its recording's samples: the last one
    before it (was the fix lost as it began?) and all from it on."""
    before = [s for s in samples if s.t_mono < start_mono][-1:]
    return [(s.t_mono, s.wall, fix_entry(s) if s.fix is not None else None)
            for s in (*before, *(s for s in samples if s.t_mono >= start_mono))]


def segment_track(samples: Sequence[LocationSample] | Sequence[Look], start_mono: float,
                  start_wall: float, end_wall: float
                  ) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """A segment's ``track`` and ``no_fix`` from its recording's samples (in order): the fixes
    taken from its first frame on, and the intervals without one, cut at its start and end (an
    interval open when it began starts at its start)."""
    seen = [s if isinstance(s, tuple) else (s.t_mono, s.wall, fix_entry(s) if s.fix else None)
            for s in samples]
    before = [s for s in seen if s[0] < start_mono]
    lost_from = start_wall if before and before[-1][2] is None else None
    track: list[dict[str, Any]] = []
    no_fix: list[dict[str, Any]] = []
    for _, wall, entry in (s for s in seen if s[0] >= start_mono):
        if entry is not None:
            track.append(dict(entry))
            if lost_from is not None:
                no_fix.append({"from_utc": utc_iso(lost_from), "to_utc": utc_iso(wall)})
                lost_from = None
        elif lost_from is None:
            lost_from = min(wall, end_wall)
    if lost_from is not None:
        no_fix.append({"from_utc": utc_iso(lost_from), "to_utc": utc_iso(max(lost_from,
                                                                              end_wall))})
    return tuple(track), tuple(no_fix)


class Tracker:
    """Owned by the daemon's thread (all but :meth:`heard`, which the receiver calls)."""

    def __init__(self, receiver: LocationReceiver | None, clock: Clock,
                 settings: Callable[[], Any], audit: Callable[..., None],
                 post: Callable[..., None], note: Callable[[str], None]) -> None:
        self.receiver = receiver
        self.clock = clock
        self.settings = settings  # the [location] section now in force
        self.audit = audit
        self.post = post
        self.note = note
        self._lock = threading.Lock()
        self._latest: Reading | None = None
        self._on = False
        self._timer: Timer | None = None
        self.had_fix: bool | None = None  # None: no fix since power on
        self.last_fix: Fix | None = None

    def heard(self, reading: Reading) -> None:
        """The receiver's sink: keep the newest reading (any thread)."""
        with self._lock:
            self._latest = reading

    def current(self) -> Fix | None:
        """The newest fix if it is fresh, else None (no fix is a state, not an error)."""
        with self._lock:
            reading = self._latest
        if not isinstance(reading, Fix):
            return None
        if self.clock.monotonic() - reading.t_mono > self.settings().max_age_s:
            return None
        return reading

    def follow(self, mode: str) -> None:
        """The mode changed: power the receiver for it and take fixes at its cadence."""
        if self.receiver is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if mode not in CADENCE:
            if self._on:
                self.receiver.stop()
                self._on = False
                with self._lock:
                    self._latest = None
            return
        if not self._on:
            self.receiver.start(self.heard)
            self._on = True
        # the receiver's first reading lands on its own timer: look once it has had the chance
        self._schedule(self.clock.monotonic() + FIRST_LOOK_S, mode)

    def _schedule(self, due: float, mode: str) -> None:
        self._timer = self.clock.call_at(due, lambda: self.post("locate", due=due, mode=mode))

    def due(self, due: float, mode: str) -> LocationSample | None:
        """A cadence timer fired: take the fix, say what changed, schedule the next one one
        interval after this one's due time (no drift). Returns the sample, for a recording."""
        if self._timer is None or self._timer.due != due:
            return None  # stale: the mode changed since
        self._schedule(due + getattr(self.settings(), CADENCE[mode]), mode)
        return self.sample()

    def sample(self) -> LocationSample:
        fix = self.current()
        now, wall = self.clock.monotonic(), self.clock.wall()
        if fix is not None:
            self.last_fix = fix
            if self.had_fix is not True:
                reason = "first fix" if self.had_fix is None else "fix regained"
                self.audit("location", reason, lat=fix.latitude, lon=fix.longitude,
                           accuracy_m=fix.accuracy_m, satellites=fix.satellites,
                           fix_utc=utc_iso(fix.fix_wall))
                self.note(f"location: {reason} ({fix.latitude:.5f}, {fix.longitude:.5f})")
            self.had_fix = True
        elif self.had_fix:
            self.audit("location", "fix lost", last_lat=self.last_fix.latitude if
                       self.last_fix else None,
                       last_lon=self.last_fix.longitude if self.last_fix else None)
            self.note("location: fix lost")
            self.had_fix = False
        return LocationSample(now, wall, fix)

    def status(self) -> dict[str, Any]:
        """For ``bodycam status``: whether the receiver is on and the last fix."""
        fix = self.current() if self._on else None
        return {"receiver": "none" if self.receiver is None else ("on" if self._on else "off"),
                "fix": None if fix is None else {"lat": fix.latitude, "lon": fix.longitude,
                                                 "accuracy_m": fix.accuracy_m,
                                                 "satellites": fix.satellites},
                "errors": self.receiver.errors if self.receiver is not None else 0}
