"""The preview output: the newest watermarked frame, for a viewer (the simulator's preview) to
copy and encode at its own pace on its own thread. Publishing a reference costs the encoder
thread nothing. A frame is final once published; nobody may modify its image.

Frames travel in the sensor's format (I420 on the Pi and in the simulator); only a viewer needs
BGR, so :func:`to_bgr` converts on the viewer's thread, at its rate, scaling the planes down
before converting (a 640-wide view of a 1080p frame converts a ninth of the pixels)."""

from __future__ import annotations

import cv2
import numpy as np

from hal.camera import Frame, PixelFormat, i420_planes


class PreviewOutput:
    """Takes frames, not packets: what a viewer shows is the picture before encoding.

    ``fps`` caps the rate of frames published (None: every frame). A viewer does its scaling
    and JPEG work once per new frame, so lowering the cap lowers the preview's work; the
    encoder's watch does so with a hardware encoder under load (device/pipeline/adapt.py)."""

    def __init__(self) -> None:
        self.latest: Frame | None = None
        self.running = False
        self.fps: float | None = None
        self._next_t = float("-inf")

    def start(self) -> None:
        self.running = True

    def set_rate(self, fps: float | None) -> None:
        """Publish at most ``fps`` frames a second from now on (None: every frame)."""
        self.fps = fps
        self._next_t = float("-inf")

    def frame(self, frame: Frame) -> None:
        if not self.running:
            return
        if self.fps is not None:
            if frame.t_mono + 1e-6 < self._next_t:
                return
            # keep the cadence (15 of 30 a second is every other frame) but build no backlog
            interval = 1 / self.fps
            self._next_t = max(self._next_t, frame.t_mono) + interval
        self.latest = frame

    def stop(self) -> None:
        self.running = False


def to_bgr(frame: Frame, max_width: int | None = None) -> np.ndarray:
    """The frame's picture as a new BGR image, at most ``max_width`` wide (aspect kept)."""
    image, width, height = frame.image, frame.width, frame.height
    scaled = (width, height)
    if max_width is not None and width > max_width:
        scaled = (max_width, max(1, round(height * max_width / width)))
    if frame.format is PixelFormat.BGR:
        if scaled == (width, height):
            return image.copy()
        return cv2.resize(image, scaled, interpolation=cv2.INTER_AREA)
    if scaled == (width, height):
        return cv2.cvtColor(image, cv2.COLOR_YUV2BGR_I420)
    # scale each plane, then convert: I420 wants even sides
    w, h = scaled[0] + scaled[0] % 2, scaled[1] + scaled[1] % 2
    y, u, v = i420_planes(image)
    small = np.empty((h * 3 // 2, w), np.uint8)
    sy, su, sv = i420_planes(small)
    cv2.resize(y, (w, h), dst=sy, interpolation=cv2.INTER_AREA)
    cv2.resize(u, (w // 2, h // 2), dst=su, interpolation=cv2.INTER_AREA)
    cv2.resize(v, (w // 2, h // 2), dst=sv, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_YUV2BGR_I420)
    return bgr if (w, h) == scaled else bgr[:scaled[1], :scaled[0]]
