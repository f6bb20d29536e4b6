"""A synthetic camera: a moving test pattern with the frame counter and capture time on it.

Every frame whose counter is a multiple of the frame rate is a flash (the picture white but
for its label): the simulated microphone (``sim/microphone.py``) sounds a tone burst at the
same capture time, so a test can measure how far sound and picture are apart in a file.

It renders I420 directly (``hal/camera.py`` ``PixelFormat``), as the Pi's ISP delivers it: the
bars converted once, each frame one copy of the scrolled planes plus the box and the label, and
no conversion anywhere before the encoder. A picture of odd width or height (which I420 cannot
hold) is rendered BGR, as before."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from hal.camera import Camera, Frame, FrameSink, PixelFormat, i420_planes
from hal.clock import Clock
from sim.devices import Paced

# SMPTE-like colour bars, BGR.
_BARS = [(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0),
         (192, 0, 192), (0, 0, 192), (192, 0, 0)]


class SimCamera(Paced[FrameSink], Camera):
    """Frames paced by the clock: frame *n* is due at ``start + n / fps`` (no drift).

    :meth:`unplug` and :meth:`replug` simulate a sensor failure mid-recording.
    """

    def __init__(self, clock: Clock, width: int, height: int, fps: float,
                 pixel_format: PixelFormat = PixelFormat.I420) -> None:
        super().__init__(width, height, fps)
        if width % 2 or height % 2:
            pixel_format = PixelFormat.BGR
        #: what :meth:`render` draws and the frames carry
        self.pixel_format = pixel_format
        self._clock = clock
        self._init_paced()
        self._t0 = 0.0
        self._n = 0
        self._index = 0
        self.plugged = True
        #: Capture times of the latest flash frames, for the simulated microphone.
        self.flashes: deque[float] = deque(maxlen=16)
        self._background = self._bars(width, height)
        if pixel_format is PixelFormat.I420:  # each plane twice side by side: a scroll is a slice
            planes = i420_planes(cv2.cvtColor(self._background, cv2.COLOR_BGR2YUV_I420))
            self._planes = [np.hstack([p, p]) for p in planes]

    @staticmethod
    def _bars(width: int, height: int) -> np.ndarray:
        img = np.zeros((height, width, 3), np.uint8)
        step = max(1, width // len(_BARS))
        for i, colour in enumerate(_BARS):
            img[:, i * step:(i + 1) * step] = colour
        ramp = np.linspace(0, 255, width, dtype=np.uint8)
        img[height * 3 // 4:, :, :] = ramp[None, :, None]
        return img

    def _begin(self) -> None:
        self._t0 = self._clock.monotonic()
        self._n = 0
        self._schedule()

    def unplug(self) -> None:
        """The sensor stops answering: no frames, and the firmware is told."""
        self.plugged = False
        if self.on_fault is not None:
            self.on_fault("camera sensor not responding")

    def replug(self) -> None:
        self.plugged = True
        if self.on_restore is not None:
            self.on_restore()

    def self_test(self) -> str | None:
        return None if self.plugged else "camera sensor not responding"

    def render(self, index: int, t_mono: float) -> np.ndarray:
        """Draw frame ``index`` in :attr:`pixel_format`: bars scrolling sideways, a bouncing
        box, counter and time; a flash frame white but for the label."""
        h, w = self.height, self.width
        shift = (index * 4) % w
        box = max(8, h // 8)
        x = int((index * 7) % max(1, w - box))
        y = int(abs(((index * 5) % (2 * (h - box))) - (h - box)))
        scale = max(0.5, h / 720)
        # "capture t": when the frame was captured, on the device's monotonic clock (uptime),
        # not the wall time the watermark shows below it
        label = f"frame {index:07d}  capture t={t_mono:.3f}s"
        origin = (int(20 * scale), int(h * 0.62))
        thickness = max(1, int(2 * scale))
        if self.pixel_format is PixelFormat.BGR:
            img = np.roll(self._background, shift, axis=1)
            cv2.rectangle(img, (x, y), (x + box, y + box), (255, 255, 255), -1)
            if self.is_flash(index):
                img[:] = 255
            cv2.putText(img, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                        thickness, cv2.LINE_AA)
            return img
        img = np.empty((h * 3 // 2, w), np.uint8)
        planes = i420_planes(img)
        flash = self.is_flash(index)
        # white is Y 235 and neutral chroma in BT.601's limited range, black Y 16
        for plane, doubled, white, div in zip(planes, self._planes, (235, 128, 128), (1, 2, 2),
                                              strict=True):
            pw = w // div
            if flash:
                plane[:] = white
            else:  # np.roll's picture, as one copy out of the doubled planes
                plane[:] = doubled[:, pw - shift // div:2 * pw - shift // div]
                plane[y // div:(y + box) // div + 1, x // div:(x + box) // div + 1] = white
        # black text: on the luma plane alone (its chroma stays the bars', a faint fringe)
        cv2.putText(planes[0], label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 16, thickness,
                    cv2.LINE_AA)
        return img

    def is_flash(self, index: int) -> bool:
        """Frame ``index`` is a flash: one a second (at the configured rate)."""
        return index % max(1, round(self.fps)) == 0

    def _schedule(self) -> None:
        self._n += 1
        self._timer = self._clock.call_at(self._t0 + self._n / self.fps, self._tick)

    def _tick(self) -> None:
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            self._schedule()
        if not self.plugged:
            return
        t = self._clock.monotonic()
        self._index += 1
        if self.is_flash(self._index):
            self.flashes.append(t)
        sink(Frame(self.render(self._index, t), t, self._index, self.pixel_format))
