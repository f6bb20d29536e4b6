"""Benchmark of the location search (store/search.py): indexing tracks at ingest and searching
them, on the embedded catalogue (SQLite), for a force's shift of walking cameras."""

from __future__ import annotations

import math
import random
import tempfile
import time
from pathlib import Path

from bench_pipeline import Row

from evidence.manifest import Manifest
from evidence.utc import utc_iso
from store.catalogue import Catalogue
from store.search import find, index_segment, make_query

START = 1_780_000_000.0
CENTRE = (51.5007, -0.1246)
SEGMENT_FIXES = 6  # a minute's segment at a fix every 10 s


def _segment(camera: int, index: int, lat: float, lon: float, rng: random.Random,
             ) -> tuple[Manifest, float, float]:
    """One minute of a camera walking (about 1.4 m/s), as a manifest with its track."""
    track = []
    t0 = START + index * 60
    for k in range(SEGMENT_FIXES):
        t = t0 + k * 10
        track.append({"utc": utc_iso(t), "fix_utc": utc_iso(t), "lat": lat, "lon": lon,
                      "accuracy_m": 5.0, "satellites": 8})
        heading = rng.uniform(0, 2 * math.pi)
        lat += 14 * math.cos(heading) / 111_195
        lon += 14 * math.sin(heading) / (111_195 * math.cos(math.radians(lat)))
    manifest = Manifest(
        device_id=f"bwv-{camera:016x}", model="BWV", serial=f"S{camera}",
        recording_id=f"R{camera:06d}-000000", segment_index=index,
        file=f"R{camera:06d}-000000-{index:05d}.mp4", sha256="0" * 64, size=1,
        start_utc=utc_iso(t0), end_utc=utc_iso(t0 + 60), duration_s=60.0, frame_count=1800,
        codec="h264", width=1280, height=720, fps=30.0, prev_manifest_sha256=None, last=False,
        track=tuple(track), no_fix=())
    return manifest, lat, lon


def location_search(seconds: float) -> list[Row]:
    """Cameras walking over central London for a shift (one recording each, a minute's
    segments), indexed as ingest does; then searches at random places: 50 m in an hour, and
    500 m over the whole shift."""
    cameras = max(10, int(seconds * 40))
    minutes = 8 * 60
    rng = random.Random(17)
    with tempfile.TemporaryDirectory() as tmp:
        cat = Catalogue(Path(tmp) / "catalogue.sqlite")
        legs, t0 = 0, time.perf_counter()
        for camera in range(cameras):
            lat = CENTRE[0] + rng.uniform(-0.03, 0.03)
            lon = CENTRE[1] + rng.uniform(-0.05, 0.05)
            for index in range(minutes):
                manifest, lat, lon = _segment(camera, index, lat, lon, rng)
                with cat.tx() as db:  # one ingest transaction per segment, as the store's
                    legs += index_segment(cat, db, manifest)
        index_s = time.perf_counter() - t0
        rows = [Row(f"find: index {cameras} cameras x 8 h ({legs:,} legs)",
                    f"{legs / index_s:,.0f} /s",
                    f"{cameras * minutes / index_s:,.0f} segments/s, one transaction each")]
        for radius, window_s, label in ((50, 3600, "50 m, 1 h"), (500, minutes * 60,
                                                                   "500 m, 8 h")):
            runs, hits, start = 0, 0, time.perf_counter()
            while runs < 20 or time.perf_counter() - start < min(seconds, 5.0):
                lat = CENTRE[0] + rng.uniform(-0.03, 0.03)
                lon = CENTRE[1] + rng.uniform(-0.05, 0.05)
                since = START + rng.uniform(0, minutes * 60 - window_s)
                hits += len(find(cat, make_query(lat, lon, radius, utc_iso(since),
                                                 utc_iso(since + window_s))))
                runs += 1
            per = (time.perf_counter() - start) / runs
            rows.append(Row(f"find: search {label} among {legs:,} legs", f"{per * 1e3:.1f} ms",
                            f"{hits / runs:.1f} recordings found on average"))
        cat.close()
    return rows


BENCHMARKS = {"find": location_search}
