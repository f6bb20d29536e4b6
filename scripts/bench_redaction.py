"""Benchmark of redaction: the face pass, and a whole redaction (two decodes, the blur, H.264 and
AAC re-encoding, the derivation manifest) of the tests' astronaut scene."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import av
from bench_pipeline import Row
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from store.redaction.detector import FaceDetector
from store.redaction.plan import build_plan
from store.redaction.run import redact

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' scene builder
from tests.redaction.scene import FPS, HEIGHT, WIDTH, build_scene

SECONDS = 4.0


def redaction(seconds: float) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        scene = build_scene(Path(tmp) / "export", seconds=SECONDS)
        with av.open(str(scene.segments[0])) as container:
            images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        detector = FaceDetector()
        start, n = time.perf_counter(), 0
        while n < len(images) or time.perf_counter() - start < min(seconds, 2.0):
            detector.detect(images[n % len(images)])
            n += 1
        detect_fps = n / (time.perf_counter() - start)
        key = Ed25519PrivateKey.generate()
        plan = build_plan({"reviewer": "bench", "silence": [{"from_s": 1, "to_s": 2}]})
        t0 = time.perf_counter()
        d = redact(scene.root, plan, Path(tmp) / "out", key, "store-bench",
                   "2026-01-01T00:00:00.000Z")
        whole = time.perf_counter() - t0
    frames = d["output"]["frame_count"]
    size = f"{WIDTH}x{HEIGHT}"
    return [
        Row(f"redaction: face pass, {size}", f"{detect_fps:.0f} frames/s",
            "frontal + profile + mirrored profile Haar cascades"),
        Row(f"redaction: whole copy, {size}, {SECONDS:g} s at {FPS} fps with sound",
            f"{frames / whole:.0f} frames/s", f"{whole:.1f} s for {frames} frames, "
            f"{frames / whole / FPS:.1f}x real time"),
    ]


BENCHMARKS = {"redaction": redaction}
