"""What each stage of a frame's path costs (issue 19): capture (the simulator's render),
watermark, colour conversion, copy into the codec's frame, the encoder itself, muxing and
fsync, at 720p and 1080p, per frame, in wall time and, where valgrind is installed, in
instructions counted by callgrind (stable on a machine other processes share).

Each stage runs over the same frames, one stage after another, so a stage's cost is its own.
Under callgrind a child process (``--child``) runs the same stages and calls ``os.getppid()``
between them; ``--dump-before=getppid`` makes callgrind write the instructions counted since
the last mark, so one run gives every stage's count. The pipeline's overhead outside the
encoder is the sum of the stages between capture and the encoder plus muxing and fsync, as a
share of the encoder's own cost.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
from bench_pipeline import Row, _config, _recording

from device.pipeline.encoder import encoder_settings
from device.pipeline.segments import SegmentWriter
from device.pipeline.watermark import Watermark
from hal.camera import PixelFormat
from hal.encoder import EncodedPacket, LibavEncoder
from sim.camera import SimCamera
from sim.clock import SimClock

#: the stages in the order a frame meets them
STAGES = ("capture", "watermark", "convert", "copy", "encode", "mux", "fsync")
#: the stages that are the pipeline's own work, outside the encoder (capture is the sensor's)
OVERHEAD = ("watermark", "convert", "copy", "mux", "fsync")
#: the child's dump points, in order: the stages and the keyframe that lands the fragment
DUMPS = ("capture", "watermark", "convert", "copy", "encode", "key", "mux", "fsync")
SIZES = ((1280, 720), (1920, 1080))
#: frames per stage under callgrind (slow: about 50 times native)
CALLGRIND_FRAMES = 10


def run_stages(width: int, height: int, frames: int, folder: Path,
               mark: Callable[[], None] = lambda: None,
               pixel_format: PixelFormat = PixelFormat.I420) -> dict[str, float]:
    """Seconds per frame of each stage over ``frames`` frames in ``pixel_format`` (I420: the
    simulator's and the Pi's; BGR: a USB camera's, and every frame before issue 19); ``mark``
    is called after the set-up and after each of :data:`DUMPS` (the callgrind child's)."""
    config = _config(width, height)
    camera = SimCamera(SimClock(), width, height, 30, pixel_format)
    watermark = Watermark("BWV-OPEN-1", "SIM00001", height)
    encoder = LibavEncoder(encoder_settings(config))
    ctx: Any = encoder._ctx  # the codec itself: the copy into its frame is timed apart
    info = _recording(folder, config)
    info.directory.mkdir(parents=True, exist_ok=True)
    # set-up: the segment opens on a keyframe; first-use costs (fonts, numpy) go here too
    first = camera.render(0, 0.0)
    watermark.apply(first.copy(), 1767225600.0, True)
    writer = SegmentWriter(info, 0, None, encoder.encode(first, 0.0, 0.0)[0], 1.0)
    times: dict[str, float] = {}
    out: dict[str, Any] = {}

    def stage(name: str, work: Callable[[], Any]) -> None:
        start = time.perf_counter()
        out[name] = work()
        times[name] = (time.perf_counter() - start) / frames
        mark()

    def encode(frame: Any, pts: int) -> list[EncodedPacket]:
        frame.pts = pts
        return [EncodedPacket(bytes(p), int(p.pts), bool(p.is_keyframe), pts / 30, 0.0)
                for p in ctx.encode(frame)]

    mark()
    stage("capture", lambda: [camera.render(i, i / 30) for i in range(1, frames + 1)])
    images = out["capture"]
    stage("watermark", lambda: [watermark.apply(image, 1767225600.0 + i / 30, True,
                                                pixel_format)
                                for i, image in enumerate(images)])
    if pixel_format is PixelFormat.BGR:  # what LibavEncoder.encode does first with BGR
        stage("convert", lambda: [cv2.cvtColor(i, cv2.COLOR_BGR2YUV_I420) for i in images])
    else:
        stage("convert", lambda: images)  # nothing to do: the sensor's format is the codec's
    planes = out["convert"]
    # into the codec's frame: the encoder's own way (before issue 19: from_ndarray, which
    # copied each frame twice; now PyAV's frame points at the array)
    stage("copy", lambda: [encoder._codec_frame(p) for p in planes])
    stage("encode", lambda: [p for i, f in enumerate(out["copy"]) for p in encode(f, i + 1)])
    packets = out["encode"]

    def keyframe() -> list[EncodedPacket]:
        last = out["copy"][-1]
        last.pict_type = av.video.frame.PictureType.I
        return encode(last, frames + 1)

    # not a stage: the next keyframe, whose muxing writes the fragment out (a GOP's first)
    stage("key", keyframe)
    stage("mux", lambda: [writer.write(p, sync=False) for p in packets + out["key"]])
    # the pipeline fsyncs (and signs) once per fragment: here one of ``frames`` frames
    stage("fsync", writer.flush)
    writer.abort()
    return times


def _callgrind(width: int, height: int, frames: int,
               pixel_format: PixelFormat) -> dict[str, float] | None:
    """Instructions per frame of each stage, counted by callgrind in a child process; None
    when valgrind is not installed."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([valgrind, "--tool=callgrind", "--dump-before=getppid",
                        f"--callgrind-out-file={out}", sys.executable, __file__, "--child",
                        str(width), str(height), str(frames), tmp, pixel_format.value],
                       check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        dumps = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        counts = [_total(p) for p in dumps]
    if len(counts) < len(DUMPS) + 1:
        raise RuntimeError(f"callgrind wrote {len(counts)} dumps, {len(DUMPS) + 1} expected")
    per = dict(zip(DUMPS, counts[-len(DUMPS):], strict=True))
    return {name: per[name] / frames for name in STAGES}


def _total(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return 0


def _fmt_instr(n: float) -> str:
    return f"{n / 1e6:.1f} M"


def stage_costs(seconds: float) -> list[Row]:
    """Per-stage cost per frame at 720p and 1080p: wall time (best of three runs) and, with
    valgrind, instructions; and the overhead outside the encoder against the encoder."""
    rows = []
    frames = max(10, round(seconds * 6))  # 5 s: 30, a keyframe interval
    for (width, height), pixel_format in itertools.product(SIZES, PixelFormat):
        with tempfile.TemporaryDirectory() as tmp:
            runs = []
            for n in range(3):
                runs.append(run_stages(width, height, frames, Path(tmp) / f"run{n}",
                                       pixel_format=pixel_format))
            wall = {name: min(r[name] for r in runs) for name in STAGES}
        instr = _callgrind(width, height, CALLGRIND_FRAMES, pixel_format)
        size = f"{width}x{height} {pixel_format.name}"
        for name in STAGES:
            value = f"{wall[name] * 1e3:.2f} ms"
            note = f"{_fmt_instr(instr[name])} instructions" if instr else "valgrind not found"
            rows.append(Row(f"stage {name}, {size}", value, note))
        overhead = sum(wall[name] for name in OVERHEAD)
        note = f"wall {overhead * 1e3:.2f} ms vs encoder {wall['encode'] * 1e3:.2f} ms"
        if instr:
            share = sum(instr[name] for name in OVERHEAD) / instr["encode"]
            note += (f"; instructions {_fmt_instr(sum(instr[n] for n in OVERHEAD))} vs "
                     f"{_fmt_instr(instr['encode'])}")
            value = f"{share:.1%}"
        else:
            value = f"{overhead / wall['encode']:.1%}"
        rows.append(Row(f"pipeline overhead outside the encoder / encoder, {size}", value,
                        note + f"; {frames} frames per stage, callgrind {CALLGRIND_FRAMES}"))
    return rows


BENCHMARKS = {"stages": stage_costs}


def _child() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("width", type=int)
    parser.add_argument("height", type=int)
    parser.add_argument("frames", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("format", type=PixelFormat)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # a thread pool's spinning is not work: keep the count stable
    run_stages(args.width, args.height, args.frames, args.folder / "run", os.getppid,
               args.format)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    _child()
