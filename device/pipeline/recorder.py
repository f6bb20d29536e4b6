"""The recorder: the recorder thread's end of the packet queue, routing packets and commands to
the outputs. Packets go to the pre-event output, which buffers them or, during a recording,
passes them to the storage guard in front of that recording's segmented output.

One thread drives :meth:`Recorder.handle` (tests may drive it directly, without threads); it
alone does file I/O and holds no lock while it does.
"""

from __future__ import annotations

from collections.abc import Callable

from device.config import Config
from device.location import LocationSample
from device.pipeline.commands import (
    AddMarker,
    CameraLost,
    SetBuffering,
    StartRecording,
    StopRecording,
)
from device.pipeline.pre_event import PreEventOutput
from device.pipeline.reports import ReportSink, StorageError
from device.pipeline.segmented import SegmentedOutput
from device.pipeline.storage_guard import StorageGuard
from hal.clock import Clock
from hal.encoder import EncodedPacket


class Recorder:
    def __init__(self, config: Config, request_keyframe: Callable[[], None],
                 free_bytes: Callable[[], int], emit: ReportSink, clock: Clock) -> None:
        rec = config.recording
        self.config = config
        self.request_keyframe = request_keyframe
        self.free_bytes = free_bytes
        self.emit = emit
        self.clock = clock
        self.reserve = int(config.storage.reserve_mb * 2**20)
        self.pre_event = PreEventOutput(rec.pre_event_s, int(rec.pre_event_max_mb * 2**20))
        self.output: SegmentedOutput | None = None  # the recording, while there is one
        self.buffered_s = 0.0  # published for status readers on other threads

    @property
    def recording(self) -> bool:
        return self.output is not None

    def handle(self, item: object) -> None:
        try:
            self._handle(item)
        except OSError as exc:  # ENOSPC from a full card, EIO from a failing one
            self._write_failed(exc)
        if self.output is not None and self.output.closed:  # storage full ended it
            self._detach()
        self.buffered_s = self.pre_event.duration_s

    def _handle(self, item: object) -> None:
        output = self.output
        if isinstance(item, EncodedPacket):
            self.pre_event.packet(item)
        elif isinstance(item, SetBuffering) and item.on:
            self.pre_event.start()
        elif isinstance(item, SetBuffering):
            self.pre_event.stop()
        elif isinstance(item, StartRecording):
            self._start(item)
        elif isinstance(item, StopRecording) and output is not None:
            output.finish(item.reason, item.wall)  # then detached, in handle
        elif isinstance(item, AddMarker) and output is not None:
            output.add_marker(item.t_mono, item.utc, item.note)
        elif isinstance(item, LocationSample) and output is not None:
            output.add_location(item)
        elif isinstance(item, CameraLost) and output is not None:
            output.camera_lost(item.wall, item.reason)

    def _start(self, cmd: StartRecording) -> None:
        if self.output is not None:
            return
        rec = self.config.recording
        self.output = SegmentedOutput(cmd.info, rec.segment_s, rec.fsync_interval_s,
                                      cmd.t_press, self.request_keyframe, self.emit,
                                      self.clock.monotonic, self.clock.wall)
        guard = StorageGuard(self.output, self.free_bytes, self.reserve, self.emit)
        if not self.pre_event.open_into(guard, flush=cmd.with_pre_event):
            self.request_keyframe()

    def _detach(self) -> None:
        self.pre_event.close_target()
        self.output = None

    def _write_failed(self, exc: OSError) -> None:
        output = self.output
        if output is not None:
            self._detach()
            output.failed(exc)
        self.emit(StorageError(str(exc), output.info.recording_id if output else None))

    def abort(self) -> None:
        """Leave the open segment as a ``.part`` for recovery (used when the process must die)."""
        if self.output is not None:
            self.output.abort()
