"""The live preview: the newest watermarked frame as a JPEG, encoded when a viewer asks.

The pipeline only publishes a reference to its newest frame (``Pipeline.latest_frame``); the
scaling and JPEG encoding happen here, on the control thread of whoever asked, at the viewer's
rate, and once per frame however many viewers there are. The encoder thread never waits for it.
"""

from __future__ import annotations

import threading

import cv2

from device.daemon import Daemon
from device.pipeline.preview import to_bgr
from hal.camera import Frame

#: Preview frames are scaled down to at most this width: a view, not evidence.
MAX_WIDTH = 640
QUALITY = 75


def frame_key(frame: Frame) -> str:
    """Names one frame, so a viewer that has it is not sent it again."""
    return f"{frame.index}@{frame.t_mono:.6f}"


def encode_jpeg(frame: Frame, max_width: int = MAX_WIDTH, quality: int = QUALITY) -> bytes:
    image = to_bgr(frame, max_width)  # frames are I420 (the sensor's): the viewer converts
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any BGR image
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


class Preview:
    """The daemon's newest frame, as a JPEG, cached for the frame it was made from."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._lock = threading.Lock()
        self._cached: tuple[str, bytes] | None = None

    def latest(self) -> tuple[str, Frame] | None:
        pipeline = self.daemon.pipeline
        frame = pipeline.latest_frame if pipeline is not None else None
        return None if frame is None else (frame_key(frame), frame)

    def jpeg(self, key: str, frame: Frame) -> bytes:
        with self._lock:
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, encode_jpeg(frame))
            return self._cached[1]
