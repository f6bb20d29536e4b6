"""Video pipeline benchmarks (issue 4): throughput against the bare encoder, dropped frames in
real time at 1080p30, press-to-record latency, pre-event buffer memory, resident memory over
ten minutes. Each returns rows for ``scripts/bench.py``'s table.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.config import Config
from device.pipeline.encoder import encoder_settings
from device.pipeline.pipeline import Pipeline, SetBuffering, StartRecording, StopRecording
from device.pipeline.ringbuffer import PreEventBuffer
from device.pipeline.segments import RecordingInfo
from evidence.crypt import new_force_key
from evidence.identity import create_identity
from hal.camera import Frame, PixelFormat
from hal.clock import SystemClock
from hal.encoder import LibavEncoder
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.simulator import Simulator


@dataclass
class Row:
    """One line of ``make bench``'s table."""

    benchmark: str
    value: str
    note: str = ""


def _config(width: int, height: int, **encoder: Any) -> Config:
    """Encryption off in the configuration (the simulated daemons here have no force key);
    the pipeline benchmarks encrypt by giving the recording a force key (``_recording``)."""
    return Config().replace(camera={"width": width, "height": height, "fps": 30},
                            encoder=encoder or {}, encryption={"enabled": False})


def _frames(width: int, height: int, count: int) -> list[Any]:
    cam = SimCamera(SimClock(), width, height, 30)
    return [cam.render(i, i / 30) for i in range(count)]


def _recording(folder: Path, config: Config, force_key: Any = None) -> RecordingInfo:
    identity = create_identity(folder, "BWV-OPEN-1", "BENCH")
    cam = config.camera
    return RecordingInfo("R000001-bench0", folder / "recordings" / "R000001-bench0", "bench",
                         identity, config.encoder.codec, cam.width, cam.height, cam.fps, True,
                         force_key=force_key)


def _bare_fps(config: Config, frames: list[Any], count: int) -> float:
    encoder = LibavEncoder(encoder_settings(config))
    start = time.perf_counter()
    for i in range(count):
        encoder.encode(frames[i % len(frames)], i / 30, 0.0)
    return count / (time.perf_counter() - start)


def _pipeline_fps(config: Config, frames: list[Any], count: int,
                  force_key: Any = None) -> float:
    cam = config.camera
    with tempfile.TemporaryDirectory() as tmp:
        clock = SimClock()  # not real time: a full queue makes the feeder wait, not drop
        pipeline = Pipeline(config, SimCamera(clock, cam.width, cam.height, 30), clock,
                            lambda: 1 << 50, lambda report: None)
        pipeline.start()
        pipeline.send(SetBuffering(True))
        pipeline.send(StartRecording(_recording(Path(tmp), config, force_key), False, 0.0))
        start = time.perf_counter()
        for i in range(count):  # the camera: a fresh buffer per frame, as a sensor gives
            image = frames[i % len(frames)]
            pipeline.on_frame(Frame(image.copy(), i / 30, i, PixelFormat.of(image)))
        pipeline.send(StopRecording(0.0))
        pipeline.sync()
        fps = count / (time.perf_counter() - start)
        pipeline.close()
    return fps


Rate = Callable[[Config, list[Any], int], float]


def _against(seconds: float, base: Rate, measured: Rate) -> list[tuple[int, int, float, float]]:
    """(width, height, base fps, measured fps) at 720p and 1080p: best of three interleaved
    runs each, so a noisy neighbour does not decide the ratio."""
    results = []
    for width, height in ((1280, 720), (1920, 1080)):
        config = _config(width, height)
        frames = _frames(width, height, 60)
        count = max(90, int(seconds * 30))
        low = high = 0.0
        for _ in range(3):
            low = max(low, base(config, frames, count))
            high = max(high, measured(config, frames, count))
        results.append((width, height, low, high))
    return results


def throughput(seconds: float) -> list[Row]:
    """The whole pipeline (camera buffer, watermark, encode, pre-event buffer, mux, fsync, sign)
    fed as fast as it takes frames, against the bare encoder on the same frames."""
    preset = Config().encoder.preset
    return [row for width, height, bare, full in _against(seconds, _bare_fps, _pipeline_fps)
            for row in (Row(f"bare libx264 {preset}, {width}x{height}", f"{bare:.1f} fps"),
                        Row(f"full pipeline, {width}x{height}", f"{full:.1f} fps",
                            f"{full / bare:.0%} of bare (target >= 90%)"))]


def encryption_cost(seconds: float) -> list[Row]:
    """The whole pipeline recording encrypted segments (AES-256-CTR, a key per segment wrapped
    with RSA-OAEP-3072) against the same pipeline in the clear (issue 15: target >= 95%)."""
    force_key = new_force_key(3072).public_key()

    def encrypted(config: Config, frames: list[Any], count: int) -> float:
        return _pipeline_fps(config, frames, count, force_key)

    return [row for width, height, plain, secret in _against(seconds, _pipeline_fps, encrypted)
            for row in (Row(f"pipeline in the clear, {width}x{height}", f"{plain:.1f} fps"),
                        Row(f"pipeline encrypted, {width}x{height}", f"{secret:.1f} fps",
                            f"{secret / plain:.0%} of clear (target >= 95%)"))]


#: ``--load N[,N...]`` (scripts/bench.py): busy-loop processes beside the realtime benchmark.
LOADS: list[int] = [0]


@contextmanager
def busy_loops(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes spinning on a core each (another program hogging the processor);
    ended by their own ids when the block is left."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def realtime_1080p(seconds: float) -> list[Row]:
    """The simulated camera at 1920x1080, 30 fps, recording on the real clock, for 12 x
    ``--seconds`` (60 s by default), beside each ``--load`` count of busy loops: frames dropped,
    and where the encoder's real-time watch (device/pipeline/adapt.py) settled."""
    return [_realtime_row(12 * seconds, None, load, "") for load in LOADS]


def realtime_1080p_encrypted(seconds: float) -> list[Row]:
    """The same at 1920x1080, 30 fps, real clock, every segment encrypted (AES-256-CTR, its
    key wrapped with RSA-OAEP-3072 at each segment's open), for 12 x ``--seconds``."""
    key = new_force_key(3072).public_key()
    return [_realtime_row(12 * seconds, key, load, ", encrypted") for load in LOADS]


def _realtime_row(duration: float, force_key: Any, load: int, label: str) -> Row:
    """``duration`` s of recording at 1080p30 on the real clock beside ``load`` busy loops:
    frames dropped of those captured, and the presets the watch used."""
    config = _config(1920, 1080)
    with tempfile.TemporaryDirectory() as tmp, busy_loops(load):
        clock = SystemClock()
        camera = SimCamera(clock, 1920, 1080, 30)
        pipeline = Pipeline(config, camera, clock, lambda: 1 << 50, lambda report: None)
        pipeline.start()
        pipeline.send(StartRecording(_recording(Path(tmp), config, force_key), False,
                                     clock.monotonic()))
        pipeline.start_camera()
        at: dict[str, int] = {}
        end = time.monotonic() + duration
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            preset = pipeline.encoder.tuning.label()
            at[preset] = at.get(preset, 0) + 1
        pipeline.stop_camera()
        pipeline.send(StopRecording(clock.wall()))
        pipeline.sync()
        captured, dropped = pipeline.frames_in, pipeline.frames_dropped
        watch = pipeline.watch.status()
        pipeline.close()
        clock.close()
    spent = ", ".join(f"{name.split()[1]} {s} s" for name, s in at.items())
    return Row(f"real time 1920x1080@30 for {duration:g} s{label}, {load} busy loop(s): "
               f"frames dropped", f"{dropped} / {captured}",
               f"settled on {watch['preset']} after {watch['changes']} change(s) "
               f"(load {watch['load']}); time at each: {spent}")


def press_latency(seconds: float) -> list[Row]:
    """From the record gesture to the mode change, and to the first frame captured after it
    being on disk, over many presses of a running daemon (real clock, 1280x720)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = SystemClock()
        sim = Simulator(_config(1280, 720), Path(tmp) / "d", clock=clock)
        daemon = sim.daemon
        daemon.start()
        daemon.post("power_on", reason="bench")
        daemon.sync()
        time.sleep(1.0)
        to_mode, to_frame = [], []
        for _ in range(40):
            pressed = clock.monotonic()
            daemon.post("gesture", button="record", kind="double")
            while True:
                recording = daemon.recording
                if recording and recording.first_live_written_mono is not None:
                    break
                time.sleep(0.002)
            to_mode.append(recording.started_mono - pressed)
            to_frame.append(recording.first_live_written_mono - pressed)
            daemon.post("stop_recording", reason="bench")
            daemon.sync()
            time.sleep(0.3)
        daemon.post("shutdown")
        daemon.exit_requested.wait(30)
        sim.hw.close()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    return [Row("press -> mode change (p50 / p99)",
                f"{pct(to_mode, 50):.1f} / {pct(to_mode, 99):.1f} ms", "target p99 < 50 ms"),
            Row("press -> first live frame written to the segment (p50 / p99)",
                f"{pct(to_frame, 50):.1f} / {pct(to_frame, 99):.1f} ms",
                "target p99 < 50 ms (includes waiting for the next frame, <= 33 ms)")]


def ring_memory(seconds: float) -> list[Row]:
    """Memory the 30 s pre-event buffer holds at 4 Mbit/s, against bitrate x seconds."""
    kbps, window = 4000, 30.0
    config = _config(1280, 720, bitrate_kbps=kbps)
    frames = _frames(1280, 720, 60)
    encoder = LibavEncoder(encoder_settings(config))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ring = PreEventBuffer(window, 1 << 40)
    count, encoded = int((window + 10) * 30), 0
    for i in range(count):
        for packet in encoder.encode(frames[i % len(frames)], i / 30, 0.0):
            ring.append(packet)
            encoded += packet.size
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    bitrate = encoded / (count / 30)  # what the encoder really produced, bytes/s
    expected = bitrate * window
    return [Row("pre-event buffer, 30 s: memory / (bitrate x seconds)",
                f"{held / expected:.2f}x",
                f"{held / 2**20:.1f} MiB held for {ring.duration_s:.1f} s at "
                f"{bitrate * 8 / 1e6:.2f} Mbit/s (asked {kbps / 1000:g}); target <= 1.2x")]


def _rss_mib() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def resident_memory(seconds: float) -> list[Row]:
    """The daemon's resident memory over ten simulated minutes: five buffering, five recording
    (1280x720, 30 fps; the simulated clock runs as fast as the pipeline)."""
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(_config(1280, 720), Path(tmp) / "d")
        sim.power_on()
        at_boot = _rss_mib()
        sim.advance(60)
        warm = _rss_mib()
        sim.advance(240)
        buffering = _rss_mib()
        sim.button("record").double_press()
        sim.advance(300)
        recording = _rss_mib()
        sim.shutdown()
    return [Row("daemon RSS: boot / 1 min / 5 min buffering / +5 min recording",
                f"{at_boot:.0f} / {warm:.0f} / {buffering:.0f} / {recording:.0f} MiB",
                f"growth after warm-up {recording - warm:+.0f} MiB; target flat")]


BENCHMARKS = {
    "pipeline": throughput,
    "crypt": encryption_cost,
    "realtime": realtime_1080p,
    "crypt-realtime": realtime_1080p_encrypted,
    "latency": press_latency,
    "ring": ring_memory,
    "rss": resident_memory,
}

