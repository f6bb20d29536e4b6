"""Location search: which recordings passed within a radius of a place in a time window.

The basis of ``bodycam store find`` and of a member of the public's request to see footage of
themselves (:mod:`store.requests`). At ingest every segment's signed ``track`` becomes *legs*
in the catalogue (table ``track_legs``, migration 4): a leg joins two consecutive fixes, or is
one fix alone; the person is taken to move along a straight line in latitude and longitude, at
constant speed, from one fix to the next, so a track that passes the place *between* two fixes
is found. Two fixes are never joined across an interval without a fix (``no_fix``): nobody
knows where the camera went in a tunnel. The last fix of a segment is joined to the first of
the next when neither segment has a no-fix interval between them (``track_tails``).

A search is a bounding-box prefilter in SQL (each leg's box against the box of every point
within the radius), then the exact great-circle distance (haversine, on the mean Earth radius)
from the place to the nearest point of each leg inside the window. Times are the receiver's
(``fix_utc``: right even when the camera's clock was not set); the join/no-join decision uses
the camera's clock (``utc``), the one its no-fix intervals are written in.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from evidence.manifest import Manifest
from evidence.utc import utc_iso, utc_seconds
from store.errors import bad_request

log = logging.getLogger("bodycam.store")

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8
#: The largest radius a search takes (a quarter of the Earth's circumference: a bounding box
#: stays meaningful).
MAX_RADIUS_M = 10_000_000.0
#: Legs looked at exactly in one search at most; a broader search is refused, not run for ever.
MAX_CANDIDATES = 200_000

#: Legs are filed by how far in latitude they span, at most each of these (degrees; the last
#: class is the rest), so a search scans each class's ``min_lat`` index over the query's band
#: widened by no more than the class's span: a walking leg of 10 s spans ~0.0001 degrees.
LAT_CLASSES = (0.001, 0.01, 0.1, 180.0)

#: The catalogue's tables for the index (store/catalogue.py MIGRATIONS, number 4).
TABLES = [
    "CREATE TABLE IF NOT EXISTS track_legs (device_id TEXT NOT NULL, recording_id TEXT NOT "
    "NULL, segment_index INTEGER NOT NULL, leg INTEGER NOT NULL, t0 REAL NOT NULL, t1 REAL NOT "
    "NULL, lat0 REAL NOT NULL, lon0 REAL NOT NULL, lat1 REAL NOT NULL, lon1 REAL NOT NULL, "
    "min_lat REAL NOT NULL, max_lat REAL NOT NULL, min_lon REAL NOT NULL, max_lon REAL NOT "
    "NULL, lat_class INTEGER NOT NULL, officer_id TEXT, PRIMARY KEY (device_id, recording_id, "
    "segment_index, leg))",
    "CREATE INDEX IF NOT EXISTS track_legs_lat ON track_legs (lat_class, min_lat)",
    "CREATE TABLE IF NOT EXISTS track_tails (device_id TEXT NOT NULL, recording_id TEXT NOT "
    "NULL, segment_index INTEGER NOT NULL, utc_s REAL NOT NULL, t REAL NOT NULL, lat REAL NOT "
    "NULL, lon REAL NOT NULL, PRIMARY KEY (device_id, recording_id, segment_index))",
]


@dataclass(frozen=True)
class Fix:
    utc_s: float  # the camera's clock: compared with no_fix intervals
    t: float  # the receiver's time: what a search reports and windows
    lat: float
    lon: float


@dataclass(frozen=True)
class Leg:
    """From one fix to the next (or one fix: both ends the same)."""

    t0: float
    t1: float
    lat0: float
    lon0: float
    lat1: float
    lon1: float

    def at(self, s: float) -> tuple[float, float, float]:
        """(time, lat, lon) a fraction ``s`` of the way along (longitude the short way)."""
        dlon = _wrap(self.lon1 - self.lon0)
        return (self.t0 + s * (self.t1 - self.t0), self.lat0 + s * (self.lat1 - self.lat0),
                _wrap(self.lon0 + s * dlon))

    def box(self) -> tuple[float, float, float, float]:
        """(min lat, max lat, min lon, max lon) holding the whole leg; a leg crossing the
        antimeridian gets every longitude (rare, and only a prefilter)."""
        lo_lat, hi_lat = sorted((self.lat0, self.lat1))
        if abs(self.lon1 - self.lon0) > 180:
            return lo_lat, hi_lat, -180.0, 180.0
        lo_lon, hi_lon = sorted((self.lon0, self.lon1))
        return lo_lat, hi_lat, lo_lon, hi_lon


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def nearest_on_leg(leg: Leg, lat: float, lon: float, t_from: float, t_to: float,
                   within_m: float | None = None) -> tuple[float, float, float, float] | None:
    """(distance m, time, lat, lon) of the leg's nearest point to (lat, lon) among its points
    inside [t_from, t_to]; None if the leg is wholly outside the window (or, given
    ``within_m``, plainly farther than that). A coarse pass over
    the leg, then golden-section refinement around the best sample (the distance along a
    leg of a few hundred metres has one minimum; the coarse pass covers longer ones)."""
    lo, hi = 0.0, 1.0
    if leg.t1 > leg.t0:
        lo = max(0.0, (t_from - leg.t0) / (leg.t1 - leg.t0))
        hi = min(1.0, (t_to - leg.t0) / (leg.t1 - leg.t0))
        if lo > hi:
            return None
    elif not t_from <= leg.t0 <= t_to:
        return None

    def dist(s: float) -> float:
        _, la, lo_ = leg.at(s)
        return haversine_m(lat, lon, la, lo_)

    if (leg.lat0 == leg.lat1 and leg.lon0 == leg.lon1) or hi - lo < 1e-12:
        s = lo
    elif _local(leg, lat, lon):
        # the plane's answer, refined on the sphere within a small bracket around it
        s = _projected(leg, lat, lon, lo, hi)
        if within_m is not None and _plane_m(leg, lat, lon, s) > within_m * 1.1 + 5:
            return None  # far outside the radius (the plane is within 3% here): no exact check
        s = _golden(dist, max(lo, s - 0.02), min(hi, s + 0.02), 16, s)
    else:
        steps = 32
        samples = [lo + (hi - lo) * i / steps for i in range(steps + 1)]
        best = min(range(len(samples)), key=lambda i: dist(samples[i]))
        s = _golden(dist, samples[max(0, best - 1)], samples[min(steps, best + 1)], 60,
                    samples[best])
    t, la, lo_ = leg.at(s)
    return dist(s), t, la, lo_


def _golden(f: Any, a: float, b: float, rounds: int, guess: float) -> float:
    """Golden-section search for the minimum of ``f`` on [a, b]; never worse than ``guess``
    or the bracket's ends."""
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(rounds):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return min((a, b, c, d, guess), key=f)


def _local(leg: Leg, lat: float, lon: float) -> bool:
    """Whether the leg and the point are within a few km of each other (and away from the
    poles and the antimeridian), where a local plane gives the nearest point exactly enough."""
    return (abs(leg.lat1 - leg.lat0) < 0.05 and abs(leg.lon1 - leg.lon0) < 0.05
            and abs(lat - leg.lat0) < 0.5 and abs(_wrap(lon - leg.lon0)) < 0.5
            and abs(leg.lat0) < 70)


def _projected(leg: Leg, lat: float, lon: float, lo: float, hi: float) -> float:
    """The fraction along the leg nearest the point in the local equirectangular plane."""
    k = math.cos(math.radians((leg.lat0 + leg.lat1) / 2))
    ax, ay = 0.0, 0.0
    bx, by = _wrap(leg.lon1 - leg.lon0) * k, leg.lat1 - leg.lat0
    px, py = _wrap(lon - leg.lon0) * k, lat - leg.lat0
    length = bx * bx + by * by
    s = ((px - ax) * bx + (py - ay) * by) / length if length else 0.0
    return min(hi, max(lo, s))


def _plane_m(leg: Leg, lat: float, lon: float, s: float) -> float:
    """The distance in the local plane from the point to the leg's point at ``s``."""
    _, la, lo_ = leg.at(s)
    k = math.cos(math.radians((la + lat) / 2))
    return math.hypot(_wrap(lo_ - lon) * k, la - lat) * math.pi / 180 * EARTH_RADIUS_M


def fixes_of(manifest: Manifest) -> tuple[list[Fix], list[tuple[float, float]]]:
    """The manifest's fixes (camera-clock order) and no-fix intervals, as seconds."""
    fixes = sorted((Fix(utc_seconds(f["utc"]), utc_seconds(f["fix_utc"]), float(f["lat"]),
                        float(f["lon"])) for f in manifest.track or ()),
                   key=lambda f: (f.utc_s, f.t))
    gaps = [(utc_seconds(g["from_utc"]), utc_seconds(g["to_utc"])) for g in manifest.no_fix or ()]
    return fixes, gaps


def _blocked(a: float, b: float, gaps: list[tuple[float, float]]) -> bool:
    """Whether a no-fix interval lies between camera times ``a`` and ``b``."""
    return any(start < b and end > a for start, end in gaps)


def _joined(a: Fix, b: Fix, gaps: list[tuple[float, float]]) -> bool:
    return b.t >= a.t and not _blocked(a.utc_s, b.utc_s, gaps)


def legs_of(fixes: list[Fix], gaps: list[tuple[float, float]]) -> list[Leg]:
    """Consecutive fixes joined (never across a no-fix interval), and lone fixes as points."""
    legs: list[Leg] = []
    paired = [False] * len(fixes)
    for i in range(len(fixes) - 1):
        a, b = fixes[i], fixes[i + 1]
        if _joined(a, b, gaps):
            legs.append(Leg(a.t, b.t, a.lat, a.lon, b.lat, b.lon))
            paired[i] = paired[i + 1] = True
    legs += [Leg(f.t, f.t, f.lat, f.lon, f.lat, f.lon)
             for f, joined in zip(fixes, paired, strict=True) if not joined]
    return legs


def lat_class(leg: Leg) -> int:
    """The :data:`LAT_CLASSES` class of the leg's span in latitude."""
    span = abs(leg.lat1 - leg.lat0)
    return next(i for i, most in enumerate(LAT_CLASSES) if span <= most)


def officer_of(manifest: Manifest) -> str | None:
    """The assigned officer's id, if the manifest names one (absent or "unassigned": None)."""
    officer = getattr(manifest, "officer", None)
    value = officer.get("officer_id") if isinstance(officer, dict) else None
    return value if isinstance(value, str) and value else None


def index_segment(catalogue: Any, db: Any, manifest: Manifest) -> int:
    """Inside the segment's ingest transaction: its legs, joined to the previous segment's
    last fix where nothing came between. Returns how many legs were written; a segment
    without a track writes none."""
    try:  # the manifest was checked at ingest; still, evidence is stored even if this fails
        fixes, gaps = fixes_of(manifest)
        legs = legs_of(fixes, gaps)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        log.warning("store: the track of %s segment %s is not indexed: %s",
                    manifest.recording_id, manifest.segment_index, exc)
        return 0
    if not fixes:
        return 0
    key = (manifest.device_id, manifest.recording_id, manifest.segment_index)
    numbered = list(enumerate(legs))
    if manifest.segment_index > 0:
        tail = catalogue.one("SELECT utc_s, t, lat, lon FROM track_tails WHERE device_id = ? "
                             "AND recording_id = ? AND segment_index = ?", key[0], key[1],
                             key[2] - 1)
        if tail is not None:
            last = Fix(tail["utc_s"], tail["t"], tail["lat"], tail["lon"])
            first = fixes[0]
            if _joined(last, first, gaps):
                numbered.append((-1, Leg(last.t, first.t, last.lat, last.lon, first.lat,
                                         first.lon)))
    officer = officer_of(manifest)
    db.executemany(
        "INSERT OR IGNORE INTO track_legs (device_id, recording_id, segment_index, leg, t0, t1, "
        "lat0, lon0, lat1, lon1, min_lat, max_lat, min_lon, max_lon, lat_class, officer_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*key, n, leg.t0, leg.t1, leg.lat0, leg.lon0, leg.lat1, leg.lon1, *leg.box(),
          lat_class(leg), officer) for n, leg in numbered])
    last = fixes[-1]
    if not any(end > last.utc_s for _, end in gaps):
        db.execute("INSERT OR IGNORE INTO track_tails (device_id, recording_id, segment_index, "
                   "utc_s, t, lat, lon) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (*key, last.utc_s, last.t, last.lat, last.lon))
    return len(numbered)


@dataclass(frozen=True)
class Query:
    lat: float
    lon: float
    radius_m: float
    t_from: float
    t_to: float
    officer_id: str | None = None


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise bad_request(f"{name} {value[:40]!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"{name} {str(value)[:40]!r} is not a number")
    if not low <= value <= high:
        raise bad_request(f"{name} {value:g} is out of range {low:g} to {high:g}")
    return float(value)


def _time(value: Any, name: str) -> float:
    from store.clock import parse_utc

    try:
        return parse_utc(value)
    except ValueError as exc:
        raise bad_request(f"{name}: {exc}") from None


def parse_near(text: Any) -> tuple[float, float]:
    """``LAT,LON`` as typed (decimal degrees)."""
    if not isinstance(text, str) or text.count(",") != 1:
        raise bad_request(f"near {str(text)[:40]!r} is not LAT,LON (decimal degrees, such as "
                          "51.5007,-0.1246)")
    lat, lon = text.split(",")
    return _number(lat, "latitude", -90, 90), _number(lon, "longitude", -180, 180)


def make_query(lat: Any, lon: Any, radius: Any, since: Any, until: Any,
               officer: Any = None) -> Query:
    """A search from what a person or a client sent, every part checked (a 400 naming it)."""
    from store.validate import safe_name

    q = Query(_number(lat, "latitude", -90, 90), _number(lon, "longitude", -180, 180),
              _number(radius, "radius", 0, MAX_RADIUS_M), _time(since, "from"),
              _time(until, "to"),
              safe_name(officer, "officer") if officer not in (None, "") else None)
    if q.t_from > q.t_to:
        raise bad_request(f"from {since} is after to {until}")
    return q


def query_box(q: Query) -> tuple[float, float, float, float] | None:
    """(min lat, max lat, min lon, max lon) holding every point within the radius (slightly
    enlarged); every longitude when the circle holds a pole or crosses the antimeridian."""
    d = q.radius_m / EARTH_RADIUS_M * 1.000001 + 1e-9
    lat = math.radians(q.lat)
    lo, hi = math.degrees(lat - d), math.degrees(lat + d)
    if hi >= 90 or lo <= -90:
        return max(lo, -90.0), min(hi, 90.0), -180.0, 180.0
    dl = math.degrees(math.asin(min(1.0, math.sin(d) / math.cos(lat))))
    west, east = q.lon - dl, q.lon + dl
    if west < -180 or east > 180:
        return lo, hi, -180.0, 180.0
    return lo, hi, west, east


def find(catalogue: Any, q: Query) -> list[dict[str, Any]]:
    """The recordings whose track passes within the radius in the window: one entry each,
    at its nearest approach, nearest first in time."""
    lo_lat, hi_lat, lo_lon, hi_lon = query_box(q)
    rows: list[Any] = []
    for number, span in enumerate(LAT_CLASSES):
        rows += catalogue.all(
            "SELECT l.device_id, l.recording_id, l.segment_index, l.t0, l.t1, l.lat0, l.lon0, "
            "l.lat1, l.lon1, l.officer_id FROM track_legs l WHERE l.lat_class = ?1 AND "
            "l.min_lat >= ?2 AND l.min_lat <= ?3 AND l.max_lat >= ?4 AND l.max_lon >= ?5 AND "
            "l.min_lon <= ?6 AND l.t1 >= ?7 AND l.t0 <= ?8 AND (?9 IS NULL OR "
            "l.officer_id = ?9) LIMIT ?10", number, lo_lat - span, hi_lat, lo_lat, lo_lon,
            hi_lon, q.t_from, q.t_to, q.officer_id, MAX_CANDIDATES + 1 - len(rows))
    if len(rows) > MAX_CANDIDATES:
        raise bad_request(f"the search matches over {MAX_CANDIDATES} track legs: narrow the "
                          "radius or the window")
    best: dict[tuple[str, str], tuple[float, float, float, float, int, str | None]] = {}
    for r in rows:
        leg = Leg(r["t0"], r["t1"], r["lat0"], r["lon0"], r["lat1"], r["lon1"])
        near = nearest_on_leg(leg, q.lat, q.lon, q.t_from, q.t_to, q.radius_m)
        if near is None or near[0] > q.radius_m:
            continue
        key = (r["device_id"], r["recording_id"])
        if key not in best or near[0] < best[key][0]:
            best[key] = (*near, r["segment_index"], r["officer_id"])
    out = []
    for (device_id, recording_id), (dist, t, lat, lon, seg, officer) in best.items():
        out.append({"device_id": device_id, "recording_id": recording_id,
                    "nearest_utc": utc_iso(t), "distance_m": round(dist, 1),
                    "nearest_lat": round(lat, 6), "nearest_lon": round(lon, 6),
                    "segment_index": seg, "officer_id": officer})
    out.sort(key=lambda e: (e["nearest_utc"], e["device_id"], e["recording_id"]))
    return out


def with_state(store: Any, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each match with its recording's state: kept, evidence, or deleted by retention."""
    for m in matches:
        row = store.catalogue.one("SELECT case_ref, deleted_utc FROM recordings WHERE "
                                  "device_id = ? AND recording_id = ?", m["device_id"],
                                  m["recording_id"])
        m["deleted_utc"] = row["deleted_utc"] if row else None
        m["flagged"] = bool(row and row["case_ref"])
    return matches


def backfill(store: Any) -> int:
    """Index the segments stored before the index existed (once; re-running is harmless:
    rows are keyed). Their manifests are in the object store by hash."""
    from store.catalogue import device_lock

    if store.catalogue.get_meta("track_index_backfilled"):
        return 0
    rows = store.catalogue.all(
        "SELECT s.device_id, s.manifest_sha256 FROM segments s WHERE s.deleted_utc IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM track_legs l WHERE l.device_id = s.device_id AND "
        "l.recording_id = s.recording_id AND l.segment_index = s.segment_index) ORDER BY "
        "s.device_id, s.recording_id, s.segment_index")
    done = 0
    for row in rows:
        try:
            manifest = Manifest.from_bytes(store.objects.read_bytes(row["manifest_sha256"]))
        except (OSError, ValueError):
            continue  # verified at ingest; an unreadable one is the verifier's to report
        with store.catalogue.tx(device_lock(row["device_id"])) as db:
            done += index_segment(store.catalogue, db, manifest) > 0
    store.catalogue.set_meta("track_index_backfilled", utc_iso(store.clock()))
    return done
