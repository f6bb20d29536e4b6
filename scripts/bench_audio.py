"""Sound benchmarks (issue 14): the pipeline's throughput with sound against without at 1080p,
dropped frames and blocks in a minute of real time with the audio thread's share of the CPU,
and the worst sound-to-picture offset over a ten-minute recording of the simulator's flashes
and tone bursts (``--seconds`` scales both: 5, the default, gives a minute and ten minutes).
Each returns rows for ``scripts/bench.py``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_pipeline import Row, _config, _frames, _recording

from device.config import Config
from device.pipeline.pipeline import Pipeline, SetBuffering, StartRecording, StopRecording
from hal.camera import Frame, PixelFormat
from hal.clock import SystemClock
from hal.encoder import LibavEncoder
from hal.microphone import AudioBlock
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.microphone import BLOCK, SimMicrophone
from sim.simulator import Simulator
from sim.sync import offsets


def _fps(config: Config, frames: list[Any], count: int, sound: bool) -> float:
    """Frames as fast as the pipeline takes them, with the sound of the same span fed in
    step (a block whenever the frames have passed its time), on a simulated clock."""
    cam = config.camera
    with tempfile.TemporaryDirectory() as tmp:
        clock = SimClock()
        camera = SimCamera(clock, cam.width, cam.height, 30)
        mic = SimMicrophone(clock, 48000, 1, camera=camera) if sound else None
        pipeline = Pipeline(config, camera, clock, lambda: 1 << 50, lambda report: None,
                            microphone=mic)
        pipeline.start()
        pipeline.send(SetBuffering(True))
        pipeline.send(StartRecording(_recording(Path(tmp), config), False, 0.0))
        blocks = [mic.render(n * BLOCK / 48000, BLOCK) for n in range(16)] if mic else []
        fed = 0
        start = time.perf_counter()
        for i in range(count):
            image = frames[i % len(frames)]
            pipeline.on_frame(Frame(image.copy(), i / 30, i, PixelFormat.of(image)))
            while blocks and (fed + 1) * BLOCK / 48000 <= (i + 1) / 30:
                pipeline.on_block(AudioBlock(blocks[fed % len(blocks)], fed * BLOCK / 48000,
                                             48000))
                fed += 1
        pipeline.send(StopRecording(0.0))
        pipeline.sync()
        fps = count / (time.perf_counter() - start)
        pipeline.close()
    return fps


def throughput(seconds: float) -> list[Row]:
    """Best of three interleaved runs each, with and without sound, at 1920x1080."""
    config = _config(1920, 1080)
    frames = _frames(1920, 1080, 60)
    count = max(90, int(seconds * 30))
    without = with_sound = 0.0
    for _ in range(3):
        without = max(without, _fps(config, frames, count, False))
        with_sound = max(with_sound, _fps(config, frames, count, True))
    return [Row("full pipeline 1920x1080, picture only", f"{without:.1f} fps"),
            Row("full pipeline 1920x1080, with AAC 48 kHz mono", f"{with_sound:.1f} fps",
                f"{with_sound / without:.0%} of picture only (target >= 90%)")]


def _cpu_s(native_id: int | None = None) -> float:
    """CPU seconds (user + system) of one thread of this process, or of the whole process."""
    if native_id is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def realtime(seconds: float) -> list[Row]:
    """``seconds * 12`` (a minute at the default; at least 10 s) of real time at 1920x1080
    30 fps with sound, recording: what was dropped, and the audio thread's share of the CPU
    (the gate and AAC-LC; the simulated microphone's own drawing is not the firmware's)."""
    duration = max(10.0, seconds * 12)
    config = _config(1920, 1080)
    with tempfile.TemporaryDirectory() as tmp:
        clock = SystemClock()
        camera = SimCamera(clock, 1920, 1080, 30)
        mic = SimMicrophone(clock, 48000, 1, camera=camera)
        pipeline = Pipeline(config, camera, clock, lambda: 1 << 50, lambda report: None,
                            microphone=mic)
        pipeline.start()
        audio_thread = next(t for t in threading.enumerate() if t.name == "audio"
                            and t.is_alive())
        pipeline.send(StartRecording(_recording(Path(tmp), config), False, clock.monotonic()))
        pipeline.start_camera()
        process0, audio0, wall0 = _cpu_s(), _cpu_s(audio_thread.native_id), time.perf_counter()
        time.sleep(duration)
        process_cpu = _cpu_s() - process0
        audio_cpu = _cpu_s(audio_thread.native_id) - audio0
        wall = time.perf_counter() - wall0
        pipeline.stop_camera()
        pipeline.send(StopRecording(clock.wall()))
        pipeline.sync()
        pipeline.close()
        clock.close()
    return [Row(f"real time 1920x1080@30 + sound for {duration:.0f} s: frames dropped",
                f"{pipeline.frames_dropped} / {pipeline.frames_in}", "target: none"),
            Row(f"real time 1920x1080@30 + sound for {duration:.0f} s: audio blocks dropped",
                f"{pipeline.blocks_dropped} / {pipeline.blocks_in}", "target: none"),
            Row("audio thread (gate + AAC-LC 48 kHz mono 64 kbit/s): share of the CPU",
                f"{audio_cpu / process_cpu:.1%}",
                f"{audio_cpu:.2f} s of the pipeline's {process_cpu:.1f} s CPU; "
                f"{audio_cpu / wall:.1%} of one core")]


def av_offset(seconds: float) -> list[Row]:
    """The worst |sound - picture| over a recording of ``seconds * 120`` simulated seconds
    (ten minutes at the default; at least 30 s), every flash of every segment measured in the
    files (small frames: the offset does not depend on the picture's size)."""
    span = max(30.0, seconds * 120)
    config = Config().replace(camera={"width": 160, "height": 120, "fps": 30},
                              recording={"segment_s": 60.0, "pre_event_audio": True},
                              encoder={"preset": "ultrafast"},
                              encryption={"enabled": False})  # the files are measured
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(config, Path(tmp) / "d", encoder=LibavEncoder)
        sim.power_on()
        sim.advance(3.0)
        sim.button("record").double_press()
        sim.advance(span)
        sim.button("record").hold(3.2)
        sim.advance(3.5)
        sim.shutdown()
        files = sorted(sim.data_dir.glob("recordings/*/*.mp4"))
        found = [o for mp4 in files for o in offsets(mp4)[:-1]]  # a segment's last flash
        # may sound in the next
    worst = max(abs(o) for o in found)
    return [Row(f"worst |A-V| over {span:.0f} s ({len(files)} segments, "
                f"{len(found)} flashes)", f"{worst * 1000:.2f} ms",
                "target: <= 33 ms (one frame at 30 fps)")]


def audio(seconds: float) -> list[Row]:
    return throughput(seconds) + realtime(seconds) + av_offset(seconds)


BENCHMARKS = {"audio": audio}
