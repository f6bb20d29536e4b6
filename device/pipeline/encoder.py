"""H.264 encoding with PyAV at the packet level.

libx264 runs with ``tune=zerolatency`` (no B-frames, no look-ahead: a packet per frame, decode order
equals presentation order, and press-to-record latency stays low), keyframes only at the configured
interval or on request (``scenecut=0``), and SPS/PPS repeated on every keyframe. Other encoders
(``h264_v4l2m2m`` on a Pi 4) get the same GOP and a bitrate.
"""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from device.config import Config
from device.pipeline.packets import EncodedPacket


class EncoderError(RuntimeError):
    """The encoder could not be opened or failed mid-stream."""


class H264Encoder:
    """Encodes BGR frames to Annex B H.264 packets; :meth:`request_keyframe` forces an IDR."""

    def __init__(self, config: Config) -> None:
        cam, enc = config.camera, config.encoder
        self.fps = cam.fps
        self.width, self.height = cam.width, cam.height
        self.gop = max(1, round(enc.keyframe_interval_s * cam.fps))
        self.codec_name = enc.codec
        try:
            ctx = av.CodecContext.create(enc.codec, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise EncoderError(f"encoder.codec {enc.codec!r} is not available: {exc}") from None
        ctx.width, ctx.height = cam.width, cam.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, cam.fps)
        ctx.framerate = Fraction(cam.fps)
        ctx.gop_size = self.gop
        ctx.max_b_frames = 0
        if enc.codec == "libx264":
            options = {"preset": enc.preset, "tune": "zerolatency", "forced-idr": "1",
                       "x264-params": "repeat-headers=1:scenecut=0"}
            if enc.bitrate_kbps:
                ctx.bit_rate = enc.bitrate_kbps * 1000
            else:
                options["crf"] = str(enc.crf)
            ctx.options = options
        else:
            ctx.bit_rate = (enc.bitrate_kbps or 4000) * 1000
        try:
            ctx.open()
        except av.error.FFmpegError as exc:
            raise EncoderError(f"encoder.codec {enc.codec!r} failed to open: {exc}") from None
        self._ctx = ctx
        self._force_key = False
        self._last_pts = -1
        self._origin: float | None = None

    def request_keyframe(self) -> None:
        """The next frame is encoded as an IDR (a segment cut or a recording start)."""
        self._force_key = True

    def restart_timeline(self) -> None:
        """The camera restarted: the next frame is slot 0's successor on a fresh origin."""
        self._origin = None
        self._force_key = True

    def slot(self, t_mono: float) -> int:
        """Frame slot of a capture time: evenly spaced, strictly increasing, gaps where frames
        were lost (so timestamps tell the truth about dropped frames)."""
        if self._origin is None:
            self._origin = t_mono - (self._last_pts + 1) / self.fps
        pts = max(self._last_pts + 1, round((t_mono - self._origin) * self.fps))
        self._last_pts = pts
        return pts

    def encode(self, image: np.ndarray, t_mono: float, wall: float) -> list[EncodedPacket]:
        # OpenCV's BT.601 limited-range conversion matches swscale's and costs a third less.
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420),
                                           format="yuv420p")
        frame.pts = self.slot(t_mono)
        if self._force_key:
            frame.pict_type = av.video.frame.PictureType.I
            self._force_key = False
        try:
            packets = self._ctx.encode(frame)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"encoding failed: {exc}") from None
        # zerolatency emits each frame's packet at once; its pts is the frame's.
        return [EncodedPacket(bytes(p), int(p.pts), bool(p.is_keyframe), t_mono, wall)
                for p in packets]
