"""The encoder's outputs driven on one thread, without the pipeline's threads, and the fake
encoder behaviour tests run on (sim/encoder.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from device.pipeline.commands import SetBuffering, StartRecording, StopRecording
from device.pipeline.output import Output
from device.pipeline.pipeline import Pipeline
from device.pipeline.pre_event import PreEventOutput
from device.pipeline.recorder import Recorder
from device.pipeline.reports import RecordingClosed, Report, SegmentClosed, StorageFull
from device.pipeline.segments import RecordingInfo
from evidence.identity import create_identity
from evidence.utc import utc_iso
from evidence.verify import verify
from hal.encoder import EncodedPacket, EncoderSettings, nal_units, parameter_sets
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from tests.conftest import tiny_config
from tests.media import decode

FPS = 10
RESERVE = 64 * 2**20


class Collect(Output):
    def __init__(self) -> None:
        self.started, self.got, self.bursts = False, [], []

    def start(self) -> None:
        self.started = True

    def packet(self, packet: EncodedPacket) -> None:
        self.got.append(packet)

    def burst(self, packets) -> None:
        self.bursts.append(list(packets))


def stream(encoder: FakeEncoder, clock: SimClock, frames: int) -> list[EncodedPacket]:
    image = np.zeros((encoder.height, encoder.width, 3), np.uint8)
    out = []
    for _ in range(frames):
        clock.advance(1 / encoder.fps)
        out += encoder.encode(image, clock.monotonic(), clock.wall())
    return out


def test_the_pre_event_output_opens_into_another_and_flushes_whole_gops() -> None:
    clock = SimClock()
    encoder = FakeEncoder(EncoderSettings(64, 48, FPS, gop=FPS))
    pre = PreEventOutput(seconds=2.0, max_bytes=2**30)
    for packet in stream(encoder, clock, 35):
        pre.packet(packet)  # not buffering yet: dropped
    assert pre.duration_s == 0
    pre.start()
    held = stream(encoder, clock, 35)
    for packet in held:
        pre.packet(packet)
    target = Collect()
    assert pre.open_into(target, flush=True) == len(target.bursts[0])
    burst = target.bursts[0]
    assert target.started and burst[0].keyframe and burst[-1] is held[-1]
    assert 2.0 <= burst[-1].t_mono - burst[0].t_mono < 3.0 and pre.duration_s == 0
    live = stream(encoder, clock, 3)
    for packet in live:
        pre.packet(packet)
    assert target.got == live  # straight through while open
    assert pre.close_target() is target
    for packet in stream(encoder, clock, 12):
        pre.packet(packet)
    assert target.got == live and pre.duration_s > 0  # buffering again


def recorder(tmp_path: Path, free: list[int]) -> tuple[Recorder, list[Report], RecordingInfo,
                                                        FakeEncoder, SimClock]:
    config = tiny_config(camera={"width": 64, "height": 48, "fps": FPS},
                         recording={"pre_event_s": 2.0, "segment_s": 2.0})
    clock = SimClock()
    encoder = FakeEncoder(EncoderSettings(64, 48, FPS, gop=FPS))
    reports: list[Report] = []
    rec = Recorder(config, encoder.request_keyframe, lambda: free[0], reports.append, clock)
    identity = create_identity(tmp_path, "BWV-OPEN-1", "TEST")
    info = RecordingInfo("R000001-test", tmp_path / "recordings" / "R000001-test", "test",
                         identity, "fake", 64, 48, FPS, True)
    return rec, reports, info, encoder, clock


def test_storage_full_at_a_segment_cut_terminates_at_the_cut_by_the_camera_clock(
        tmp_path: Path) -> None:
    """The terminator's time comes from the injected clock (the cut's capture time), never
    from the host's: a simulated camera's evidence stays on its own timeline."""
    free = [1 << 40]
    rec, reports, info, encoder, clock = recorder(tmp_path, free)
    rec.handle(StartRecording(info, False, clock.monotonic()))
    packets = stream(encoder, clock, 40)
    cut = next(p for p in packets[1:] if p.keyframe and p.pts - packets[0].pts >= 2 * FPS)
    for packet in packets:
        if packet is cut:
            free[0] = RESERVE - 1
        rec.handle(packet)
    closed = [r for r in reports if isinstance(r, SegmentClosed)]
    assert [r.last for r in closed] == [False, True] and closed[1].frames == 0
    terminator = json.loads((info.directory / f"{closed[1].file}.json").read_text())
    assert terminator["start_utc"] == utc_iso(cut.wall)
    assert isinstance(reports[-1], StorageFull)
    assert [r.reason for r in reports if isinstance(r, RecordingClosed)] == ["storage full"]
    assert all(f.ok for f in verify([info.directory])), verify([info.directory])
    assert not rec.recording


def test_storage_full_at_the_press_ends_the_recording_once_and_the_buffer_goes_on(
        tmp_path: Path) -> None:
    """Below the reserve when the backlog is flushed: nothing opens, the recording is closed
    as storage full once, no exception escapes for the rest of the backlog."""
    free = [RESERVE - 1]
    rec, reports, info, encoder, clock = recorder(tmp_path, free)
    rec.handle(SetBuffering(True))
    for packet in stream(encoder, clock, 30):
        rec.handle(packet)
    rec.handle(StartRecording(info, True, clock.monotonic()))
    assert [type(r) for r in reports] == [RecordingClosed, StorageFull]
    assert reports[0] == RecordingClosed(info.recording_id, [], "storage full")
    assert not rec.recording and not info.directory.exists()
    for packet in stream(encoder, clock, 30):
        rec.handle(packet)
    rec.handle(StopRecording(clock.wall()))
    assert len(reports) == 2 and rec.buffered_s > 0


def test_a_recording_from_the_recorder_decodes_frame_for_frame(tmp_path: Path) -> None:
    rec, reports, info, encoder, clock = recorder(tmp_path, [1 << 40])
    rec.handle(SetBuffering(True))
    for packet in stream(encoder, clock, 25):
        rec.handle(packet)
    rec.handle(StartRecording(info, True, clock.monotonic()))
    for packet in stream(encoder, clock, 45):
        rec.handle(packet)
    rec.handle(StopRecording(clock.wall(), "test"))
    closed = [r for r in reports if isinstance(r, SegmentClosed)]
    assert len(closed) >= 3 and closed[-1].last
    for report in closed:
        decoded = decode(info.directory / report.file)
        assert (decoded.codec, decoded.width, decoded.height) == ("h264", 64, 48)
        assert len(decoded.frame_times) == report.frames
    assert info.pre_event_s >= 2.0
    assert all(f.ok for f in verify([info.directory])), verify([info.directory])


def test_pipeline_threads_start_in_start_not_in_the_constructor(tmp_path: Path) -> None:
    clock = SimClock()
    config = tiny_config()
    cam = config.camera
    before = set(threading.enumerate())
    pipeline = Pipeline(config, SimCamera(clock, cam.width, cam.height, cam.fps), clock,
                        lambda: 1 << 40, lambda report: None, encoder=FakeEncoder)
    assert set(threading.enumerate()) == before
    pipeline.start()
    names = {t.name for t in set(threading.enumerate()) - before}
    assert names == {"encoder", "recorder"}
    pipeline.close()
    assert set(threading.enumerate()) == before


# -- the fake encoder ------------------------------------------------------------------------------
@pytest.mark.parametrize("width, height", [(64, 48), (160, 120), (100, 70), (1280, 720)])
def test_the_fake_encoders_stream_decodes_at_its_size(tmp_path: Path, width: int,
                                                      height: int) -> None:
    encoder = FakeEncoder(EncoderSettings(width, height, FPS, gop=FPS))
    packets = stream(encoder, SimClock(), 25)
    path = tmp_path / "fake.h264"
    path.write_bytes(b"".join(p.data for p in packets))
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert len(frames) == len(packets)
    assert frames[-1].shape == (height, width)


def test_the_fake_encoder_keys_at_the_gop_and_on_request_with_headers() -> None:
    encoder = FakeEncoder(EncoderSettings(320, 240, FPS, gop=FPS))
    clock = SimClock()
    first = stream(encoder, clock, 14)
    encoder.request_keyframe()
    rest = stream(encoder, clock, 20)
    packets = first + rest
    assert [p.pts for p in packets if p.keyframe] == [0, 10, 14, 24]
    assert [p.pts for p in packets] == list(range(len(packets)))
    for packet in packets:
        kinds = [u[0] & 0x1F for u in nal_units(packet.data)]
        slices = [7, 8, 6, 5] if packet.keyframe else [6, 1]  # SPS, PPS, SEI, IDR; SEI, P
        assert kinds[:len(slices)] == slices and set(kinds[len(slices):]) <= {12}  # filler
        assert bool(parameter_sets(packet.data)) == packet.keyframe
    keys = [p.size for p in packets if p.keyframe]
    others = [p.size for p in packets if not p.keyframe]
    assert min(keys) > 2 * max(others) and min(others) > 500  # about a real encoder's
    encoder.restart_timeline()
    clock.advance(5)  # the camera was off: the next frame continues the slots, on a keyframe
    again = stream(encoder, clock, 1)[0]
    assert again.keyframe and again.pts == packets[-1].pts + 1


def test_the_fake_encoders_frames_are_their_own_bytes() -> None:
    """Two recordings of the same length must not be byte-identical (a content-addressed store
    keeps one object for both): like a real encoder's, each frame's bytes follow its picture
    and its time."""
    encoder = FakeEncoder(EncoderSettings(64, 48, FPS, gop=FPS))
    image = np.zeros((48, 64, 3), np.uint8)
    same_picture = [encoder.encode(image, t, 1000.0 + t)[0].data for t in (0.0, 0.1)]
    other = image.copy()
    other[-1, -1] = 255
    settings = EncoderSettings(64, 48, FPS, gop=FPS)
    first, second, again = (FakeEncoder(settings).encode(picture, 5.0, 2000.0)[0].data
                            for picture in (image, other, image))
    assert len(set(same_picture)) == 2 and first != second and first == again
