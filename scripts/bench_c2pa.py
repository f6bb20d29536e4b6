"""Benchmark of C2PA Content Credentials on an export-sized MP4: signing (with the read-back
the store does after it) and reading, against sha256 of the same file."""

from __future__ import annotations

import hashlib
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from bench_pipeline import Row

from store.c2pa_sign import read_credentials, sign_original
from store.credentials import ensure_credentials

#: Noise barely compresses: this many 640x480 frames make an MP4 of about 140 MB.
FRAMES = 240


def _noise_mp4(path: Path, options: dict[str, str]) -> int:
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", format="mp4", options=options) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "0", "g": "30"}
        for _ in range(FRAMES):
            picture = rng.integers(0, 256, (480, 640, 3), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.stat().st_size


def _best(runs: int, work: Callable[[], object]) -> float:
    return min(timeit.repeat(work, number=1, repeat=runs))


def c2pa_credentials(seconds: float) -> list[Row]:
    """Sign (into a temporary, read back, fsync, rename) and read a ~140 MB export-like MP4
    (moov first) and a fragmented one."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        creds = ensure_credentials(root / "store", time.time(), "store-bench")
        anchor = creds.trust_anchor_pem
        runs = max(2, int(seconds // 3))
        for kind, options in (("export (faststart)", {"movflags": "+faststart"}),
                              ("fragmented", {"movflags": "frag_keyframe+empty_moov"})):
            source = root / f"{kind[:4]}.mp4"
            size = _noise_mp4(source, options)
            mb = size / 1e6
            work = root / "work.mp4"
            sign_times = []
            for _ in range(runs):
                work.write_bytes(source.read_bytes())
                start = time.perf_counter()
                sign_original(work, creds, title="export.mp4", when="2026-12-01T00:00:00Z",
                              evidence={"store_id": "store-bench"}, description="bench")
                sign_times.append(time.perf_counter() - start)
            sign_s = min(sign_times)
            assert read_credentials(work, anchor).trusted
            read_s = _best(runs, lambda work=work: read_credentials(work, anchor))
            sha_s = _best(runs, lambda work=work: hashlib.sha256(work.read_bytes()).digest())
            note = f"{mb:.0f} MB {kind}, best of {runs}"
            rows += [Row(f"c2pa sign + read-back: {kind}", f"{mb / sign_s:.0f} MB/s", note),
                     Row(f"c2pa read + validate: {kind}", f"{mb / read_s:.0f} MB/s", note),
                     Row(f"sha256 of the same file: {kind}", f"{mb / sha_s:.0f} MB/s", note)]
    return rows


BENCHMARKS = {"c2pa": c2pa_credentials}
