"""Reading recordings back with PyAV, as a player would."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av


@dataclass
class Decoded:
    codec: str
    width: int
    height: int
    frame_times: list[float]  # seconds, presentation order


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
        return Decoded(stream.codec_context.name, stream.width, stream.height, times)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(path)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"][0]


def segments(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("recordings/*/*.mp4"))
