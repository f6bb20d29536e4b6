"""The pre-event buffer: encoded packets of the last N seconds, whole keyframe intervals at a time.

It holds packets, never raw frames, grouped by keyframe interval (GOP). It evicts the oldest GOP
only while the next one still starts at or before ``newest - seconds``, so it always begins on a
keyframe and covers between ``seconds`` and ``seconds`` plus one GOP. A byte bound evicts further
when the bitrate spikes. One thread owns it (the recorder), so it has no lock.
"""

from __future__ import annotations

from collections import deque

from device.pipeline.audio import Packet


class PreEventBuffer:
    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._gops: deque[list[Packet]] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return sum(len(g) for g in self._gops)

    @property
    def duration_s(self) -> float:
        """Seconds from the first buffered frame to the newest one."""
        if not self._gops:
            return 0.0
        return self._gops[-1][-1].t_mono - self._gops[0][0].t_mono

    def clear(self) -> None:
        self._gops.clear()
        self.bytes = 0

    def append(self, packet: Packet) -> None:
        if packet.keyframe:
            self._gops.append([packet])
        elif self._gops:
            self._gops[-1].append(packet)
        else:
            return  # a stream must start on a keyframe: nothing before the first one is useful
        self.bytes += packet.size
        self._evict(packet.t_mono)

    def _evict(self, newest: float) -> None:
        horizon = newest - self.seconds
        while len(self._gops) > 1 and (self._gops[1][0].t_mono <= horizon
                                       or self.bytes > self.max_bytes):
            self.bytes -= sum(p.size for p in self._gops.popleft())

    def drain(self) -> list[Packet]:
        """Hand over every buffered packet (oldest first) and empty the buffer."""
        packets = [p for gop in self._gops for p in gop]
        self.clear()
        return packets
