"""The pre-event output: like picamera2's ``CircularOutput``, it holds the last seconds of
packets and, on a record press, opens into another output and flushes them into it.

While buffering (``start``) it keeps packets in a :class:`PreEventBuffer`; ``stop`` empties it.
Opened into a target it passes every packet straight through until :meth:`close_target`.
"""

from __future__ import annotations

from device.pipeline.audio import Packet
from device.pipeline.output import Output
from device.pipeline.ringbuffer import PreEventBuffer


class PreEventOutput(Output):
    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.ring = PreEventBuffer(seconds, max_bytes)
        self.buffering = False
        self.target: Output | None = None

    def start(self) -> None:
        self.buffering = True

    def stop(self) -> None:
        self.buffering = False
        self.ring.clear()

    @property
    def duration_s(self) -> float:
        return self.ring.duration_s

    def packet(self, packet: Packet) -> None:
        if self.target is not None:
            self.target.packet(packet)
        elif self.buffering:
            self.ring.append(packet)

    def open_into(self, target: Output, flush: bool) -> int:
        """Pass packets to ``target`` from now on, first what is held when ``flush``
        (the buffer is emptied either way); returns how many packets were flushed."""
        backlog = self.ring.drain() if flush else []
        self.ring.clear()
        self.target = target
        target.start()
        if backlog:
            target.burst(backlog)
        return len(backlog)

    def close_target(self) -> Output | None:
        """Stop passing packets through (buffering goes on if it is on); returns the target."""
        target, self.target = self.target, None
        return target
