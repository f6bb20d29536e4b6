"""Putting the two tracks back in capture-time order before the outputs see them.

Frames and sound take different threads (``device/pipeline/pipeline.py``), and the AAC
encoder holds a frame or two of samples, so a video packet reaches the recorder before the
sound captured with it. The interleaver holds each video packet until the sound has caught up
with its capture time (or, should the microphone be silent or gone, for ``hold_s`` at most), so
a segment cut at a keyframe holds all the sound before it and none after, and the pre-event
buffer evicts both tracks together. A command from the daemon (start, marker, camera lost)
releases what is held before it: it lands between the same frames as without sound. A stop
waits (with what follows it) for the sound up to its moment: the audio thread drains its
encoder at the stop and says so (:class:`~device.pipeline.audio.AudioFlushed`), so the last
segment has its last sound too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from device.pipeline.audio import AudioFlushed, AudioPacket, SetMuted
from device.pipeline.commands import StopRecording
from hal.encoder import EncodedPacket

#: How long video waits for the sound of its moment, at most (seconds of capture time).
HOLD_S = 0.5


class Interleaver:
    """Called on the recorder thread only; returns the items to handle now, in order."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        self.hold_s = hold_s
        #: (capture time, item): video packets, and a stop with those after it
        self.held: deque[tuple[float, object]] = deque()
        self.heard = float("-inf")  # capture time the sound has reached
        self.newest = float("-inf")  # the newest video packet's capture time
        self.flushed = float("-inf")  # the latest stop the audio thread has drained for

    def take(self, item: object) -> list[object]:
        if isinstance(item, AudioFlushed):
            self.flushed = max(self.flushed, item.t_mono)
            return self._release(self._due)
        if isinstance(item, AudioPacket | SetMuted):
            out = self._release(  # picture captured before it
                lambda t, x: t <= item.t_mono and not isinstance(x, StopRecording))
            out.append(item)
            if isinstance(item, AudioPacket):
                self.heard = max(self.heard, item.t_end)
            return out + self._release(self._due)
        if isinstance(item, EncodedPacket):
            self.held.append((item.t_mono, item))
            self.newest = max(self.newest, item.t_mono)
            return self._release(self._due)
        if isinstance(item, StopRecording):
            self.held.append((self.newest, item))
            return self._release(self._due)
        if any(isinstance(x, StopRecording) for _, x in self.held):
            self.held.append((self.newest, item))  # it keeps its place after the stop
            return self._release(self._due)
        out = [x for _, x in self.held]  # a command: what came before it goes first
        self.held.clear()
        out.append(item)
        return out

    def _due(self, t: float, item: object) -> bool:
        if isinstance(item, StopRecording):
            return t <= self.flushed or self.newest - t >= self.hold_s
        # after a stop's drain all the sound before the stop is here: so is its picture's
        return t <= max(self.heard, self.flushed) or self.newest - t >= self.hold_s

    def drain(self) -> list[object]:
        """Everything held, in order (the pipeline is closing: no more sound will come)."""
        out = [x for _, x in self.held]
        self.held.clear()
        return out

    def _release(self, due: Callable[[float, object], bool]) -> list[object]:
        out: list[object] = []
        while self.held and due(*self.held[0]):
            out.append(self.held.popleft()[1])
        return out
