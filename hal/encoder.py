"""The H.264 encoder the firmware is handed: the interface, its packets, and libav's.

Like picamera2's encoders, an :class:`Encoder` turns frames into packets and knows nothing of
files: the firmware's outputs (``device/pipeline/``) do. The firmware builds an
:class:`EncoderSettings` from its configuration and asks the bundle's :data:`EncoderFactory`
(``Hardware.encoder``) for an encoder, so it never names a backend: libav (libx264) by default,
the Pi's hardware encoder on a Pi (``hal/pi/encoder.py``), a fake for behaviour tests
(``sim/encoder.py``).

Packets are Annex B (start codes). Every keyframe carries SPS and PPS, so a segment cut there,
or a recording that starts wherever the pre-event buffer happens to begin, plays on its own.

An encoder can be retuned while it runs (:meth:`Encoder.retune`: a faster x264 preset, a lower
bitrate), for the firmware's real-time watch (``device/pipeline/adapt.py``). The change waits for
the next keyframe (a requested one or the GOP's) and takes effect on it, so every GOP is encoded
with one setting from its IDR on; each packet carries the :class:`Tuning` it was encoded with.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from hal.camera import PixelFormat

_START_CODE = re.compile(b"\x00\x00\x01")
NAL_SPS = 7
NAL_PPS = 8

#: The codec an unconfigured camera uses (``encoder.codec``'s default).
DEFAULT_CODEC = "libx264"


class EncoderError(RuntimeError):
    """The encoder could not be opened or failed mid-stream (the message is one line)."""


@dataclass(frozen=True, slots=True)
class Tuning:
    """The settings a frame was encoded with that may change while the camera runs."""

    codec: str
    preset: str
    crf: int
    bitrate_kbps: int  # 0: constant quality (crf)

    def as_dict(self) -> dict[str, str | int]:
        return {"codec": self.codec, "preset": self.preset, "crf": self.crf,
                "bitrate_kbps": self.bitrate_kbps}

    def label(self) -> str:
        """One line for notes and status: ``libx264 veryfast crf 23``."""
        rate = f"{self.bitrate_kbps} kbit/s" if self.bitrate_kbps else f"crf {self.crf}"
        return f"{self.codec} {self.preset} {rate}" if self.codec == "libx264" else \
            f"{self.codec} {rate}"


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded frame. ``pts`` counts frame slots since the camera started; ``tuning`` is
    what it was encoded with (None from an encoder that does not say)."""

    data: bytes
    pts: int
    keyframe: bool
    t_mono: float
    wall: float
    tuning: Tuning | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class EncoderSettings:
    """What an encoder needs, from the firmware's ``[camera]`` and ``[encoder]`` sections."""

    width: int
    height: int
    fps: int
    codec: str = DEFAULT_CODEC
    preset: str = "veryfast"
    crf: int = 23
    bitrate_kbps: int = 0  # 0: constant quality (crf)
    gop: int = 30  # frames between scheduled keyframes


def nal_units(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (without start codes).

    Emulation prevention guarantees ``00 00 01`` never occurs inside a NAL unit, so splitting on
    it is exact; trailing zero bytes before a 4-byte start code are dropped.
    """
    starts = [m.end() for m in _START_CODE.finditer(data)]
    units = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        unit = data[start:end]
        if i + 1 < len(starts):
            unit = unit.rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS of a keyframe packet, as Annex B: the MP4 muxer's ``extradata``."""
    units = [u for u in nal_units(data) if u[0] & 0x1F in (NAL_SPS, NAL_PPS)]
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


class Encoder(ABC):
    """Encodes frames to Annex B H.264 packets, a packet per frame, no B-frames. A frame's
    image is I420 (the sensor's and the codec's own format: ``(h * 3 / 2) x w``) or BGR
    (``h x w x 3``, converted here): :class:`hal.camera.PixelFormat`, told by its shape.

    The frame-slot clock lives here, shared by every implementation: ``pts`` are evenly spaced
    and strictly increasing, with gaps where frames were lost (so timestamps tell the truth
    about dropped frames)."""

    def __init__(self, settings: EncoderSettings) -> None:
        self.settings = settings
        self.fps = settings.fps
        self.width, self.height = settings.width, settings.height
        self.gop = max(1, settings.gop)
        self.codec_name = settings.codec
        self._force_key = False
        self._last_pts = -1
        self._origin: float | None = None
        #: what the frames are encoded with now, and what waits for the next keyframe
        self.tuning = Tuning(settings.codec, settings.preset, settings.crf, settings.bitrate_kbps)
        self._retune: Tuning | None = None
        self._since_key = 0  # frames since the last keyframe, that keyframe included
        #: what the last frame cost, when the encoder models it (a fake): the real-time watch
        #: then takes this rather than the time it measured; None: measure
        self.cost_s: float | None = None
        #: why the last retune could not be applied (its codec would not open), else None
        self.retune_error: str | None = None

    def retune(self, preset: str | None = None, bitrate_kbps: int | None = None) -> None:
        """Encode with ``preset`` or ``bitrate_kbps`` from the next keyframe on (the last
        request wins; asking for what is in force cancels a waiting change)."""
        base = self._retune or self.tuning
        wanted = dataclasses.replace(
            base, preset=base.preset if preset is None else preset,
            bitrate_kbps=base.bitrate_kbps if bitrate_kbps is None else bitrate_kbps)
        self._retune = None if wanted == self.tuning else wanted

    @property
    def retune_pending(self) -> Tuning | None:
        """The change waiting for the next keyframe, if any."""
        return self._retune

    def keyframe_due(self, forced: bool) -> bool:
        """Whether the next frame is a keyframe: requested, or the GOP's."""
        return forced or self._since_key == 0 or self._since_key >= self.gop

    def take_retune(self, keyframe: bool) -> Tuning | None:
        """The change to apply before encoding the next frame, if it is a keyframe."""
        if not keyframe or self._retune is None:
            return None
        wanted, self._retune = self._retune, None
        self.tuning = wanted
        return wanted

    def counted(self, keyframe: bool) -> None:
        """Count a frame encoded (for the GOP's keyframe schedule)."""
        self._since_key = 1 if keyframe else self._since_key + 1

    def request_keyframe(self) -> None:
        """The next frame is encoded as an IDR (a segment cut or a recording start)."""
        self._force_key = True

    def restart_timeline(self) -> None:
        """The camera restarted: the next frame is slot 0's successor on a fresh origin."""
        self._origin = None
        self._force_key = True

    def slot(self, t_mono: float) -> int:
        """Frame slot of a capture time."""
        if self._origin is None:
            self._origin = t_mono - (self._last_pts + 1) / self.fps
        pts = max(self._last_pts + 1, round((t_mono - self._origin) * self.fps))
        self._last_pts = pts
        return pts

    def take_keyframe_request(self) -> bool:
        """Whether the next frame was asked to be a keyframe (and forget the request)."""
        forced, self._force_key = self._force_key, False
        return forced

    @abstractmethod
    def encode(self, image: np.ndarray, t_mono: float, wall: float) -> list[EncodedPacket]:
        """Encode one frame captured at ``t_mono`` (``wall``: the same moment in UTC)."""

    def close(self) -> None:  # noqa: B027 - most encoders hold nothing to release
        """Release the codec."""


#: Makes an encoder for the given settings; raises :class:`EncoderError` when it cannot.
EncoderFactory = Callable[[EncoderSettings], Encoder]


def with_codec(codec: str) -> EncoderFactory:
    """The libav factory that opens ``codec`` whatever the settings name (``--codec``)."""
    return lambda settings: LibavEncoder(dataclasses.replace(settings, codec=codec))


def codec_for(factory: EncoderFactory, configured: str) -> str:
    """The codec ``factory`` opens when the configuration names ``configured``: a factory
    that chooses for its board (the Pi's) answers through ``resolve`` and may raise its
    backend's one-line error here, before anything is recorded."""
    resolve = getattr(factory, "resolve", None)
    return resolve(configured) if callable(resolve) else configured


class LibavEncoder(Encoder):
    """FFmpeg's encoders through PyAV, at the packet level.

    libx264 runs with ``tune=zerolatency`` (no B-frames, no look-ahead: a packet per frame,
    decode order equals presentation order, and press-to-record latency stays low), keyframes
    only at the GOP or on request (``scenecut=0``), and SPS/PPS repeated on every keyframe.
    Other encoders (``h264_v4l2m2m`` on a Pi 4) get the same GOP and a bitrate.
    """

    def __init__(self, settings: EncoderSettings) -> None:
        super().__init__(settings)
        self._ctx = self._open(self.tuning)

    def _open(self, tuning: Tuning) -> Any:
        settings = self.settings
        codec = tuning.codec
        try:
            ctx = av.CodecContext.create(codec, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise EncoderError(f"encoder.codec {codec!r} is not available: {exc}") from None
        ctx.width, ctx.height = settings.width, settings.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, settings.fps)
        ctx.framerate = Fraction(settings.fps)
        ctx.gop_size = self.gop
        ctx.max_b_frames = 0
        if codec == "libx264":
            options = {"preset": tuning.preset, "tune": "zerolatency", "forced-idr": "1",
                       "x264-params": "repeat-headers=1:scenecut=0"}
            if tuning.bitrate_kbps:
                ctx.bit_rate = tuning.bitrate_kbps * 1000
            else:
                options["crf"] = str(tuning.crf)
            ctx.options = options
        else:
            ctx.bit_rate = (tuning.bitrate_kbps or 4000) * 1000
        try:
            ctx.open()
        except av.error.FFmpegError as exc:
            raise EncoderError(f"encoder.codec {codec!r} failed to open: {exc}") from None
        return ctx

    def _switch(self, tuning: Tuning) -> list[Any] | None:
        """A new codec context for ``tuning``, opened before the old one is let go; None when
        it does not open (the old context goes on, :attr:`retune_error` says why). zerolatency
        holds no frame back, so the old context's flush gives nothing; whatever it gives is
        kept."""
        try:
            fresh = self._open(tuning)
        except EncoderError as exc:
            self.retune_error = str(exc)
            return None
        old, self._ctx = self._ctx, fresh
        try:
            return list(old.encode(None))
        except av.error.FFmpegError:
            return []

    def encode(self, image: np.ndarray, t_mono: float, wall: float) -> list[EncodedPacket]:
        frame = self._codec_frame(image)
        frame.pts = self.slot(t_mono)
        forced = self.take_keyframe_request()
        key = self.keyframe_due(forced)
        out: list[EncodedPacket] = []
        previous = self.tuning
        wanted = self.take_retune(key)
        if wanted is not None:  # a new context: its first frame is an IDR with its SPS/PPS
            flushed = self._switch(wanted)
            if flushed is None:
                self.tuning = previous
            else:
                out.extend(EncodedPacket(bytes(p), int(p.pts), bool(p.is_keyframe), t_mono,
                                         wall, previous) for p in flushed)
                forced = True
        if forced:
            frame.pict_type = av.video.frame.PictureType.I
        try:
            packets = self._ctx.encode(frame)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"encoding failed: {exc}") from None
        # zerolatency emits each frame's packet at once; its pts is the frame's.
        tuning = self.tuning
        for p in packets:
            out.append(EncodedPacket(bytes(p), int(p.pts), bool(p.is_keyframe), t_mono, wall,
                                     tuning))
            self.counted(bool(p.is_keyframe))
        return out

    def _codec_frame(self, image: np.ndarray) -> av.VideoFrame:
        """The codec's frame for ``image``, without a copy: PyAV's frame points at the
        array's memory (which it keeps alive), and the codec copies the picture into its own
        buffers once, as it must. A BGR image is converted to I420 first (OpenCV's BT.601
        limited-range conversion matches swscale's and costs a third less). A picture of
        another size than the codec's is refused (EncoderError, one line), not misread."""
        pixel_format = PixelFormat.of(image)
        try:
            size = pixel_format.size(image)
        except ValueError as exc:
            raise EncoderError(f"encoding failed: {exc}") from None
        if size != (self.width, self.height):
            raise EncoderError(f"encoding failed: a {size[0]}x{size[1]} frame for a "
                               f"{self.width}x{self.height} encoder")
        if pixel_format is PixelFormat.BGR:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        if image.flags.c_contiguous and self.height % 4 == 0:
            return av.VideoFrame.from_numpy_buffer(image, format="yuv420p")
        # PyAV wraps only whole packed rows of chroma: other heights are copied in
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="yuv420p")
