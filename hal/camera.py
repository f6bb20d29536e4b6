"""The image sensor: frames with a monotonic capture timestamp, pushed to one sink.

A backend must override :meth:`Camera.start` and :meth:`Camera.stop`. It calls the sink from its
own thread (or a clock timer) with each :class:`Frame`; the sink never blocks for long (it hands the
frame to a bounded queue), so capture keeps its pace. When the sensor fails the backend calls
``on_fault`` with a one-line reason, and ``on_restore`` when it works again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image (BGR, height x width x 3) and when it was captured."""

    image: np.ndarray
    t_mono: float
    index: int


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
