"""The Pi's microphone: ALSA capture (a USB or I2S microphone) through PyAV's ``alsa`` input.

PyAV is already the project's media library (libav's ALSA demuxer ships in its wheels), so no
other audio library is needed. libav stamps ALSA frames with the wall clock (picamera2's users
got an MP4 of 486,000 hours that way, #1274); this reader ignores those stamps and times each
block by the monotonic clock: the first sample's capture time is when its block arrived minus
the block's length, and later blocks follow on sample by sample, re-anchored only when the
count drifts from the clock by more than :data:`RESYNC_S` (an overrun lost samples), which
the firmware then sees as a gap.

A device that cannot be opened is not a crash: :func:`open_microphone` raises
:class:`MicrophoneUnavailable` naming ``audio.device``, and the bundle gets a
:class:`MissingMicrophone` whose self-test fails, so the daemon boots into fault with that
reason, as for a missing camera.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import av
import numpy as np

from hal.clock import Clock
from hal.microphone import AudioBlock, AudioSink, Microphone

log = logging.getLogger(__name__)

#: Drift between the sample count and the clock beyond which the timeline is re-anchored.
RESYNC_S = 0.05

#: Opens the capture device: (device, rate, channels) -> an iterator of int16 (n, channels)
#: arrays. The default reads ALSA through PyAV; tests give their own.
Opener = Callable[[str, int, int], Iterator[np.ndarray]]


class MicrophoneUnavailable(RuntimeError):
    """The capture device cannot be opened (the message is one line naming the key)."""


def alsa_blocks(device: str, rate: int, channels: int) -> Iterator[np.ndarray]:
    """Blocks of int16 samples from ALSA ``device``, as libav captures them."""
    try:
        container = av.open(device, format="alsa",
                            options={"sample_rate": str(rate), "channels": str(channels)})
    except (OSError, av.error.FFmpegError) as exc:
        raise MicrophoneUnavailable(f"audio.device {device!r} cannot be opened: "
                                    f"{getattr(exc, 'strerror', None) or exc}") from None
    return _frames(container, channels)


def _frames(container: Any, channels: int) -> Iterator[np.ndarray]:
    with container:
        for frame in container.decode(audio=0):
            data = frame.to_ndarray()  # s16 interleaved: (1, n * channels)
            yield np.ascontiguousarray(data.reshape(-1, channels).astype(np.int16))


class AlsaMicrophone(Microphone):
    """Capture on its own thread while started; a read error is a fault, reported once."""

    def __init__(self, clock: Clock, device: str, rate: int, channels: int,
                 opener: Opener = alsa_blocks) -> None:
        super().__init__(rate, channels)
        self.device = device
        self._clock = clock
        self._opener = opener
        self._sink: AudioSink | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, sink: AudioSink) -> None:
        self._sink = sink
        if self._thread is not None and self._thread.is_alive():
            return
        blocks = self._opener(self.device, self.rate, self.channels)  # may raise: a fault
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(blocks,), name="microphone",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._sink = None
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def _run(self, blocks: Iterator[np.ndarray]) -> None:
        timeline = Timeline(self.rate)
        try:
            for samples in blocks:
                if self._stop.is_set():
                    break
                sink = self._sink
                if sink is not None and len(samples):
                    t = timeline.place(len(samples), self._clock.monotonic())
                    sink(AudioBlock(samples, t, self.rate))
        except (OSError, av.error.FFmpegError) as exc:
            if not self._stop.is_set() and self.on_fault is not None:
                self.on_fault(f"microphone {self.device!r} failed: {exc}")
        finally:
            with contextlib.suppress(Exception):
                close = getattr(blocks, "close", None)
                if close is not None:
                    close()


class Timeline:
    """Capture times for blocks of samples, from the clock and the sample count."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._origin: float | None = None
        self._count = 0

    def place(self, samples: int, arrived: float) -> float:
        """The capture time of the first sample of a block of ``samples`` that arrived at
        ``arrived`` (monotonic seconds)."""
        start = arrived - samples / self.rate
        if self._origin is not None:
            expected = self._origin + self._count / self.rate
            if abs(expected - start) <= RESYNC_S:
                self._count += samples
                return expected
        self._origin, self._count = start, samples
        return start


class MissingMicrophone(Microphone):
    """Stands in when the device cannot be opened: the self-test says why, so the daemon boots
    into fault naming ``audio.device`` instead of the service crash-looping."""

    def __init__(self, reason: str, rate: int, channels: int) -> None:
        super().__init__(rate, channels)
        self.reason = reason

    def start(self, sink: AudioSink) -> None:
        if self.on_fault is not None:
            self.on_fault(self.reason)

    def stop(self) -> None:
        pass

    def self_test(self) -> str | None:
        return self.reason


def open_microphone(clock: Clock, device: str, rate: int, channels: int,
                    opener: Opener = alsa_blocks) -> Microphone:
    """The device's microphone, or a :class:`MissingMicrophone` that says why not; the device
    is opened once here to check it (and closed again), then for real at ``start``."""
    try:
        probe = opener(device, rate, channels)
        close = getattr(probe, "close", None)
        if close is not None:
            close()
    except MicrophoneUnavailable as exc:
        log.error("%s", exc)
        return MissingMicrophone(str(exc), rate, channels)
    return AlsaMicrophone(clock, device, rate, channels, opener)
