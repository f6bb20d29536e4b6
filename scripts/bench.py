"""Benchmarks: ``make bench`` prints a table of what was measured and on which machine.

Numbers live here, not in timed tests. Each benchmark is a function returning rows; add new ones
to ``BENCHMARKS``. ``--only NAME`` runs one, ``--seconds`` sets how long each measures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from device.config import Config
from device.pipeline.encoder import H264Encoder
from device.pipeline.watermark import Watermark
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


BENCHMARKS: dict[str, Callable[[float], list[Row]]] = {
    "encoder": camera_through_encoder,
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
