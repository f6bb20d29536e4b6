"""The Pi backend's encoder factory: the Pi 4's hardware encoder, else libx264.

``h264_v4l2m2m`` appears in FFmpeg builds on any Linux, with or without the hardware behind it
(the Pi 5 has none), so being listed in ``av.codecs_available`` is not enough: the candidate must
also open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from fractions import Fraction

import av

from hal.encoder import DEFAULT_CODEC, Encoder, EncoderSettings, LibavEncoder
from hal.pi.errors import PiSetupError

HARDWARE_H264 = "h264_v4l2m2m"
SOFTWARE_H264 = "libx264"
CANDIDATES = (HARDWARE_H264, SOFTWARE_H264)


def encoder_problem(codec: str) -> str | None:
    """None when ``codec`` opens for a small 30 fps stream, else why not (one line)."""
    try:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = 640, 480, "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.bit_rate = 1_000_000
        ctx.open()
    except (av.error.FFmpegError, ValueError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def choose_encoder(available: Collection[str] | None = None,
                   problem: Callable[[str], str | None] = encoder_problem) -> str:
    """The first of :data:`CANDIDATES` that FFmpeg has and that opens."""
    names = av.codecs_available if available is None else available
    reasons = []
    for codec in CANDIDATES:
        why = problem(codec) if codec in names else "not in this FFmpeg build"
        if why is None:
            return codec
        reasons.append(f"{codec}: {why}")
    raise PiSetupError("no H.264 encoder: " + "; ".join(reasons))


class PiEncoderFactory:
    """``Hardware.encoder`` on the Pi: picks the codec (``bodycam run --codec``).

    ``auto`` picks the board's encoder (:func:`choose_encoder`: h264_v4l2m2m on a Pi 4, else
    libx264) unless the configuration names a codec other than the default; any other value is
    used as given, whatever the configuration says. The choice is made once."""

    def __init__(self, codec: str = "auto",
                 choose: Callable[[], str] = choose_encoder) -> None:
        self.codec = codec
        self._choose = choose
        self._chosen: str | None = None

    def resolve(self, configured: str) -> str:
        """The codec this board uses when the configuration names ``configured``."""
        if self.codec != "auto":
            return self.codec
        if configured != DEFAULT_CODEC:
            return configured
        if self._chosen is None:
            self._chosen = self._choose()
        return self._chosen

    def __call__(self, settings: EncoderSettings) -> Encoder:
        codec = self.resolve(settings.codec)
        return LibavEncoder(dataclasses.replace(settings, codec=codec))
