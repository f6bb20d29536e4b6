"""The recorder: the recorder thread's end of the packet queue, routing packets and commands to
the outputs. Packets go to the pre-event output, which buffers them or, during a recording,
passes them to the storage guard in front of that recording's segmented output.

One thread drives :meth:`Recorder.handle` (tests may drive it directly, without threads); it
alone does file I/O and holds no lock while it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from device.config import Config
from device.location import LocationSample
from device.pipeline.audio import AudioPacket, AudioSettings, SetMuted
from device.pipeline.commands import (
    AddMarker,
    CameraLost,
    SetBuffering,
    StartRecording,
    StopRecording,
)
from device.pipeline.interleave import Interleaver
from device.pipeline.pre_event import PreEventOutput
from device.pipeline.reports import ReportSink, StorageError
from device.pipeline.segmented import SegmentedOutput
from device.pipeline.storage_guard import StorageGuard
from hal.clock import Clock
from hal.encoder import EncodedPacket


class Recorder:
    def __init__(self, config: Config, request_keyframe: Callable[[], None],
                 free_bytes: Callable[[], int], emit: ReportSink, clock: Clock,
                 audio: AudioSettings | None = None) -> None:
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
        #: the sound's settings (None: picture only) and the two tracks' reordering
        self.audio = audio
        self.interleaver = Interleaver() if audio is not None else None
        #: muted spans [from, from UTC, to or None, to UTC or None] (capture times), which
        #: each segment's manifest lists where they overlap it
        self.mutes: list[list[object]] = []

    @property
    def recording(self) -> bool:
        return self.output is not None

    def handle(self, item: object) -> None:
        self._route(self.interleaver.take(item) if self.interleaver is not None else (item,))

    def drain(self) -> None:
        """The pipeline is closing: what the interleaver holds is handled now."""
        if self.interleaver is not None:
            self._route(self.interleaver.drain())

    def _route(self, items: Iterable[object]) -> None:
        for each in items:
            try:
                self._handle(each)
            except OSError as exc:  # ENOSPC from a full card, EIO from a failing one
                self._write_failed(exc)
            if self.output is not None and self.output.closed:  # storage full ended it
                self._detach()
        self.buffered_s = self.pre_event.duration_s

    def _handle(self, item: object) -> None:
        output = self.output
        if isinstance(item, EncodedPacket | AudioPacket):
            self.pre_event.packet(item)
        elif isinstance(item, SetMuted):
            self._muted(item)
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

    def _muted(self, cmd: SetMuted) -> None:
        mutes = self.mutes
        open_span = bool(mutes) and mutes[-1][2] is None
        if cmd.on and not open_span:
            mutes.append([cmd.t_mono, cmd.utc, None, None])
        elif not cmd.on and open_span:
            mutes[-1][2:] = [cmd.t_mono, cmd.utc]
        else:
            return
        if self.output is not None:
            self.output.mutes_changed()
        else:  # what no recording, nor the pre-event buffer, can reach any more
            horizon = cmd.t_mono - self.config.recording.pre_event_s - 10.0
            self.mutes[:] = [m for m in mutes if m[2] is None or m[2] >= horizon]  # type: ignore[operator]

    def _start(self, cmd: StartRecording) -> None:
        if self.output is not None:
            return
        rec = self.config.recording
        cmd.info.audio = self.audio
        cmd.info.mutes = self.mutes
        if self.audio is not None and not rec.pre_event_audio:
            cmd.info.sound_from = cmd.t_press  # the gate opened at the press
        self.output = SegmentedOutput(cmd.info, rec.segment_s, rec.fsync_interval_s,
                                      cmd.t_press, self.request_keyframe, self.emit,
                                      self.clock.monotonic, self.clock.wall,
                                      (lambda: ilv.newest) if (ilv := self.interleaver) else None)
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
