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

import av
import numpy as np

from device.config import Config
from device.evidence.report import intact
from device.evidence.verify import verify
from device.pipeline.encoder import H264Encoder
from device.pipeline.watermark import Watermark
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.simulator import Simulator


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
    """A real recording of at least ``min_bytes``, made quickly: the simulated camera at
    1280x720 shows noise (which no encoder can shrink) and the daemon records it as it always
    does, segments signed and chained, audit log and all. Returns the footage's size."""
    config = Config().replace(camera={"width": 1280, "height": 720, "fps": 30},
                              encoder={"preset": "ultrafast"},
                              recording={"pre_event_s": 0.0, "segment_s": 4.0})
    sim = Simulator(config, data_dir)
    rng = np.random.default_rng(5)
    noise = [rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8) for _ in range(8)]
    sim.camera.render = lambda index, t_mono: noise[index % len(noise)].copy()  # type: ignore[method-assign]

    def footage() -> int:
        return sum(p.stat().st_size for p in data_dir.glob("recordings/*/*.mp4*"))

    sim.power_on()
    sim.button("record").double_press()
    while footage() < min_bytes:
        sim.advance(1.0)
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    sim.shutdown()
    return footage()


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
