"""``bodycam store find``: the recordings whose track passed near a place in a time window.

The index (store/search.py) against a brute force over random routes (hypothesis): every fix
and every straight leg between consecutive fixes, sampled densely, never across a no-fix
interval; then the whole path for real (signed segments uploaded over HTTP, the API and the
command line), and every bad input refused in one line.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.manifest import Manifest, manifest_path, write_signed_manifest
from evidence.store_client import StoreHttpError
from evidence.utc import utc_iso
from store.catalogue import MIGRATIONS, Catalogue
from store.cli import main as store_main
from store.search import (
    EARTH_RADIUS_M,
    Leg,
    find,
    haversine_m,
    index_segment,
    make_query,
    nearest_on_leg,
)
from tests.evidence_store.conftest import Camera, Running

BASE = 1_780_000_000.0  # a fixed moment (2026); fixes every 10 s from it
CENTRE = (51.5007, -0.1246)  # Westminster
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180


def manifest(rec: str, index: int, fixes: list[tuple[float, float, float]],
             gaps: list[tuple[float, float]], device: str = "dev-A",
             officer: Any = None) -> Manifest:
    """A manifest with a track (times, positions) and no-fix intervals; the rest plausible."""
    times = [t for t, _, _ in fixes] + [t for g in gaps for t in g] or [BASE]
    start, end = min(times), max(times) + 1
    m = Manifest(device_id=device, model="BWV", serial="S1", recording_id=rec,
                 segment_index=index, file=f"{rec}-{index:05d}.mp4", sha256="0" * 64, size=1,
                 start_utc=utc_iso(start), end_utc=utc_iso(end), duration_s=end - start,
                 frame_count=1, codec="h264", width=16, height=16, fps=30.0,
                 prev_manifest_sha256=None, last=False,
                 track=tuple({"utc": utc_iso(t), "fix_utc": utc_iso(t), "lat": la, "lon": lo,
                              "accuracy_m": 5.0, "satellites": 8} for t, la, lo in fixes),
                 no_fix=tuple({"from_utc": utc_iso(a), "to_utc": utc_iso(b)} for a, b in gaps))
    if officer is not None:
        object.__setattr__(m, "officer", officer)  # the field another change adds
    return m


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.engines)])
def catalogue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The index on both engines: SQLite, and PostgreSQL where it is installed."""
    if request.param == "sqlite":
        cat: Any = Catalogue(tmp_path / "catalogue.sqlite")
    else:
        pytest.importorskip("psycopg")
        from store.catalogue_pg import PostgresCatalogue

        cat = PostgresCatalogue(request.getfixturevalue("pg_database"))
    yield cat
    cat.close()


def ingest(cat: Any, m: Manifest) -> None:
    with cat.tx() as db:
        index_segment(cat, db, m)


# --- a route: fixes at a 10 s cadence, a random walk, with tunnels --------------------------

@st.composite
def routes(draw: Any) -> list[dict[str, Any]]:
    """Recordings: each a list of segments, each (fixes, gaps)."""
    recordings = []
    t = BASE
    for _ in range(draw(st.integers(1, 3))):
        lat = CENTRE[0] + draw(st.floats(-0.01, 0.01))
        lon = CENTRE[1] + draw(st.floats(-0.015, 0.015))
        segments = []
        for _ in range(draw(st.integers(1, 3))):
            fixes: list[tuple[float, float, float]] = []
            gaps: list[tuple[float, float]] = []
            for _ in range(draw(st.integers(0, 8))):
                if draw(st.integers(0, 5)) == 0:  # a tunnel: no fix for a while
                    lost = draw(st.integers(1, 6)) * 10.0
                    gaps.append((t + 1, t + lost))
                    t += lost
                    lat += draw(st.floats(-0.003, 0.003))
                    lon += draw(st.floats(-0.004, 0.004))
                fixes.append((t, lat, lon))
                t += 10.0
                lat += draw(st.floats(-0.0012, 0.0012))
                lon += draw(st.floats(-0.0018, 0.0018))
            if draw(st.integers(0, 4)) == 0:  # the segment ends without a fix
                gaps.append((t - 9, t))
            segments.append((fixes, gaps))
        recordings.append(segments)
        t += draw(st.integers(0, 3)) * 100.0
    return recordings


def brute_legs(segments: list[tuple[list[Any], list[Any]]]) -> list[Leg]:
    """Every fix alone, and every pair of consecutive fixes of the recording that no no-fix
    interval separates (written without the index's code)."""
    fixes = [f for fs, _ in segments for f in fs]
    gaps = [g for _, gs in segments for g in gs]
    legs = [Leg(t, t, la, lo, la, lo) for t, la, lo in fixes]
    for (t0, a0, o0), (t1, a1, o1) in itertools.pairwise(fixes):
        if not any(s < t1 and e > t0 for s, e in gaps):
            legs.append(Leg(t0, t1, a0, o0, a1, o1))
    return legs


def brute_min(legs: list[Leg], lat: float, lon: float, t_from: float, t_to: float,
              ) -> tuple[float, float]:
    """(the least sampled distance in the window, the sampling step's worst error in m)."""
    best, step = math.inf, 0.0
    for leg in legs:
        length = haversine_m(leg.lat0, leg.lon0, leg.lat1, leg.lon1)
        n = max(1, int(length / 0.5))  # every half metre
        step = max(step, length / n)
        for i in range(n + 1):
            t, la, lo = leg.at(i / n)
            if t_from <= t <= t_to:
                best = min(best, haversine_m(lat, lon, la, lo))
        if leg.t1 > leg.t0:  # the window's own edges fall between samples
            for edge in (t_from, t_to):
                if leg.t0 <= edge <= leg.t1:
                    _, la, lo = leg.at((edge - leg.t0) / (leg.t1 - leg.t0))
                    best = min(best, haversine_m(lat, lon, la, lo))
    return best, step


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=routes(), data=st.data())
def test_find_returns_exactly_the_recordings_that_passed_near(
        tmp_path_factory: pytest.TempPathFactory, route: list[Any], data: Any) -> None:
    cat = Catalogue(tmp_path_factory.mktemp("cat") / "catalogue.sqlite")
    try:
        for r, segments in enumerate(route):
            for i, (fixes, gaps) in enumerate(segments):
                ingest(cat, manifest(f"R{r:06d}", i, fixes, gaps))
        fixes = [f for segs in route for fs, _ in segs for f in fs]
        if len(fixes) >= 2 and data.draw(st.booleans()):
            # near a point between two fixes (in a tunnel or not), a radius of their scale
            i = data.draw(st.integers(0, len(fixes) - 2))
            s = data.draw(st.floats(0, 1))
            (_, a0, o0), (_, a1, o1) = fixes[i], fixes[i + 1]
            lat = a0 + s * (a1 - a0) + data.draw(st.floats(-0.0008, 0.0008))
            lon = o0 + s * (o1 - o0) + data.draw(st.floats(-0.0012, 0.0012))
            radius = data.draw(st.floats(1.0, 150.0))
        else:
            lat = CENTRE[0] + data.draw(st.floats(-0.012, 0.012))
            lon = CENTRE[1] + data.draw(st.floats(-0.018, 0.018))
            radius = data.draw(st.floats(1.0, 1500.0))
        all_times = [f[0] for segs in route for fs, _ in segs for f in fs] or [BASE]
        t_from = data.draw(st.floats(min(all_times) - 20, max(all_times) + 20))
        t_to = t_from + data.draw(st.floats(0, 600)) if data.draw(st.booleans()) else \
            max(all_times) + 20
        found = {m["recording_id"]: m for m in find(cat, make_query(
            lat, lon, radius, utc_iso(t_from), utc_iso(t_to)))}
        for r, segments in enumerate(route):
            rec = f"R{r:06d}"
            # the query's times are milliseconds, as utc_iso writes them
            best, step = brute_min(brute_legs(segments), lat, lon,
                                   round(t_from, 3) - 0.0005, round(t_to, 3) + 0.0005)
            if best <= radius - 0.05:
                assert rec in found, (rec, best, radius)
                assert found[rec]["distance_m"] <= best + 0.1
                assert found[rec]["distance_m"] >= best - step - 0.1
            elif best - step > radius + 0.05:
                assert rec not in found, (rec, best, radius, found.get(rec))
    finally:
        cat.close()


def test_a_track_passing_between_two_fixes_is_found(catalogue: Any) -> None:
    """Fixes 200 m either side of the place, 10 s apart: neither fix is within 20 m, the leg
    between them passes 0 m away, at the moment halfway."""
    d = 200 / M_PER_DEG
    lat, lon = CENTRE
    ingest(catalogue, manifest("R000001", 0, [(BASE, lat - d, lon), (BASE + 10, lat + d, lon)],
                               []))
    hit = find(catalogue, make_query(lat, lon, 20, utc_iso(BASE - 60), utc_iso(BASE + 60)))
    assert [h["recording_id"] for h in hit] == ["R000001"]
    assert hit[0]["distance_m"] < 0.5 and hit[0]["nearest_utc"] == utc_iso(BASE + 5)
    # the window cuts the leg: only its first second is in it, about 180 m away
    cut = find(catalogue, make_query(lat, lon, 150, utc_iso(BASE - 60), utc_iso(BASE + 1)))
    assert cut == []


def test_never_interpolated_across_a_no_fix_interval(catalogue: Any) -> None:
    d = 200 / M_PER_DEG
    lat, lon = CENTRE
    ingest(catalogue, manifest("R000002", 0, [(BASE, lat - d, lon), (BASE + 70, lat + d, lon)],
                               [(BASE + 1, BASE + 70)]))
    assert find(catalogue, make_query(lat, lon, 50, utc_iso(BASE - 60),
                                      utc_iso(BASE + 600))) == []
    # the same two fixes with nothing lost between: found
    ingest(catalogue, manifest("R000003", 0, [(BASE, lat - d, lon), (BASE + 70, lat + d, lon)],
                               []))
    hits = find(catalogue, make_query(lat, lon, 50, utc_iso(BASE - 60), utc_iso(BASE + 600)))
    assert [h["recording_id"] for h in hits] == ["R000003"]


def test_segments_join_unless_one_ends_or_starts_without_a_fix(catalogue: Any) -> None:
    d = 200 / M_PER_DEG
    lat, lon = CENTRE
    # R4: segment 0 ends on a fix, segment 1 starts on one: joined
    ingest(catalogue, manifest("R000004", 0, [(BASE, lat - d, lon)], []))
    ingest(catalogue, manifest("R000004", 1, [(BASE + 10, lat + d, lon)], []))
    # R5: segment 0 ends without a fix (the interval runs to its end): not joined
    ingest(catalogue, manifest("R000005", 0, [(BASE, lat - d, lon)], [(BASE + 1, BASE + 9)]))
    ingest(catalogue, manifest("R000005", 1, [(BASE + 10, lat + d, lon)], []))
    # R6: segment 1 starts without one
    ingest(catalogue, manifest("R000006", 0, [(BASE, lat - d, lon)], []))
    ingest(catalogue, manifest("R000006", 1, [(BASE + 30, lat + d, lon)],
                               [(BASE + 10, BASE + 30)]))
    hits = find(catalogue, make_query(lat, lon, 30, utc_iso(BASE - 60), utc_iso(BASE + 600)))
    assert [h["recording_id"] for h in hits] == ["R000004"]


def test_officer_filter_reads_the_field_defensively(catalogue: Any) -> None:
    lat, lon = CENTRE
    officer = {"officer_id": "PC-4711", "collar": "4711", "assigned_utc": utc_iso(BASE),
               "store_id": "x"}
    ingest(catalogue, manifest("R000007", 0, [(BASE, lat, lon)], [], officer=officer))
    ingest(catalogue, manifest("R000008", 0, [(BASE, lat, lon)], [], officer="unassigned"))
    ingest(catalogue, manifest("R000009", 0, [(BASE, lat, lon)], []))  # older data: absent
    ingest(catalogue, manifest("R000010", 0, [(BASE, lat, lon)], [], officer={"collar": 1}))
    window = (utc_iso(BASE - 1), utc_iso(BASE + 1))
    assert len(find(catalogue, make_query(lat, lon, 10, *window))) == 4
    only = find(catalogue, make_query(lat, lon, 10, *window, "PC-4711"))
    assert [(h["recording_id"], h["officer_id"]) for h in only] == [("R000007", "PC-4711")]
    assert find(catalogue, make_query(lat, lon, 10, *window, "PC-9999")) == []


def test_the_antimeridian_and_the_poles(catalogue: Any) -> None:
    ingest(catalogue, manifest("R000011", 0, [(BASE, 10.0, 179.9999), (BASE + 10, 10.0,
                                                                      -179.9999)], []))
    ingest(catalogue, manifest("R000012", 0, [(BASE, 89.9999, 0.0), (BASE + 10, 89.9999,
                                                                    180.0)], []))
    window = (utc_iso(BASE - 1), utc_iso(BASE + 11))
    near_line = find(catalogue, make_query(10.0, -180.0, 5, *window))
    assert [h["recording_id"] for h in near_line] == ["R000011"]
    assert near_line[0]["distance_m"] < 1
    assert [h["recording_id"] for h in find(catalogue, make_query(90.0, 0.0, 20, *window))] \
        == ["R000012"]


def test_nearest_on_a_point_leg_outside_the_window() -> None:
    leg = Leg(BASE, BASE, 51.0, 0.0, 51.0, 0.0)
    assert nearest_on_leg(leg, 51.0, 0.0, BASE + 1, BASE + 2) is None
    assert nearest_on_leg(leg, 51.0, 0.0, BASE, BASE)[0] == 0.0


def test_migration_four_holds_the_index() -> None:
    assert any(n == 4 and "track_legs" in sql for n, sql in MIGRATIONS)
    assert not any(n == 3 and "track" in sql for n, sql in MIGRATIONS)  # 3: the other change


@pytest.mark.parametrize(("args", "named"), [
    ((91, 0, 10, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "latitude"),
    ((0, -181, 10, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "longitude"),
    ((0, 0, -1, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "radius"),
    ((0, 0, float("nan"), "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "radius"),
    ((0, 0, True, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "radius"),
    ((0, 0, 1e12, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "radius"),
    ((0, 0, 10, "2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z"), "after"),
    ((0, 0, 10, "yesterday", "2026-01-02T00:00:00Z"), "from"),
    ((0, 0, 10, "2026-01-01T00:00:00Z", "2026-13-02T00:00:00Z"), "to"),
    ((0, 0, 10, "2026-01-01T00:00:00Z", None), "to"),
    (("inf", 0, 10, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), "latitude"),
])
def test_bad_queries_are_refused_naming_the_part(args: tuple[Any, ...], named: str) -> None:
    from store.errors import StoreError

    with pytest.raises(StoreError) as caught:
        make_query(*args)
    assert caught.value.status == 400 and named in caught.value.message
    assert "\n" not in caught.value.message


# --- for real: signed segments with a track, over HTTP ----------------------------------------

def with_track(camera: Camera, route: dict[int, list[tuple[float, float, float]]]) -> None:
    """Give each recording of the camera a track (re-signed and re-chained by its key): the
    fixes of recording N spread over its segments by time."""
    for folder in sorted(camera.data_dir.glob("recordings/*")):
        number = int(folder.name[1:7])
        prev = None
        mp4s = sorted(folder.glob("*.mp4"))
        fixes = route.get(number, [])
        for i, mp4 in enumerate(mp4s):
            old = camera.manifest(mp4)
            mine = fixes[i::len(mp4s)] if fixes else []
            mine.sort()
            track = tuple({"utc": utc_iso(t), "fix_utc": utc_iso(t), "lat": la, "lon": lo,
                           "accuracy_m": 4.0, "satellites": 9} for t, la, lo in mine)
            new = replace(old, track=track, no_fix=(), prev_manifest_sha256=prev)
            prev = write_signed_manifest(camera.identity, mp4, new)
            assert manifest_path(mp4).exists()


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, running: Running,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("BODYCAM_STORE_URL", running.url)
    monkeypatch.setenv("BODYCAM_STORE_TOKEN", running.token)
    code = store_main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_find_over_the_api_and_the_command_line(
        running: Running, enrolled: Camera, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    lat, lon = CENTRE
    d = 300 / M_PER_DEG
    with_track(enrolled, {1: [(BASE, lat - d, lon), (BASE + 10, lat + d, lon)],
                          2: [(BASE + 100, lat + 5 * d, lon)]})
    recs = running.upload_all(enrolled)
    operator = running.operator()
    window = {"from": utc_iso(BASE - 60), "to": utc_iso(BASE + 600)}
    hits = operator.request("GET", "/v1/find?near=51.5007,-0.1246&radius=25&from="
                            f"{window['from']}&to={window['to']}")
    assert [h["recording_id"] for h in hits] == [recs[0]]
    assert hits[0]["device_id"] == enrolled.device_id and hits[0]["deleted_utc"] is None
    assert hits[0]["nearest_utc"] == utc_iso(BASE + 5) and hits[0]["distance_m"] < 1
    assert hits[0]["officer_id"] is None
    code, out, err = cli(capsys, monkeypatch, running, "find", "--near", f"{lat},{lon}",
                         "--radius", "1600", "--from", window["from"], "--to", window["to"])
    assert code == 0 and err == ""
    assert recs[0] in out and recs[1] in out and "2 recording(s) within 1600 m" in out
    code, out, _ = cli(capsys, monkeypatch, running, "find", "--near", f"{lat},{lon}",
                       "--radius", "25", "--from", window["from"], "--to", window["to"],
                       "--json")
    assert code == 0 and [h["recording_id"] for h in json.loads(out)] == [recs[0]]


@pytest.mark.parametrize(("near", "radius", "since", "until", "named"), [
    ("91,0", "10", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "latitude"),
    ("51.5;0", "10", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "LAT,LON"),
    ("51.5,0", "-5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "radius"),
    ("51.5,0", "ten", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "radius"),
    ("51.5,0", "10", "2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z", "after"),
    ("51.5,0", "10", "noon", "2026-01-02T00:00:00Z", "from"),
])
def test_bad_input_on_the_cli_and_the_api_is_one_line(
        running: Running, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        near: str, radius: str, since: str, until: str, named: str) -> None:
    code, out, err = cli(capsys, monkeypatch, running, "find", "--near", near, "--radius",
                         radius, "--from", since, "--to", until)
    assert code == 2 and out == "" and named in err and err.count("\n") == 1
    assert "Traceback" not in err
    from urllib.parse import urlencode

    with pytest.raises(StoreHttpError) as caught:
        running.operator().request("GET", "/v1/find?" + urlencode(
            {"near": near, "radius": radius, "from": since, "to": until}))
    assert caught.value.status == 400 and named in str(caught.value)


def test_the_api_refuses_unknown_and_missing_parameters_and_wants_the_token(
        running: Running) -> None:
    op = running.operator()
    for target, named in (("/v1/find?near=0,0&radius=1&from=2026-01-01&to=2026-01-02&x=1",
                           "unknown"), ("/v1/find?near=0,0&radius=1&from=2026-01-01",
                                        "missing")):
        with pytest.raises(StoreHttpError) as caught:
            op.request("GET", target)
        assert caught.value.status == 400 and named in str(caught.value)
    with pytest.raises(StoreHttpError) as caught:
        running.operator("not-the-token").request(
            "GET", "/v1/find?near=0,0&radius=1&from=2026-01-01&to=2026-01-02")
    assert caught.value.status == 401


def test_a_track_the_index_cannot_read_does_not_stop_the_segment(catalogue: Any) -> None:
    """Evidence first: a fix the index cannot take (here a time beyond what it reads) leaves
    the segment unindexed, never refused."""
    bad = replace(manifest("R000013", 0, [(BASE, 51.0, 0.0)], []),
                  track=({"utc": "not a time", "fix_utc": "x", "lat": 51.0, "lon": 0.0,
                          "accuracy_m": 1.0, "satellites": 4},))
    with catalogue.tx() as db:
        assert index_segment(catalogue, db, bad) == 0
    assert find(catalogue, make_query(51.0, 0.0, 10, utc_iso(BASE - 1), utc_iso(BASE + 1))) == []
