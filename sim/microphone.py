"""A synthetic microphone: a quiet noise floor, and a tone burst at every flash of the camera.

Blocks are paced by the same clock as the synthetic camera (``sim/camera.py``), one per frame
interval (``fps``; :data:`BLOCK` samples when none is given): block *n* holds the samples from
``round(n * rate / fps)`` and is delivered when it has been "heard", at the same moments as the
camera's frames (so a simulated second stops the clock no more often than the camera does),
its first sample's capture time on that clock. When the camera draws a flash frame (one a second), a
short tone starts at the flash's capture time, so a test measures sync in a file by comparing
the tone's onset with the white frame's timestamp. :meth:`unplug` and :meth:`replug` simulate
a failing microphone; :meth:`speak` puts a louder voice-like tone in (the panel's "speak").
"""

from __future__ import annotations

import numpy as np

from hal.clock import Clock
from hal.microphone import AudioBlock, AudioSink, Microphone
from sim.camera import SimCamera
from sim.devices import Paced

#: Samples per block without a camera to pace by: one AAC frame.
BLOCK = 1024
TONE_HZ = 1000.0
TONE_S = 0.04
TONE_LEVEL = 12000
NOISE_LEVEL = 40  # about -58 dBFS: a quiet room
SPEAK_HZ = 220.0
SPEAK_LEVEL = 6000


class SimMicrophone(Paced[AudioSink], Microphone):
    """Blocks of ``BLOCK`` samples paced by ``clock``, with no drift."""

    def __init__(self, clock: Clock, rate: int, channels: int,
                 camera: SimCamera | None = None, seed: int = 14) -> None:
        super().__init__(rate, channels)
        #: blocks a second: the camera's frame rate, else BLOCK samples a block
        self.blocks_per_s = float(camera.fps) if camera is not None else rate / BLOCK
        self._clock = clock
        self._camera = camera
        self._rng = np.random.default_rng(seed)
        self._init_paced()
        self._t0 = 0.0
        self._n = 0
        self._speak_until = -1.0
        self.plugged = True


    def _begin(self) -> None:
        self._t0 = self._clock.monotonic()
        self._n = 0
        self._schedule()

    def unplug(self) -> None:
        """Capture stops (no blocks), and the firmware is told."""
        self.plugged = False
        if self.on_fault is not None:
            self.on_fault("microphone not responding")

    def replug(self) -> None:
        self.plugged = True
        if self.on_restore is not None:
            self.on_restore()

    def self_test(self) -> str | None:
        return None if self.plugged else "microphone not responding"

    def speak(self, seconds: float) -> None:
        """A voice into the microphone for ``seconds`` from now."""
        self._speak_until = self._clock.monotonic() + seconds

    def render(self, t_first: float, count: int) -> np.ndarray:
        """``count`` samples from capture time ``t_first``: noise, the flashes' tones, speech."""
        t = t_first + np.arange(count) / self.rate
        signal = self._rng.normal(0.0, NOISE_LEVEL, count)
        for flash in tuple(self._camera.flashes) if self._camera is not None else ():
            on = (t >= flash) & (t < flash + TONE_S)
            signal[on] += TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * (t[on] - flash))
        speaking = t < self._speak_until
        signal[speaking] += SPEAK_LEVEL * np.sin(2 * np.pi * SPEAK_HZ * t[speaking])
        pcm = np.clip(signal, -32768, 32767).astype(np.int16)
        return np.repeat(pcm[:, None], self.channels, axis=1)

    def _edge(self, n: int) -> int:
        """The first sample of block ``n``, counted from the start (no drift)."""
        return round(n * self.rate / self.blocks_per_s)

    def _schedule(self) -> None:
        self._n += 1
        self._timer = self._clock.call_at(self._t0 + self._edge(self._n) / self.rate,
                                          self._tick)

    def _tick(self) -> None:
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            start, end = self._edge(self._n - 1), self._edge(self._n)
            self._schedule()
        if not self.plugged:
            return
        first = self._t0 + start / self.rate
        sink(AudioBlock(self.render(first, end - start), first, self.rate))
