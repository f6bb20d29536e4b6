"""The video pipeline: pre-event footage, seams, segment independence, storage and camera loss."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from device.pipeline.ringbuffer import PreEventBuffer
from evidence.verify import verify
from hal.encoder import EncodedPacket
from tests.conftest import tiny_config
from tests.media import decode, segments

FPS = 10
CAM = {"width": 160, "height": 120, "fps": FPS}


def manifests(data_dir: Path) -> list[dict]:
    return [json.loads(Path(str(p) + ".json").read_text()) for p in segments(data_dir)]


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def audit(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in
            (data_dir / "audit" / "audit.jsonl").read_text().splitlines()]


def test_pre_event_footage_starts_10_to_11_s_before_the_press_with_no_seam(make_sim) -> None:
    sim = make_sim(tiny_config(camera=CAM, recording={"pre_event_s": 10, "segment_s": 4}))
    sim.advance(15.03)
    sim.button("record").double_press()
    sim.advance(0.5)
    press_wall = wall(next(e["utc"] for e in audit(sim.data_dir)
                           if e["event"] == "recording_start"))
    sim.advance(9)
    sim.button("record").hold(3.2)
    sim.advance(4)
    found = manifests(sim.data_dir)
    gop = sim.config.encoder.keyframe_interval_s
    lead = press_wall - wall(found[0]["start_utc"])
    assert 10 <= lead <= 10 + gop + 1 / FPS, lead
    assert len(found) >= 3  # about 22 s in 4 s segments: the loops below are not over nothing
    # frames are evenly spaced inside every segment (the seam is inside segment 0) ...
    for mp4 in segments(sim.data_dir):
        times = decode(mp4).frame_times
        assert {round(b - a, 6) for a, b in itertools.pairwise(times)} == {1 / FPS}
    # ... and across every segment boundary: each starts one frame after the last ended
    for before, after in itertools.pairwise(found):
        assert abs(wall(after["start_utc"]) - wall(before["end_utc"])) < 0.002
        assert after["prev_manifest_sha256"] is not None


def test_every_segment_plays_on_its_own_after_the_buffer_wrapped_many_times(make_sim) -> None:
    sim = make_sim(tiny_config(camera=CAM, recording={"pre_event_s": 2, "segment_s": 3}))
    sim.advance(60)  # the 2 s buffer has wrapped about 30 times
    sim.button("record").double_press()
    sim.advance(10)
    sim.button("record").hold(3.2)
    sim.advance(4)
    files = segments(sim.data_dir)
    assert len(files) >= 4
    for mp4, manifest in zip(files, manifests(sim.data_dir), strict=True):
        decoded = decode(mp4)  # a fresh decoder per file: nothing carried over
        assert decoded.frame_times[0] == 0.0
        assert len(decoded.frame_times) == manifest["frame_count"]


def test_no_buffer_runs_in_standby_or_docked(make_sim) -> None:
    sim = make_sim(tiny_config(camera=CAM))
    sim.advance(3)
    assert sim.daemon.status().buffered_s > 2
    sim.daemon.post("toggle_standby", reason="test")
    sim.advance(3)
    assert sim.daemon.status().buffered_s == 0 and not sim.camera.running
    sim.daemon.post("toggle_standby", reason="test")
    sim.advance(1)
    sim.dock.dock()
    sim.advance(3)
    assert sim.daemon.status().buffered_s == 0 and not sim.camera.running


def test_storage_running_out_mid_recording_is_finalised_signed_and_audited(make_sim) -> None:
    sim = make_sim(tiny_config(camera=CAM, recording={"segment_s": 4}))
    sim.button("record").double_press()
    sim.advance(6)
    sim.storage.limit_bytes = 10 * 2**20  # under the 64 MiB reserve
    sim.advance(2)  # the recorder checks at every keyframe
    assert sim.mode == "fault"
    found = manifests(sim.data_dir)
    assert found[-1]["last"] is True
    assert all(f.ok for f in verify([sim.data_dir]))
    events = audit(sim.data_dir)
    assert any(e["event"] == "fault" and e["reason"] == "storage full" for e in events)
    stop = next(e for e in events if e["event"] == "recording_stop")
    assert stop["reason"] == "storage full"


def test_camera_unplugged_mid_recording_continues_in_a_new_segment_with_the_gap(make_sim
                                                                                ) -> None:
    sim = make_sim(tiny_config(camera=CAM, recording={"segment_s": 60}))
    sim.button("record").double_press()
    sim.advance(3)
    sim.camera.unplug()
    sim.advance(2)
    assert sim.mode == "recording" and sim.daemon.flags["camera_fault"]
    assert sim.led.state.colour == "red" and not sim.led.state.blinking
    first = manifests(sim.data_dir)
    assert len(first) == 1 and first[0]["last"] is False  # finalised and signed at once
    during = verify([sim.data_dir / "recordings"])
    assert all(f.ok for f in during if f.path.endswith(".mp4"))
    assert [f.status for f in during if not f.ok] == ["unterminated"]  # still recording
    sim.camera.replug()
    sim.advance(3)
    sim.button("record").hold(3.2)
    sim.advance(4)
    found = manifests(sim.data_dir)
    assert [m["last"] for m in found] == [False, True]
    gap = found[1]["gaps"][0]
    assert gap["reason"] == "camera sensor not responding"
    assert 1.9 <= wall(gap["to_utc"]) - wall(gap["from_utc"]) <= 2.2
    assert all(f.ok for f in verify([sim.data_dir]))
    kinds = [e["event"] for e in audit(sim.data_dir)]
    assert "fault" in kinds and "camera" in kinds


def test_a_recording_stopped_while_the_camera_is_out_is_terminated(make_sim) -> None:
    sim = make_sim(tiny_config(camera=CAM))
    sim.button("record").double_press()
    sim.advance(3)
    sim.camera.unplug()
    sim.advance(1)
    sim.button("record").hold(3.2)
    sim.advance(4)
    found = manifests(sim.data_dir)
    assert [m["frame_count"] > 0 for m in found] == [True, False]
    assert found[-1]["last"] is True and found[-1]["gaps"][0]["reason"]
    assert all(f.ok for f in verify([sim.data_dir]))
    assert sim.mode == "fault"  # the sensor is still out
    sim.camera.replug()
    sim.advance(1)
    assert sim.mode == "buffering"


def packets(gops: list[tuple[int, int]], fps: int = 10) -> list[EncodedPacket]:
    """Packets for GOPs of (frames, bytes per frame)."""
    out, n = [], 0
    for frames, size in gops:
        for i in range(frames):
            out.append(EncodedPacket(b"x" * size, n, i == 0, n / fps, n / fps))
            n += 1
    return out


GOPS = st.lists(st.tuples(st.integers(1, 25), st.integers(1, 400)), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(gops=GOPS, seconds=st.floats(0, 8))
def test_ring_buffer_covers_its_window_with_whole_gops(gops, seconds) -> None:
    ring = PreEventBuffer(seconds, max_bytes=2**40)
    longest = max(f for f, _ in gops) / 10
    first_ever = None
    for packet in packets(gops):
        ring.append(packet)
        first_ever = packet.t_mono if first_ever is None else first_ever
        held = ring.drain()
        for p in held:
            ring.append(p)  # refill: the same content, checked through the public interface
        newest = packet.t_mono
        assert held[0].keyframe
        assert ring.bytes == sum(p.size for p in held)
        # at least the window (or everything there is)...
        assert held[0].t_mono <= max(first_ever, newest - seconds) + 1e-9
        # ... and at most the window plus one keyframe interval
        assert newest - held[0].t_mono < seconds + longest + 1e-9


@settings(max_examples=80, deadline=None)
@given(gops=GOPS, cap=st.integers(1, 5000))
def test_ring_buffer_is_bounded_in_bytes_but_keeps_the_newest_gop(gops, cap) -> None:
    ring = PreEventBuffer(60.0, max_bytes=cap)
    for packet in packets(gops):
        ring.append(packet)
        held = ring.drain()
        for p in held:
            ring.append(p)
        assert held[0].keyframe and held[-1] is packet
        keyframes = sum(p.keyframe for p in held)
        assert ring.bytes <= cap or keyframes == 1
