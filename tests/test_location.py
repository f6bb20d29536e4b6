"""Location on every recording: the simulated walk through Westminster, on the injected clock.

A fix every ``location.recording_interval_s`` while recording lands in the manifest of the
segment it was taken in; the Bridge Street subway is an interval without a fix; the audit log
has the first fix, the loss and the regain.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from device.location import LocationSample, segment_track
from evidence.audit import AUDIT_LOG
from evidence.manifest import Manifest, ManifestError
from evidence.utc import utc_seconds
from evidence.verify import verify
from hal.location import Fix, NoFix
from sim.clock import SimClock
from sim.location import ROUTE, TUNNEL_LEG, TUNNEL_S, SimLocation, distance_m
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.media import segments


def manifests(data_dir: Path) -> list[dict]:
    return [json.loads(Path(str(mp4) + ".json").read_text()) for mp4 in segments(data_dir)]


def audit_entries(data_dir: Path, event: str) -> list[dict]:
    lines = (data_dir / AUDIT_LOG).read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return [e for e in entries if e.get("event") == event]


def tunnel_entry_s(receiver: SimLocation) -> float:
    """Seconds from the start of the walk to the subway's mouth."""
    return sum(receiver.legs[:TUNNEL_LEG]) / receiver.speed_mps


def test_the_route_is_a_walk_through_westminster_with_a_minute_underground() -> None:
    clock = SimClock()
    receiver = SimLocation(clock)
    heard: list = []
    receiver.start(heard.append)
    clock.advance(receiver.loop_m / receiver.speed_mps)
    receiver.stop()
    assert 1500 < receiver.loop_m < 3000  # a couple of kilometres of streets
    for lat, lon in ROUTE:  # within a kilometre of Westminster station
        assert distance_m((lat, lon), ROUTE[0]) < 1000
    lost = [r for r in heard if isinstance(r, NoFix)]
    assert abs(len(lost) - TUNNEL_S) <= 2  # one reading a second, a minute without a fix
    fixes = [r for r in heard if isinstance(r, Fix)]
    steps = [distance_m((a.latitude, a.longitude), (b.latitude, b.longitude))
             for a, b in itertools.pairwise(fixes)]
    # walking, not jumping: one step spans the subway (its length), the rest a second's walk
    assert sorted(steps)[-2] < 2 * receiver.speed_mps
    assert abs(sorted(steps)[-1] - receiver.legs[TUNNEL_LEG]) < 5 * receiver.speed_mps
    count = len(heard)
    clock.advance(60)
    assert len(heard) == count  # stopped: nothing more


def test_control_pins_loses_and_regains() -> None:
    clock = SimClock()
    receiver = SimLocation(clock)
    heard: list = []
    receiver.start(heard.append)
    receiver.move(51.5007, -0.1246)
    clock.advance(2)
    assert isinstance(heard[-1], Fix) and (heard[-1].latitude, heard[-1].longitude) == \
        (51.5007, -0.1246)
    receiver.lose()
    clock.advance(2)
    assert isinstance(heard[-1], NoFix)
    receiver.regain()
    clock.advance(2)
    assert isinstance(heard[-1], Fix)
    with pytest.raises(ValueError, match="latitude 91"):
        receiver.move(91.0, 0.0)


def walk(sim: Simulator, seconds: float, step: float = 1.0) -> None:
    end = sim.clock.monotonic() + seconds
    while sim.clock.monotonic() < end:
        sim.advance(min(step, end - sim.clock.monotonic()))


@pytest.fixture
def walker(make_sim) -> Simulator:
    return make_sim(tiny_config(recording={"segment_s": 30.0}))


def test_a_walk_through_the_subway_carries_fixes_at_the_cadence_and_the_gap(
        walker: Simulator) -> None:
    sim = walker
    receiver = sim.hw.location
    assert isinstance(receiver, SimLocation)
    interval = sim.config.location.recording_interval_s
    # buffer until a minute before the subway, then record through it and a minute past it
    walk(sim, tunnel_entry_s(receiver) - 60, step=5.0)
    sim.button("record").double_press()
    sim.advance(1.0)
    assert sim.mode == "recording"
    walk(sim, 60 + TUNNEL_S + 60)
    sim.button("record").hold(3.2)
    sim.advance(4.0)
    assert sim.mode == "buffering"
    found = manifests(sim.data_dir)
    assert len(found) >= 4
    times = [utc_seconds(f["utc"]) for m in found for f in m["track"]]
    no_fix = [(utc_seconds(g["from_utc"]), utc_seconds(g["to_utc"]))
              for m in found for g in m["no_fix"]]
    # every segment's fixes are within it; fixes follow each other at the cadence
    for m in found:
        for f in m["track"]:
            assert utc_seconds(m["start_utc"]) <= utc_seconds(f["utc"]) <= \
                utc_seconds(m["end_utc"])
    assert len(times) == len(set(times)) and times == sorted(times)  # each fix in one segment
    lost_total = sum(b - a for a, b in no_fix)
    assert abs(lost_total - TUNNEL_S) <= interval
    steps = [b - a for a, b in itertools.pairwise(times)]
    long_steps = [s for s in steps if s > interval + 1e-6]
    assert all(abs(s - interval) < 1e-6 for s in steps if s not in long_steps)
    assert len(long_steps) == 1 and abs(long_steps[0] - TUNNEL_S) <= 2 * interval
    gap_from, gap_to = min(a for a, _ in no_fix), max(b for _, b in no_fix)
    assert all(not gap_from < t < gap_to for t in times)  # no fix inside the subway
    # the recording starts with a fix and ends within an interval of one
    start = utc_seconds(found[0]["start_utc"])
    assert times[0] - start <= sim.config.recording.pre_event_s + interval
    assert utc_seconds(found[-1]["end_utc"]) - times[-1] <= interval + 1
    for m in found:
        for f in m["track"]:
            assert distance_m((f["lat"], f["lon"]), ROUTE[0]) < 1000
    audit = [e["reason"] for e in audit_entries(sim.data_dir, "location")]
    assert audit[:1] == ["first fix"]
    assert "fix lost" in audit and audit.index("fix regained") > audit.index("fix lost")
    findings = verify([sim.data_dir])
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]


def test_no_fixes_in_standby_or_docked(make_sim) -> None:
    sim = make_sim(tiny_config(gestures={"program_hold": "standby"}))
    sim.advance(2)
    assert sim.daemon.tracker.status()["receiver"] == "on"
    assert sim.daemon.tracker.status()["fix"] is not None
    sim.button("program").hold(3.2)
    sim.advance(4)
    assert sim.mode == "standby"
    assert sim.daemon.tracker.status()["receiver"] == "off"
    assert sim.hw.location._sink is None  # powered down, not merely ignored
    sim.dock.dock()
    sim.advance(2)
    assert sim.mode == "docked"
    assert sim.daemon.tracker.status()["receiver"] == "off"
    before = len(audit_entries(sim.data_dir, "location"))
    sim.advance(1800)
    assert len(audit_entries(sim.data_dir, "location")) == before


def test_buffering_takes_a_fix_every_fifteen_minutes(walker: Simulator) -> None:
    sim = walker
    looked: list[float] = []
    original = sim.daemon.tracker.sample
    sim.daemon.tracker.sample = lambda: looked.append(sim.clock.monotonic()) or original()
    walk(sim, 3600, step=30.0)
    assert sim.mode == "buffering"
    steps = {round(b - a, 6) for a, b in itertools.pairwise(looked)}
    assert steps == {sim.config.location.buffering_interval_s}


def sample(t: float, fix: bool) -> LocationSample:
    return LocationSample(t, 1000.0 + t, Fix(51.5, -0.12, 5.0, 1000.0 + t, t, 8) if fix else None)


def test_segment_track_cuts_intervals_at_the_segment_ends() -> None:
    samples = [sample(0, True), sample(10, False), sample(20, False), sample(30, True),
               sample(40, False)]
    track, no_fix = segment_track(samples, 15.0, 1015.0, 1045.0)
    assert [utc_seconds(f["utc"]) - 1000 for f in track] == [30.0]
    assert [(utc_seconds(g["from_utc"]) - 1000, utc_seconds(g["to_utc"]) - 1000)
            for g in no_fix] == [(15.0, 30.0), (40.0, 45.0)]
    assert segment_track([], 0.0, 1000.0, 1004.0) == ((), ())


GOOD = {"utc": "2026-01-01T00:00:10.000Z", "fix_utc": "2026-01-01T00:00:10.000Z",
        "lat": 51.5, "lon": -0.12, "accuracy_m": 4.0, "satellites": 9}


@pytest.mark.parametrize(("track", "no_fix", "message"), [
    ("x", [], "track is 'x', not an array"),
    ([{**GOOD, "lat": 91.0}], [], "off the Earth"),
    ([{**GOOD, "lat": True}], [], "lat is True"),
    ([{**GOOD, "extra": 1}], [], "not an object of exactly"),
    ([GOOD], [{"from_utc": "yesterday", "to_utc": "2026-01-01T00:00:10.000Z"}], "from_utc"),
    ([GOOD], [1], "a no_fix entry is not an object"),
])
def test_a_damaged_track_is_named_in_one_line(walker: Simulator, track, no_fix,
                                              message: str) -> None:
    sim = walker
    sim.button("record").double_press()
    sim.advance(12)
    sim.button("record").hold(3.2)
    sim.advance(4)
    raw = json.loads(Path(str(segments(sim.data_dir)[0]) + ".json").read_text())
    assert raw["track"], "the recording has a track"
    Manifest.from_bytes(json.dumps(raw).encode())  # as written: valid
    raw.update(track=track, no_fix=no_fix)
    with pytest.raises(ManifestError, match=message) as caught:
        Manifest.from_bytes(json.dumps(raw).encode())
    assert "\n" not in str(caught.value)


def test_an_old_manifest_without_location_reads_and_writes_back_the_same(
        walker: Simulator) -> None:
    sim = walker
    sim.button("record").double_press()
    sim.advance(6)
    sim.button("record").hold(3.2)
    sim.advance(4)
    raw = json.loads(Path(str(segments(sim.data_dir)[0]) + ".json").read_text())
    del raw["track"], raw["no_fix"]
    old = (json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    assert Manifest.from_bytes(old).to_bytes() == old


def test_the_documented_jq_line_turns_a_recording_track_into_geojson(walker: Simulator,
                                                                     tmp_path: Path) -> None:
    """docs/FORMAT.md's ``<!-- geojson -->`` block, run as written with the real jq."""
    import os
    import re
    import shutil
    import subprocess

    if shutil.which("jq") is None:
        pytest.skip("jq not installed (Debian package jq)")
    doc = (Path(__file__).resolve().parent.parent / "docs" / "FORMAT.md").read_text()
    [block] = re.findall(r"<!-- geojson -->\n```sh\n(.*?)```", doc, flags=re.DOTALL)
    sim = walker
    sim.button("record").double_press()
    walk(sim, 75)
    sim.button("record").hold(3.2)
    sim.advance(4)
    [rec] = [p.name for p in (sim.data_dir / "recordings").iterdir()]
    env = {**os.environ, "DATA_DIR": str(sim.data_dir), "REC": rec}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    geojson = json.loads(result.stdout)
    expected = [(m["segment_index"], f) for m in manifests(sim.data_dir) for f in m["track"]]
    assert geojson["type"] == "FeatureCollection" and len(expected) >= 7
    assert len(geojson["features"]) == len(expected)
    for feature, (index, fix) in zip(geojson["features"], expected, strict=True):
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
        assert feature["geometry"]["coordinates"] == [fix["lon"], fix["lat"]]  # GeoJSON order
        assert feature["properties"]["utc"] == fix["utc"]
        assert feature["properties"]["segment_index"] == index


def test_a_segment_recovered_after_a_power_cut_keeps_its_track(tmp_path: Path) -> None:
    """The looks at the receiver go into the open segment's signed pending record as they are
    taken, so a power cut loses none of them: the recovered manifest carries the track, and
    the fix lost before the cut is an interval without a fix up to its end."""
    from sim.encoder import FakeEncoder
    from tests.evidence import lose_power

    config = tiny_config(recording={"segment_s": 120.0})
    sim = Simulator(config, tmp_path / "data", encoder=FakeEncoder)
    sim.power_on()
    sim.button("record").double_press()
    walk(sim, 35)
    sim.hw.location.lose()
    walk(sim, 22)
    taken = [f["utc"] for f in audit_entries(sim.data_dir, "location")]
    assert taken  # first fix and loss are in the log
    lose_power(sim)
    again = Simulator(config, sim.data_dir, encoder=FakeEncoder)
    again.power_on()
    try:
        assert len(again.daemon.status().recovered) == 1
        [m] = manifests(sim.data_dir)
        assert m["recovered"] is True
        fixes = [utc_seconds(f["utc"]) for f in m["track"]]
        steps = {round(b - a, 3) for a, b in itertools.pairwise(fixes)}
        assert len(fixes) >= 4 and steps == {sim.config.location.recording_interval_s}
        [gap] = m["no_fix"]
        assert utc_seconds(gap["from_utc"]) > fixes[-1]
        assert utc_seconds(gap["to_utc"]) == pytest.approx(utc_seconds(m["end_utc"]))
        findings = verify([sim.data_dir])
        assert all(f.ok or f.status == "recovered" for f in findings), \
            [f for f in findings if not f.ok]
    finally:
        again.shutdown()


def test_the_position_is_in_the_watermark_only_when_configured(make_sim) -> None:
    import numpy as np

    off = make_sim()
    off.advance(2)
    assert off.daemon.tracker.status()["fix"] is not None
    assert off.daemon.pipeline.watermark.position is None  # off by default
    on = make_sim(tiny_config(location={"watermark": True}))
    on.advance(2)
    mark = on.daemon.pipeline.watermark
    lat, lon = map(float, (mark.position or "").split(","))
    assert distance_m((lat, lon), ROUTE[0]) < 5  # the walk starts at Westminster station
    with_position = np.zeros((48, 640, 3), np.uint8)
    mark.apply(with_position, 1767225600.0, True)
    mark.position = None
    without = np.zeros((48, 640, 3), np.uint8)
    mark.apply(without, 1767225600.0, True)
    assert (with_position != without).any()  # the text is drawn
    on.hw.location.lose()
    on.button("record").double_press()  # recording looks at once, then every 10 s
    on.advance(2)
    assert on.mode == "recording"
    assert on.daemon.pipeline.watermark.position == "NO FIX"
