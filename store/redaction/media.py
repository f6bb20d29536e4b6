"""Reading the device-signed sources and writing the redacted MP4 (H.264 video, AAC sound).

The sources' video packets are first joined as an export joins them (:func:`store.export.remux`,
no re-encoding), so frame numbers and times are those of ``export.mp4``; that file is then
decoded twice (once to find faces, once to redact), so a long recording is never held in memory.
Sound is kept as decoded 48 kHz samples for the silencing and encoded to AAC; footage without
sound gets a silent track, so every redacted copy plays the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from store.redaction import RedactionError

RATE = 48000
AAC_FRAME = 1024
TIME_BASE = Fraction(1, 90000)


@dataclass(frozen=True)
class Picture:
    index: int
    time_s: float
    image: np.ndarray


def frames(path: Path) -> Iterator[Picture]:
    """The joined video's frames in presentation order, as BGR arrays."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.pts * frame.time_base) if frame.pts is not None else index / 30
                yield Picture(index, t, frame.to_ndarray(format="bgr24"))
    except (av.error.FFmpegError, IndexError) as exc:
        raise RedactionError(f"cannot decode the sources' video: {exc}") from None


@dataclass
class Sound:
    samples: np.ndarray   # float32, channels x n
    layout: str
    from_source: bool


def read_sound(paths: list[Path], offsets: list[Fraction], duration_s: float) -> Sound:
    """Every source's sound placed at its segment's offset, as one 48 kHz buffer."""
    n = max(1, math.ceil(duration_s * RATE))
    layout, found = "mono", False
    for path in paths:
        with av.open(str(path)) as container:
            if container.streams.audio:
                found = True
                if container.streams.audio[0].codec_context.channels > 1:
                    layout = "stereo"
    channels = 2 if layout == "stereo" else 1
    buffer = np.zeros((channels, n), np.float32)
    if not found:
        return Sound(buffer, layout, False)
    resampler_layout = layout
    for path, offset in zip(paths, offsets, strict=True):
        try:
            with av.open(str(path)) as container:
                if not container.streams.audio:
                    continue
                stream = container.streams.audio[0]
                resampler = av.AudioResampler(format="fltp", layout=resampler_layout, rate=RATE)
                start: int | None = None
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        data = out.to_ndarray().astype(np.float32)
                        if start is None:
                            t = float(out.pts * out.time_base) if out.pts is not None else 0.0
                            start = round((float(offset) + max(0.0, t)) * RATE)
                        _place(buffer, data, start)
                        start += data.shape[1]
        except av.error.FFmpegError as exc:
            raise RedactionError(f"{path.name}: cannot decode its sound: {exc}") from None
    return Sound(buffer, layout, True)


def _place(buffer: np.ndarray, data: np.ndarray, start: int) -> None:
    end = min(buffer.shape[1], start + data.shape[1])
    if end > start >= 0:
        buffer[:, start:end] = data[:buffer.shape[0], :end - start]


def silence_range(sound: Sound, from_s: float, to_s: float) -> tuple[float, float]:
    """Zero the samples of ``[from_s, to_s)``, widened to whole AAC frames and one more frame on
    either side, so that no encoder overlap carries sound into the range; return what was
    silenced, in seconds."""
    n = sound.samples.shape[1]
    a = max(0, (math.floor(from_s * RATE) // AAC_FRAME - 1) * AAC_FRAME)
    b = min(n, (math.ceil(to_s * RATE / AAC_FRAME) + 1) * AAC_FRAME)
    sound.samples[:, a:b] = 0.0
    return a / RATE, b / RATE


class Writer:
    """The redacted MP4: frames at their original times, sound interleaved with them."""

    def __init__(self, path: Path, width: int, height: int, fps: float, sound: Sound) -> None:
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
        self._video = self._out.add_stream("libx264", rate=rate)
        self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
        self._video.codec_context.time_base = TIME_BASE
        self._video.options = {"preset": "veryfast", "crf": "20"}
        self._audio = self._out.add_stream("aac", rate=RATE, layout=sound.layout)
        self._sound = sound
        self._sent = 0
        self._last_pts = -1

    def add(self, picture: Picture, image: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        pts = max(self._last_pts + 1, round(picture.time_s / TIME_BASE))
        frame.pts, frame.time_base, self._last_pts = pts, TIME_BASE, pts
        self._out.mux(self._video.encode(frame))
        self._audio_until(round(picture.time_s * RATE) + AAC_FRAME)

    def _audio_until(self, sample: int) -> None:
        samples = self._sound.samples
        while self._sent < min(sample, samples.shape[1]):
            chunk = np.ascontiguousarray(samples[:, self._sent:self._sent + AAC_FRAME])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._sound.layout)
            frame.sample_rate, frame.pts, frame.time_base = RATE, self._sent, Fraction(1, RATE)
            self._out.mux(self._audio.encode(frame))
            self._sent += chunk.shape[1]

    def close(self) -> None:
        self._out.mux(self._video.encode())
        self._audio_until(self._sound.samples.shape[1])
        self._out.mux(self._audio.encode())
        self._out.close()

    def describe(self) -> dict[str, Any]:
        return {"video": "h264 (libx264, crf 20)", "audio": "aac 48 kHz " + self._sound.layout}


def guarded(what: str, call: Callable[[], Any]) -> Any:
    """Run a PyAV call, turning its errors into one line naming ``what``."""
    try:
        return call()
    except av.error.FFmpegError as exc:
        raise RedactionError(f"{what}: {exc}") from None
