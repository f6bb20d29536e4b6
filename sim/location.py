"""A simulated GNSS receiver: an officer walking a loop of real Westminster streets.

The route runs from Westminster station up Whitehall to Trafalgar Square, back down the
Victoria Embankment and through the pedestrian subway under Bridge Street, where the fix is
lost for about a minute (:data:`TUNNEL_S`), as a real receiver loses it underground. Readings
come once a second on the clock's timers, so a test walks the whole loop without sleeping.
``move`` pins the officer to a point, ``lose``/``regain`` take the sky away and give it back,
``walk`` resumes the route (``bodycam location ...`` and the panel reach these through the
control socket).
"""

from __future__ import annotations

import math

from hal.clock import Clock
from hal.location import Fix, LocationReceiver, LocationSink, NoFix, Reading, fix_problem
from sim.devices import Paced

#: (latitude, longitude) of the loop, WGS84; the last point joins the first.
ROUTE: tuple[tuple[float, float], ...] = (
    (51.50100, -0.12480),  # Westminster station, Bridge Street exit
    (51.50090, -0.12640),  # Parliament Square, north-east corner
    (51.50230, -0.12610),  # Parliament Street
    (51.50330, -0.12620),  # Whitehall at Downing Street
    (51.50480, -0.12690),  # Whitehall at Horse Guards
    (51.50620, -0.12750),  # Whitehall Place corner
    (51.50740, -0.12780),  # Trafalgar Square, Charing Cross
    (51.50640, -0.12460),  # Northumberland Avenue
    (51.50730, -0.12240),  # Embankment station
    (51.50560, -0.12190),  # Victoria Embankment at Hungerford Bridge
    (51.50380, -0.12310),  # Victoria Embankment, RAF memorial
    (51.50230, -0.12360),  # Victoria Embankment near Westminster Pier
    (51.50180, -0.12380),  # Westminster Pier: into the Bridge Street subway
    (51.50115, -0.12442),  # the subway's far end, by the station
)
#: The leg from this point to the next is underground (the subway): no fix there.
TUNNEL_LEG = 12
#: Walking pace, metres a second.
WALK_MPS = 1.4
#: About how long the subway takes at walking pace.
TUNNEL_S = 60.0
EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance in metres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


class SimLocation(Paced[LocationSink], LocationReceiver):
    """Walks :data:`ROUTE` at :data:`WALK_MPS`; a reading every ``period_s``."""

    def __init__(self, clock: Clock, period_s: float = 1.0, speed_mps: float = WALK_MPS) -> None:
        super().__init__()
        self.clock = clock
        self.period_s = period_s
        self.legs = [distance_m(ROUTE[i], ROUTE[(i + 1) % len(ROUTE)])
                     for i in range(len(ROUTE))]
        self.loop_m = sum(self.legs)
        # The subway is as long as a minute's walk, whatever the map says.
        self.speed_mps = speed_mps
        self._init_paced()
        self._origin = clock.monotonic()  # walking starts here, from the first point
        self.pinned: tuple[float, float] | None = None
        self.sky_lost = False

    # -- what the receiver sees ------------------------------------------------------------------
    def where(self, t: float | None = None) -> tuple[tuple[float, float], bool]:
        """Position at monotonic ``t`` (now by default) and whether it is underground."""
        if self.pinned is not None:
            return self.pinned, False
        t = self.clock.monotonic() if t is None else t
        along = ((t - self._origin) * self.speed_mps) % self.loop_m
        for i, leg in enumerate(self.legs):
            if along <= leg or i == len(self.legs) - 1:
                f = min(1.0, along / leg) if leg else 0.0
                a, b = ROUTE[i], ROUTE[(i + 1) % len(ROUTE)]
                return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f), i == TUNNEL_LEG
            along -= leg
        raise AssertionError("unreachable: the loop has legs")

    def reading(self) -> Reading:
        """What the receiver would report now."""
        now = self.clock.monotonic()
        (lat, lon), underground = self.where(now)
        if self.sky_lost or underground:
            return NoFix(now)
        # accuracy wanders a little with the buildings, as a receiver's HDOP does
        accuracy = round(4.0 + 2.0 * abs(math.sin(now / 37.0)), 1)
        return Fix(round(lat, 7), round(lon, 7), accuracy, self.clock.wall(), now, 9)

    # -- control ---------------------------------------------------------------------------------
    def move(self, latitude: float, longitude: float) -> None:
        """Pin the officer at a point (until :meth:`walk`); ValueError names a bad one."""
        problem = fix_problem(latitude, longitude, 0.0, 0)
        if problem is not None:
            raise ValueError(problem)
        self.pinned = (latitude, longitude)
        self._report()

    def walk(self) -> None:
        """Resume the route from its first point."""
        self.pinned = None
        self._origin = self.clock.monotonic()
        self._report()

    def lose(self) -> None:
        self.sky_lost = True
        self._report()

    def regain(self) -> None:
        self.sky_lost = False
        self._report()

    def _report(self) -> None:
        """A change is heard at once (not at the next second's reading), when powered."""
        with self._lock:
            sink = self._sink
        if sink is not None:
            self.last = self.reading()
            sink(self.last)

    # -- the receiver ----------------------------------------------------------------------------
    def _begin(self) -> None:
        self._timer = self.clock.call_later(0.0, self._tick)

    def _tick(self) -> None:
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            self._timer = self.clock.call_later(self.period_s, self._tick)
        self.last = self.reading()
        sink(self.last)
