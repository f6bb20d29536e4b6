"""A segment's ``start_utc``/``end_utc`` are capture times, so honest recordings never look
reordered, whatever the sensor's timing; a real reordering is still caught.

The camera here is the simulator's, with the sensor's real timing replaced: a sensor that runs a
little fast (its frames land in consecutive encoder slots while the clock moves less), and one
whose first frames after boot arrive late and bunched (a busy CPU). Both are honest; under the
old rule (end = start + the encoder's slot span) both were reported ``time_backwards``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.manifest import Manifest, manifest_path, write_signed_manifest
from evidence.utc import utc_iso
from evidence.verify import verify
from sim.camera import SimCamera
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.evidence import identity_of
from tests.media import segments

FPS = 10
CAM = {"width": 64, "height": 48, "fps": FPS}


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def manifests(data_dir: Path) -> list[dict]:
    return [json.loads(manifest_path(p).read_text()) for p in segments(data_dir)]


def with_sensor(sim: Simulator, due: Callable[[float, int], float]) -> None:
    """Frame ``n`` of each camera start is captured at ``due(t0, n)`` instead of t0 + n/fps."""
    camera: SimCamera = sim.camera

    def schedule() -> None:
        camera._n += 1
        camera._timer = camera._clock.call_at(due(camera._t0, camera._n), camera._tick)

    camera._schedule = schedule  # type: ignore[method-assign]


def record(tmp_path: Path, due: Callable[[float, int], float], seconds: float = 13.0,
           segment_s: float = 4.0, pre_event_s: float = 0.0) -> Path:
    sim = Simulator(tiny_config(camera=CAM, recording={"segment_s": segment_s,
                                                       "pre_event_s": pre_event_s}),
                    tmp_path / "d", encoder=FakeEncoder)
    with_sensor(sim, due)
    sim.power_on()
    sim.button("record").double_press()  # right after boot
    sim.advance(seconds)
    sim.button("record").hold(3.2)
    sim.advance(4)
    sim.shutdown()
    return sim.data_dir


def not_ok(data_dir: Path) -> list:
    return [f for f in verify([data_dir]) if not f.ok]


def assert_capture_times(data_dir: Path, nominal_span: Callable[[dict], float]) -> None:
    found = manifests(data_dir)
    assert len(found) >= 3
    for before, after in itertools.pairwise(found):
        assert wall(before["end_utc"]) <= wall(after["start_utc"])
    for m in found[:-1]:  # a segment spans its frames' capture times, not its slots
        assert wall(m["end_utc"]) - wall(m["start_utc"]) == pytest.approx(nominal_span(m),
                                                                           abs=0.0015)


def test_a_sensor_running_fast_is_not_reported_as_reordered(tmp_path: Path) -> None:
    """4 % fast: 40 frames are captured in 3.85 s but fill 4.0 s of encoder slots."""
    real = FPS * 1.04
    data_dir = record(tmp_path, lambda t0, n: t0 + n / real)
    assert not not_ok(data_dir), not_ok(data_dir)
    # the frames of one segment cover frame_count real intervals
    assert_capture_times(data_dir, lambda m: m["frame_count"] / real)


def test_late_bunched_frames_right_after_boot_are_not_reported_as_reordered(tmp_path: Path
                                                                           ) -> None:
    """The first 6 frames arrive together 0.5 s late (the CPU was busy at boot); later ones
    on time. The encoder gives them consecutive slots, so slots run ahead of capture."""
    def due(t0: float, n: int) -> float:
        return t0 + 0.6 + n * 0.001 if n <= 6 else t0 + n / FPS

    data_dir = record(tmp_path, due)
    assert not not_ok(data_dir), not_ok(data_dir)
    first = manifests(data_dir)[0]
    # 1st segment: from the first (late) capture to one frame after its last capture
    assert wall(first["start_utc"]) == pytest.approx(wall("2026-01-01T00:00:00.000Z") + 0.601,
                                                     abs=0.002)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jitter=st.lists(st.floats(0.0, 0.09), min_size=20, max_size=20),
       rate=st.floats(0.9, 1.1))
def test_honest_capture_timing_never_reads_as_reordered(tmp_path_factory, jitter: list[float],
                                                        rate: float) -> None:
    """Any sensor rate within 10 % and any late frames (capture times strictly increase)."""
    def due(t0: float, n: int) -> float:
        return t0 + n / (FPS * rate) + jitter[n % len(jitter)]

    # strictly increasing: n / (FPS * rate) grows by >= 1/11 s, jitter varies by < 0.09 s
    data_dir = record(tmp_path_factory.mktemp("h"), due, seconds=9.0, segment_s=3.0)
    assert not not_ok(data_dir), not_ok(data_dir)
    for before, after in itertools.pairwise(manifests(data_dir)):
        assert wall(before["end_utc"]) <= wall(after["start_utc"])


def test_pre_event_footage_keeps_its_capture_times(tmp_path: Path) -> None:
    """Pre-event frames are written in a burst at the press, but stamped when captured."""
    data_dir = record(tmp_path, lambda t0, n: t0 + n / (FPS * 1.04), seconds=9.0,
                      pre_event_s=2.0)
    assert not not_ok(data_dir), not_ok(data_dir)


# -- a real reordering is still caught -----------------------------------------------------------

def resign(data_dir: Path, change: Callable[[int, Manifest, list[Manifest]], Manifest]) -> None:
    """Rewrite every manifest of the recording with the device key (only a key holder can)."""
    identity = identity_of(data_dir, tiny_config(camera=CAM))
    mp4s = segments(data_dir)
    originals = [Manifest.from_bytes(manifest_path(p).read_bytes()) for p in mp4s]
    prev = None
    for i, mp4 in enumerate(mp4s):
        manifest = dataclasses.replace(change(i, originals[i], originals),
                                       prev_manifest_sha256=prev)
        prev = write_signed_manifest(identity, mp4, manifest)


def codes(data_dir: Path) -> set[str]:
    """What is wrong with the footage (the log still names the manifests as first signed)."""
    return {f.code for f in verify([data_dir]) if not f.ok and f.kind != "log-vs-footage"}


@pytest.fixture
def honest(tmp_path: Path) -> Path:
    return record(tmp_path, lambda t0, n: t0 + n / FPS)


def test_swapped_segment_times_are_caught(honest: Path) -> None:
    def swap(i: int, m: Manifest, all_: list[Manifest]) -> Manifest:
        other = {1: 2, 2: 1}.get(i)
        if other is None:
            return m
        return dataclasses.replace(m, start_utc=all_[other].start_utc,
                                   end_utc=all_[other].end_utc)

    resign(honest, swap)
    assert "time_backwards" in codes(honest)


def test_a_segment_starting_one_frame_early_is_caught(honest: Path) -> None:
    """Capture times leave no slack to hide in: one frame of overlap is a reordering."""
    def early(i: int, m: Manifest, all_: list[Manifest]) -> Manifest:
        if i != 2:
            return m
        return dataclasses.replace(m, start_utc=utc_iso(wall(m.start_utc) - 1 / FPS))

    resign(honest, early)
    assert "time_backwards" in codes(honest)


def test_older_manifests_timed_by_slots_still_verify_and_are_still_ordered(honest: Path
                                                                           ) -> None:
    """Manifests written before ``capture_times`` (end = start + slot span) may overlap the
    next segment honestly; for them only the segments' starts must run forward."""
    def legacy(i: int, m: Manifest, all_: list[Manifest]) -> Manifest:
        # as the old firmware wrote a fast sensor's segment: the end 0.3 s past the next start
        end = wall(m.end_utc) + 0.3 if i < len(all_) - 1 else wall(m.end_utc)
        return dataclasses.replace(m, capture_times=False, end_utc=utc_iso(end))

    resign(honest, legacy)
    assert codes(honest) == set()

    def swapped(i: int, m: Manifest, all_: list[Manifest]) -> Manifest:
        other = {1: 2, 2: 1}.get(i, i)
        return dataclasses.replace(m, capture_times=False, start_utc=all_[other].start_utc,
                                   end_utc=all_[other].end_utc)

    resign(honest, swapped)
    assert "time_backwards" in codes(honest)
