"""Sound against picture over time, on the injected clock: the simulator's tone bursts against
its flash frames stay within one frame interval (33 ms at 30 fps) after an hour of capture,
in a recording made an hour after boot, and in every segment of a recording of many segments.

An hour is not encoded: the sources' timestamps are what an hour can move (the camera's
``t0 + n / fps``, the microphone's sample count), so the sources run a whole simulated hour
with their pictures and samples drawn cheaply until its last seconds; the pipeline then records
on a clock that has run an hour (the camera asleep meanwhile, as in standby).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hal.camera import Frame
from hal.encoder import LibavEncoder
from hal.microphone import AudioBlock
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.microphone import NOISE_LEVEL, SimMicrophone
from sim.simulator import Simulator
from sim.sync import flashes, offsets
from tests.evidence import record
from tests.test_audio import FRAME, config, manifest, mp4s

HOUR = 3600.0


def _lazy_camera(clock: SimClock, from_t: float) -> SimCamera:
    camera = SimCamera(clock, 32, 24, 30)
    real = camera.render
    blank = np.zeros_like(real(0, 0.0))  # the camera's own format (I420 or BGR), all black
    camera.render = lambda index, t: real(index, t) if t >= from_t else blank  # type: ignore
    return camera


def _lazy_microphone(clock: SimClock, camera: SimCamera, from_t: float) -> SimMicrophone:
    mic = SimMicrophone(clock, 48000, 1, camera=camera)
    real = mic.render
    mic.render = lambda first, count: (  # type: ignore[method-assign]
        real(first, count) if first >= from_t else np.zeros((count, 1), np.int16))
    return mic


def test_sources_stay_in_sync_to_the_sample_after_a_simulated_hour() -> None:
    clock = SimClock()
    last = HOUR - 3.0
    camera = _lazy_camera(clock, last)
    mic = _lazy_microphone(clock, camera, last)
    frames: list[Frame] = []
    blocks: list[AudioBlock] = []
    counted = {"frames": 0, "blocks": 0, "samples": 0}

    def on_frame(frame: Frame) -> None:
        counted["frames"] += 1
        if frame.t_mono >= last:
            frames.append(frame)

    def on_block(block: AudioBlock) -> None:
        counted["blocks"] += 1
        counted["samples"] += len(block.samples)
        if block.t_mono >= last:
            blocks.append(block)

    camera.start(on_frame)
    mic.start(on_block)
    clock.advance(HOUR + 0.001)
    camera.stop()
    mic.stop()
    # an hour of frames and of samples, none lost, none extra: no drift
    assert counted["frames"] == 30 * 3600
    assert counted["samples"] == 48000 * 3600 and counted["blocks"] == 30 * 3600
    for n, block in enumerate(blocks[1:], 1):  # contiguous on the capture clock
        assert block.t_mono == pytest.approx(blocks[n - 1].t_mono + 1600 / 48000, abs=1e-9)
    assert frames[-1].t_mono == pytest.approx(HOUR, abs=1e-6)
    pcm = np.concatenate([b.samples[:, 0] for b in blocks]).astype(float)
    t = blocks[0].t_mono + np.arange(len(pcm)) / 48000
    loud = np.flatnonzero(np.abs(pcm) > 20 * NOISE_LEVEL)
    onsets = [t[i] for n, i in enumerate(loud) if n == 0 or t[i] - t[loud[n - 1]] > 0.2]
    # the last flash's tone is still being heard when the hour ends
    flash_times = [f.t_mono for f in frames if camera.is_flash(f.index) and f.t_mono < HOUR]
    assert len(flash_times) == 3 and len(onsets) == len(flash_times)
    for onset, flash in zip(onsets, flash_times, strict=True):
        assert abs(onset - flash) <= 1 / 48000 + 1e-9  # within a sample, an hour on


def test_a_recording_an_hour_after_boot_is_in_sync_and_starts_at_zero(tmp_path: Path) -> None:
    import av

    cfg = config(gestures={"program_hold": "standby"}, recording={"pre_event_audio": True})
    sim = Simulator(cfg, tmp_path / "d", encoder=LibavEncoder)
    sim.power_on()
    sim.advance(2.0)
    sim.button("program").hold(3.2)
    sim.advance(4.0)
    assert sim.mode == "standby"
    sim.advance(HOUR)  # an hour asleep: the clocks run on, the camera and microphone off
    sim.button("program").hold(3.2)
    sim.advance(6.0)
    assert sim.mode == "buffering" and sim.clock.monotonic() > HOUR
    record(sim, 9.0)
    sim.shutdown()
    files = mp4s(sim)
    assert len(files) >= 3
    for mp4 in files:
        with av.open(str(mp4)) as container:  # both tracks start at the segment's start,
            for stream in container.streams:  # never at the hour's uptime or the wall time
                first = next(container.demux(stream))
                assert first.pts is not None and 0 <= float(first.pts * stream.time_base) < 0.1
        fields = manifest(mp4)
        assert fields["duration_s"] < 10 and fields["audio"]["duration_s"] < 10
        found = [o for o, f in zip(offsets(mp4), flashes(mp4), strict=True)
                 if f < fields["duration_s"] - 0.05]
        assert found and all(abs(o) <= FRAME for o in found), (mp4.name, found)


def test_every_segment_of_a_recording_of_many_segments_is_in_sync(tmp_path: Path) -> None:
    sim = Simulator(config(recording={"segment_s": 2.0, "pre_event_audio": True}),
                    tmp_path / "d", encoder=LibavEncoder)
    sim.power_on()
    sim.advance(3.0)
    record(sim, 15.0)
    sim.shutdown()
    files = mp4s(sim)
    assert len(files) >= 8
    measured = 0
    for mp4 in files:
        fields = manifest(mp4)
        assert fields["audio"]["gaps"] == [], mp4.name
        found = [o for o, f in zip(offsets(mp4), flashes(mp4), strict=True)
                 if f < fields["duration_s"] - 0.05]
        assert all(abs(o) <= FRAME for o in found), (mp4.name, found)
        measured += len(found)
    assert measured >= len(files) - 2  # a 2 s segment holds a flash or two
