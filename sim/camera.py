"""A synthetic camera: a moving test pattern with the frame counter and capture time on it.

Every frame whose counter is a multiple of the frame rate is a flash (the picture white but
for its label): the simulated microphone (``sim/microphone.py``) sounds a tone burst at the
same capture time, so a test can measure how far sound and picture are apart in a file."""

from __future__ import annotations

import threading
from collections import deque

import cv2
import numpy as np

from hal.camera import Camera, Frame, FrameSink
from hal.clock import Clock, Timer

# SMPTE-like colour bars, BGR.
_BARS = [(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0),
         (192, 0, 192), (0, 0, 192), (192, 0, 0)]


class SimCamera(Camera):
    """Frames paced by the clock: frame *n* is due at ``start + n / fps`` (no drift).

    :meth:`unplug` and :meth:`replug` simulate a sensor failure mid-recording.
    """

    def __init__(self, clock: Clock, width: int, height: int, fps: float) -> None:
        super().__init__(width, height, fps)
        self._clock = clock
        self._sink: FrameSink | None = None
        self._timer: Timer | None = None
        self._lock = threading.Lock()
        self._t0 = 0.0
        self._n = 0
        self._index = 0
        self.plugged = True
        #: Capture times of the latest flash frames, for the simulated microphone.
        self.flashes: deque[float] = deque(maxlen=16)
        self._background = self._bars(width, height)

    @staticmethod
    def _bars(width: int, height: int) -> np.ndarray:
        img = np.zeros((height, width, 3), np.uint8)
        step = max(1, width // len(_BARS))
        for i, colour in enumerate(_BARS):
            img[:, i * step:(i + 1) * step] = colour
        ramp = np.linspace(0, 255, width, dtype=np.uint8)
        img[height * 3 // 4:, :, :] = ramp[None, :, None]
        return img

    @property
    def running(self) -> bool:
        return self._sink is not None

    def start(self, sink: FrameSink) -> None:
        with self._lock:
            if self._sink is not None:
                self._sink = sink
                return
            self._sink = sink
            self._t0 = self._clock.monotonic()
            self._n = 0
            self._schedule()

    def stop(self) -> None:
        with self._lock:
            self._sink = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

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
        """Draw frame ``index``: bars scrolling sideways, a bouncing box, counter and time."""
        h, w = self.height, self.width
        img = np.roll(self._background, (index * 4) % w, axis=1)
        box = max(8, h // 8)
        x = int((index * 7) % max(1, w - box))
        y = int(abs(((index * 5) % (2 * (h - box))) - (h - box)))
        cv2.rectangle(img, (x, y), (x + box, y + box), (255, 255, 255), -1)
        if self.is_flash(index):
            img[:] = 255
        scale = max(0.5, h / 720)
        # "capture t": when the frame was captured, on the device's monotonic clock (uptime),
        # not the wall time the watermark shows below it
        label = f"frame {index:07d}  capture t={t_mono:.3f}s"
        cv2.putText(img, label, (int(20 * scale), int(h * 0.62)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 0, 0), max(1, int(2 * scale)), cv2.LINE_AA)
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
        sink(Frame(self.render(self._index, t), t, self._index))
