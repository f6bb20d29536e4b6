"""The image sensor: frames with a monotonic capture timestamp, pushed to one sink.

A backend must override :meth:`Camera.start` and :meth:`Camera.stop`. It calls the sink from its
own thread (or a clock timer) with each :class:`Frame`; the sink never blocks for long (it hands the
frame to a bounded queue), so capture keeps its pace. When the sensor fails the backend calls
``on_fault`` with a one-line reason, and ``on_restore`` when it works again.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


class PixelFormat(enum.Enum):
    """How a :class:`Frame`'s pixels are laid out: the sensor's own format where it can.

    ``I420`` (YUV 4:2:0, BT.601 limited range, what H.264 encodes): one ``uint8`` array of
    ``height * 3 // 2`` rows by ``width``: the luma plane's ``height`` rows, then the blue and
    the red chroma planes (each ``height / 2 x width / 2``, packed two rows to a row), the
    layout of OpenCV's ``COLOR_BGR2YUV_I420`` and PyAV's ``yuv420p``; width and height even.
    ``BGR``: ``height x width x 3``, OpenCV's order (a USB camera's, an older backend's)."""

    I420 = "i420"
    BGR = "bgr"

    @staticmethod
    def of(image: np.ndarray) -> PixelFormat:
        """The format an image's shape says (a 2-D array is I420, a 3-D one BGR)."""
        return PixelFormat.I420 if image.ndim == 2 else PixelFormat.BGR

    def size(self, image: np.ndarray) -> tuple[int, int]:
        """(width, height) of the picture ``image`` holds in this format; ValueError, one
        line, when its shape or type cannot be this format."""
        shape = tuple(image.shape)
        if image.dtype != np.uint8:
            raise ValueError(f"a {self.name} frame is uint8, not {image.dtype}")
        if self is PixelFormat.BGR:
            if len(shape) != 3 or shape[2] != 3 or not shape[0] or not shape[1]:
                raise ValueError(f"a BGR frame is height x width x 3, not {shape}")
            return shape[1], shape[0]
        if len(shape) != 2 or shape[0] % 3 or shape[1] % 2 or not shape[0] or \
                (shape[0] * 2 // 3) % 2:
            raise ValueError(f"an I420 frame is (height * 3 / 2) x width with both even, "
                             f"not {shape}")
        return shape[1], shape[0] * 2 // 3


def i420_planes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of an I420 image's Y (h x w), U and V (h/2 x w/2) planes: writing one writes
    the image (which must be C-contiguous, as a frame's is)."""
    width, height = PixelFormat.I420.size(image)
    if not image.flags.c_contiguous:
        raise ValueError("an I420 frame's planes need a contiguous image")
    quarter = height // 4 if height % 4 == 0 else None
    y = image[:height]
    if quarter is not None:
        u = image[height:height + quarter].reshape(height // 2, width // 2)
        v = image[height + quarter:].reshape(height // 2, width // 2)
    else:  # a height of 2 mod 4: the chroma rows straddle the packed rows
        flat = image.reshape(-1)
        plane = (height // 2) * (width // 2)
        u = flat[height * width:height * width + plane].reshape(height // 2, width // 2)
        v = flat[height * width + plane:].reshape(height // 2, width // 2)
    return y, u, v


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image and when it was captured. ``image`` is laid out as ``format``
    says (:class:`PixelFormat`); a frame whose image cannot be that format is refused at
    once (ValueError, one line), not downstream in the encoder."""

    image: np.ndarray
    t_mono: float
    index: int
    format: PixelFormat = PixelFormat.BGR

    def __post_init__(self) -> None:
        if not isinstance(self.format, PixelFormat):
            raise ValueError(f"a frame's format is a PixelFormat, not {self.format!r}")
        if not isinstance(self.image, np.ndarray):
            raise ValueError(f"a frame's image is a numpy array, not {type(self.image).__name__}")
        self.format.size(self.image)

    @property
    def width(self) -> int:
        return self.format.size(self.image)[0]

    @property
    def height(self) -> int:
        return self.format.size(self.image)[1]

    @property
    def luma(self) -> np.ndarray:
        """The picture's brightness, ``height x width`` (a view for I420, computed for BGR)."""
        if self.format is PixelFormat.I420:
            return self.image[:self.height]
        return cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY)


FrameSink = Callable[[Frame], None]


class Camera(ABC):
    """The camera sensor."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.on_fault: Callable[[str], None] | None = None
        self.on_restore: Callable[[], None] | None = None

    @abstractmethod
    def start(self, sink: FrameSink) -> None:
        """Power the sensor and deliver frames to ``sink`` until :meth:`stop`."""

    @abstractmethod
    def stop(self) -> None:
        """Stop delivering frames and idle the sensor; safe to call when stopped."""

    def self_test(self) -> str | None:
        """Return None when the sensor answers, else a one-line reason."""
        return None
