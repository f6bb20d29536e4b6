"""What every output of the encoder is: picamera2's ``Output``, at the packet level.

    encoder -> PreEventOutput -(record)-> StorageGuard -> SegmentedOutput -> files

An output is started, fed packets, and stopped, all on the recorder thread (which alone does
file I/O). ``burst`` is a run of packets that arrives at once (the pre-event backlog), which an
output may make durable once at its end rather than packet by packet.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from device.pipeline.audio import Packet


class Output(ABC):
    """A sink of encoded packets."""

    def start(self) -> None:  # noqa: B027 - most outputs need nothing to start
        """Begin taking packets."""

    @abstractmethod
    def packet(self, packet: Packet) -> None:
        """Take one packet (in decode order, which is presentation order)."""

    def burst(self, packets: Sequence[Packet]) -> None:
        """Take several packets at once."""
        for packet in packets:
            self.packet(packet)

    def stop(self) -> None:  # noqa: B027
        """Stop taking packets and finish what was written."""
