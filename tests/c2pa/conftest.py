"""Fixtures for C2PA Content Credentials: real MP4s from PyAV (the export's kind and the camera
segments' kind), a real store with its force CA, and the evidence store's recorded camera."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from store.credentials import Credentials, ensure_credentials
from store.service import init_store

# The evidence store's fixtures (a recorded camera, a running store), for end-to-end exports.
from tests.evidence_store.conftest import (  # noqa: F401
    camera,
    enrolled,
    recorded,
    running,
    store_backend,
    store_dir,
)

#: The export's MP4 (moov before mdat) and the camera's segments (moof/mdat fragments).
FASTSTART = {"movflags": "+faststart"}
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
FRAMES = 45


def make_mp4(path: Path, options: dict[str, str], frames: int = FRAMES) -> Path:
    """A small real H.264 MP4 with a moving picture (so every frame differs)."""
    with av.open(str(path), "w", format="mp4", options=options) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "15"}
        for i in range(frames):
            picture = np.zeros((64, 96, 3), np.uint8)
            picture[:, (i * 2) % 96] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def reencode(source: Path, dest: Path) -> Path:
    """A derived copy, as redaction makes one: decoded, changed (top rows blacked out) and
    encoded again, so it shares no bytes of media with its source."""
    with av.open(str(source)) as src, av.open(str(dest), "w", format="mp4",
                                              options=FASTSTART) as out:
        ins = src.streams.video[0]
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = ins.width, ins.height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for frame in src.decode(ins):
            picture = frame.to_ndarray(format="rgb24")
            picture[: picture.shape[0] // 2] = 0
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dest


def boxes(path: Path) -> list[tuple[str, int, int]]:
    """The top-level boxes of an MP4: (type, offset, size)."""
    data = path.read_bytes()
    found, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        found.append((kind.decode("latin-1"), offset, size or len(data) - offset))
        offset += size or len(data)
    return found


def flip_byte(path: Path, box: str, nth: int = 0, last: bool = False) -> int:
    """Change one byte in the middle (or the last byte) of the ``nth`` top-level ``box``;
    return its offset."""
    _, offset, size = [b for b in boxes(path) if b[0] == box][nth]
    at = offset + size - 1 if last else offset + size // 2
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    return at


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.fixture
def store_credentials(tmp_path: Path) -> tuple[Path, Credentials]:
    """A store made by ``init_store`` and the C2PA credentials it made."""
    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory)
    return directory, ensure_credentials(directory, 1.78e9)
