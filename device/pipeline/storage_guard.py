"""The storage guard: in front of the segmented output, it ends the recording when free space
falls below the reserve. It never deletes anything to make room.

It looks at keyframes only (a fragment's worth of bytes lands per keyframe interval): before a
segment opens, and after a keyframe inside an open segment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from device.pipeline.audio import Packet
from device.pipeline.output import Output
from device.pipeline.reports import ReportSink, StorageFull
from device.pipeline.segmented import SegmentedOutput


class StorageGuard(Output):
    def __init__(self, inner: SegmentedOutput, free_bytes: Callable[[], int], reserve: int,
                 emit: ReportSink) -> None:
        self.inner = inner
        self.free_bytes = free_bytes
        self.reserve = reserve
        self.emit = emit

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def start(self) -> None:
        self.inner.start()

    def packet(self, packet: Packet) -> None:
        self._write(packet, sync=True)

    def burst(self, packets: Sequence[Packet]) -> None:
        self.inner.note_pre_event(packets)
        for packet in packets:
            self._write(packet, sync=False)
        self.inner.flush()

    def stop(self) -> None:
        self.inner.stop()

    def _write(self, packet: Packet, sync: bool) -> None:
        inner = self.inner
        opens = packet.keyframe and (not inner.segment_open or inner.cut_due(packet))
        inner.write(packet, sync, may_open=self._room)
        if packet.keyframe and not opens and not inner.closed:
            self._room(packet)

    def _room(self, packet: Packet) -> bool:
        """Below the reserve: finalise the recording (False); else True."""
        if self.free_bytes() >= self.reserve:
            return True
        self.inner.finish("storage full", packet.wall)
        self.emit(StorageFull())
        return False
