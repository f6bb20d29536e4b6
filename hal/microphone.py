"""The microphone: PCM blocks with the monotonic capture time of their first sample, to one sink.

Like :class:`hal.camera.Camera`, a backend overrides :meth:`Microphone.start` and
:meth:`Microphone.stop` and calls the sink from its own thread (or a clock timer) with each
:class:`AudioBlock`; the sink never blocks for long. The capture time comes from the same
monotonic clock as the camera's frames, never from the wall clock, so the firmware can place
sound and picture on one timeline. When capture fails the backend calls ``on_fault`` with a
one-line reason, and ``on_restore`` when it works again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """Interleaved signed 16-bit PCM, shape (samples, channels), and when its first sample was
    captured (monotonic seconds)."""

    samples: np.ndarray
    t_mono: float
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate


AudioSink = Callable[[AudioBlock], None]


class Microphone(ABC):
    """The microphone (or the sound card behind it)."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self.on_fault: Callable[[str], None] | None = None
        self.on_restore: Callable[[], None] | None = None

    @abstractmethod
    def start(self, sink: AudioSink) -> None:
        """Start capture and deliver blocks to ``sink`` until :meth:`stop`."""

    @abstractmethod
    def stop(self) -> None:
        """Stop delivering blocks; safe to call when stopped."""

    def self_test(self) -> str | None:
        """Return None when the microphone answers, else a one-line reason."""
        return None
