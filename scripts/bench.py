"""Benchmarks: ``make bench`` prints a table of what was measured and on which machine.

Numbers live here, not in timed tests. Each benchmark is a function returning rows; add new ones
to ``BENCHMARKS``. ``--only NAME`` runs one, ``--seconds`` sets how long each measures.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from device.audit import AUDIT_LOG, AuditLog
from device.config import Config
from device.evidence.identity import provision
from device.evidence.report import intact
from device.evidence.verify import verify
from device.pipeline.encoder import H264Encoder
from device.pipeline.pipeline import Recorder, StartRecording, StopRecording
from device.pipeline.segments import RecordingInfo
from device.pipeline.watermark import Watermark
from device.recordings import next_recording_id, recordings_dir
from sim.camera import SimCamera
from sim.clock import SimClock


@dataclass
class Row:
    benchmark: str
    value: str
    note: str = ""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ffmpeg = ".".join(map(str, av.library_versions["libavcodec"]))
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"PyAV {av.__version__} (libavcodec {ffmpeg})")


def camera_through_encoder(seconds: float) -> list[Row]:
    """Frames per second of the simulated camera rendered, watermarked and encoded at 720p."""
    rows = []
    for preset in ("veryfast", "ultrafast"):
        config = Config().replace(camera={"width": 1280, "height": 720, "fps": 30},
                                  encoder={"preset": preset})
        cam = SimCamera(SimClock(), 1280, 720, 30)
        encoder = H264Encoder(config)
        mark = Watermark("BWV-OPEN-1", "SIM00001", 720)
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            image = cam.render(frames, frames / 30)
            mark.apply(image, 1767225600.0 + frames / 30, True)
            encoder.encode(image, frames / 30, 0.0)
            frames += 1
        fps = frames / (time.perf_counter() - start)
        rows.append(Row(f"sim camera -> watermark -> libx264 {preset}, 1280x720",
                        f"{fps:.1f} fps", "real time needs 30 fps"))
    return rows


def record_noise(data_dir: Path, min_bytes: int) -> int:
    """A real signed recording of at least ``min_bytes``, quickly: 1280x720 noise (which no
    encoder can shrink) through the firmware's encoder, recorder and segment writer, with the
    audit entries the daemon writes. Returns the footage's size in bytes."""
    config = Config().replace(camera={"width": 1280, "height": 720, "fps": 30},
                              encoder={"preset": "ultrafast"},
                              recording={"pre_event_s": 0.0, "segment_s": 4.0})
    identity = provision(data_dir, config.device.model, config.device.serial)
    clock = SimClock()
    audit = AuditLog(data_dir / AUDIT_LOG, clock, identity.sign)

    def emit(kind: str, **data: Any) -> None:  # as the daemon logs the recorder's reports
        reason = str(data.pop("reason", kind))
        audit.append("segment" if kind == "segment_closed" else kind, reason, **data)

    encoder = H264Encoder(config)
    recorder = Recorder(config, encoder, lambda: 1 << 50, emit)
    recording_id = next_recording_id(data_dir)
    audit.append("recording_start", "bench", recording_id=recording_id, pre_event=False)
    recorder.handle(StartRecording(RecordingInfo(
        recording_id=recording_id, directory=recordings_dir(data_dir) / recording_id,
        reason="bench", identity=identity, codec="h264", width=1280, height=720, fps=30,
        clock_set=True), with_pre_event=False))
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8) for _ in range(8)]
    written = n = 0
    while written < min_bytes:
        for packet in encoder.encode(frames[n % len(frames)], clock.monotonic(), clock.wall()):
            recorder.handle(packet)
            written += packet.size
        clock.advance(1 / 30)
        n += 1
    recorder.handle(StopRecording())
    audit.checkpoint("shutdown")
    audit.close()
    return sum(p.stat().st_size for p in data_dir.glob("recordings/*/*.mp4"))


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def verify_throughput(seconds: float) -> list[Row]:
    """``bodycam verify`` of a whole data directory (segments, chain, audit log, log against
    footage) against ``sha256sum`` of the same MP4s, both with the files in the page cache."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        size = record_noise(data, 200 * 10**6)
        files = [str(p) for p in sorted(data.glob("recordings/*/*.mp4"))]
        if not intact(verify([data])):
            return [Row("verify", "FAILED", "the generated recording does not verify")]

        def tool(*command: str) -> Callable[[], object]:
            return lambda: subprocess.run([*command, *files], check=True,
                                          stdout=subprocess.DEVNULL)

        runs = max(3, int(seconds))
        verify_s = best_of(runs, lambda: verify([data]))
        sha_s = best_of(runs, tool("sha256sum"))
        openssl_s = best_of(runs, tool("openssl", "dgst", "-sha256"))
    mb = size / 1e6
    note = f"{len(files)} signed segments, {mb:.0f} MB, best of {runs}"
    return [Row("verify: whole data directory, 1280x720 recording", f"{mb / verify_s:.0f} MB/s",
                note),
            Row("sha256sum of the same MP4s", f"{mb / sha_s:.0f} MB/s", note),
            Row("openssl dgst -sha256 of the same MP4s", f"{mb / openssl_s:.0f} MB/s", note),
            Row("verify / sha256sum", f"{sha_s / verify_s:.0%}", "target: at least 80 %")]


BENCHMARKS: dict[str, Callable[[float], list[Row]]] = {
    "encoder": camera_through_encoder,
    "verify": verify_throughput,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS))
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows: list[Row] = []
    for name, bench in BENCHMARKS.items():
        if args.only in (None, name):
            rows.extend(bench(args.seconds))
    width = max(len(r.benchmark) for r in rows)
    print(f"machine: {machine()}\n")
    print(f"| {'benchmark':<{width}} | {'result':>12} | note")
    print(f"|{'-' * (width + 2)}|{'-' * 14}|------")
    for r in rows:
        print(f"| {r.benchmark:<{width}} | {r.value:>12} | {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
