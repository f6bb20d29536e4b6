"""The segmented output: one recording as a chain of signed segments, with its gaps and its end.

A segment opens on a keyframe and is cut at the first keyframe once it is ``segment_s`` long;
each manifest names the one before (the chain). When the camera is lost the open segment is
finalised and the gap remembered: the next segment (or, if the recording stops first, a
zero-frame terminator) says what is missing and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from device.location import LocationSample
from device.pipeline.adapt import summary
from device.pipeline.audio import AudioPacket, Packet
from device.pipeline.interleave import HOLD_S
from device.pipeline.output import Output
from device.pipeline.reports import (
    EncoderAdapted,
    FirstLiveFrame,
    RecordingClosed,
    ReportSink,
    SegmentClosed,
)
from device.pipeline.segments import RecordingInfo, SegmentWriter, write_terminator
from evidence.fsutil import private_dir
from evidence.manifest import Manifest
from evidence.utc import utc_iso
from hal.encoder import EncodedPacket, parameter_sets


class SegmentedOutput(Output):
    """One recording; ``closed`` once it has ended (stopped, storage full, or a write failed).

    ``t_press``: when the record press happened, for the first-live-frame report."""

    def __init__(self, info: RecordingInfo, segment_s: float, fsync_interval_s: float,
                 t_press: float, request_keyframe: Callable[[], None], emit: ReportSink,
                 now: Callable[[], float], wall: Callable[[], float],
                 newest: Callable[[], float] | None = None) -> None:
        self.info = info
        #: the capture time of the newest frame encoded (the recorder's interleaver holds
        #: frames back for their sound), so the cut's keyframe is asked for in time
        self.newest = newest
        self._asked = False
        self.segment_s = segment_s
        self.fsync_interval_s = fsync_interval_s
        self.request_keyframe = request_keyframe
        self.emit = emit
        self.now = now
        self.wall = wall
        self.writer: SegmentWriter | None = None
        self.next_index = 0
        self.prev_sha: str | None = None
        self.segments: list[str] = []
        self.extradata = b""  # SPS/PPS of the stream, for a terminator segment
        self.gap: dict[str, Any] | None = None  # the camera is out since...
        self.closed = False
        self._live_from: float | None = t_press
        #: every segment's encoder intervals with their lengths, for the recording's summary
        self.encoding: list[dict[str, Any]] = []

    @property
    def segment_open(self) -> bool:
        return self.writer is not None

    # -- packets ---------------------------------------------------------------------------------
    def packet(self, packet: Packet) -> None:
        self.write(packet)

    def burst(self, packets: Sequence[Packet]) -> None:
        """The pre-event backlog: it says how long before the press the recording starts, and
        is made durable with one fsync at its end, not one per fragment."""
        self.note_pre_event(packets)
        for packet in packets:
            self.write(packet, sync=False)
        self.flush()

    def note_pre_event(self, backlog: Sequence[Packet]) -> None:
        """How long before the press the backlog starts (the first segment's manifest says)."""
        if self._live_from is not None and backlog:
            self.info.pre_event_s = max(0.0, self._live_from - backlog[0].t_mono)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def cut_due(self, packet: EncodedPacket) -> bool:
        """Whether ``packet`` starts the next segment (a keyframe once this one is long)."""
        return (self.writer is not None and packet.keyframe
                and self.writer.duration_s >= self.segment_s)

    def write(self, packet: Packet, sync: bool = True,
              may_open: Callable[[EncodedPacket], bool] | None = None) -> None:
        """Mux ``packet``, cutting or opening a segment on a keyframe. ``may_open`` (the
        storage guard) is asked before a segment opens; False leaves none open. Sound goes
        into the open segment (the picture opens and cuts segments; with none open, as while
        the camera is out, the sound has nowhere to go)."""
        if self.closed:
            return
        if isinstance(packet, AudioPacket):
            if self.writer is not None:
                self.writer.write_audio(packet, sync)
            return
        writer = self.writer
        if self.cut_due(packet):
            self._close_segment(last=False, until=packet.wall)
            writer = None
        if writer is None:
            if not packet.keyframe:
                self.request_keyframe()
                return
            if may_open is not None and not may_open(packet):
                return
            self._open(packet)
        else:
            writer.write(packet, sync)
        if self._live_from is not None and packet.t_mono >= self._live_from:
            self._live_from = None
            self.emit(FirstLiveFrame(self.info.recording_id, packet.t_mono, self.now()))
        if packet.keyframe:
            self._asked = False  # a request was answered (or a scheduled key came)
        # held for its sound at most HOLD_S (a pre-event backlog is older, but not held)
        ahead = (min(HOLD_S, max(0.0, self.newest() - packet.t_mono))
                 if self.newest is not None else 0.0)
        if (writer is not None and not self._asked
                and writer.duration_s + ahead >= self.segment_s - 1 / self.info.fps):
            self._asked = self.newest is not None  # asked once: the frames held are not keys
            self.request_keyframe()

    def _open(self, packet: EncodedPacket) -> None:
        private_dir(self.info.directory)
        gaps: tuple[dict[str, Any], ...] = ()
        if self.gap is not None:  # the camera came back: say what is missing, and why
            gaps = ({**self.gap, "to_utc": utc_iso(packet.wall)},)
            self.gap = None
        self.extradata = parameter_sets(packet.data) or self.extradata
        self.writer = SegmentWriter(self.info, self.next_index, self.prev_sha, packet,
                                    self.fsync_interval_s, gaps)
        self._asked = False

    # -- commands --------------------------------------------------------------------------------
    def add_marker(self, t_mono: float, utc: str, note: str) -> None:
        self.info.markers.append((t_mono, utc, note))
        if self.writer is not None:
            # Only for recovery after a power cut: the marker goes into the manifest at close
            # anyway, so a card refusing this small file does not end the recording.
            with contextlib.suppress(OSError):
                self.writer.write_pending()

    def add_location(self, sample: LocationSample) -> None:
        """A look at the receiver: into the open segment's manifest at its close, and into its
        pending record now (for recovery; a card refusing it does not end the recording)."""
        if self.info.track is None:
            return
        self.info.track.append(sample)
        if self.writer is not None:
            with contextlib.suppress(OSError):
                self.writer.write_pending()

    def mutes_changed(self) -> None:
        """A mute began or ended: the pending record says so, for recovery after a power cut
        (a card refusing this small file does not end the recording, as for a marker)."""
        if self.writer is not None:
            with contextlib.suppress(OSError):
                self.writer.write_pending()

    def camera_lost(self, wall: float, reason: str) -> None:
        if self.gap is not None:
            return
        if self.writer is not None:
            self._close_segment(last=False, until=wall)
        self.gap = {"from_utc": utc_iso(wall), "reason": reason}

    def stop(self) -> None:
        self.finish("stopped", self.wall())

    def finish(self, reason: str, wall: float) -> None:
        """End the recording: its open segment is the last, or (stopped while the camera was
        out) a zero-frame terminator at ``wall`` closes it."""
        if self.closed:
            return
        if self.writer is not None:
            self._close_segment(last=True)
        elif self.segments and self.extradata:
            self._terminate(wall)
        self.closed = True
        adapted = summary(self.encoding)
        if adapted is not None:  # once per recording, not once per change
            self.emit(EncoderAdapted(self.info.recording_id, adapted["changes"],
                                     adapted["seconds"]))
        self.emit(RecordingClosed(self.info.recording_id, self.segments, reason))

    def failed(self, exc: OSError) -> None:
        """A write, fsync or rename failed. The open segment is left as far as it got (its
        ``.part`` and pending record), for the daemon to finalise as after a power cut once
        the card takes writes again; the recording ends; the daemon is told (a storage fault,
        which clears when space returns). With a segment left open the recording is not
        reported closed: like one cut by a power loss, recovery closes it (a segment signed but
        not yet renamed may still join it then). With none, it is closed here with the
        segments it has (recovery adds a closing segment if it needs one)."""
        left_open, was_closed = self.writer is not None, self.closed
        self.abort()
        if not was_closed and not left_open:
            self.emit(RecordingClosed(self.info.recording_id, self.segments,
                                      f"storage error ({exc.strerror or exc})"))
        self.closed = True

    def abort(self) -> None:
        """Leave the open segment as a ``.part`` for recovery (used when the process must die).
        The recording takes nothing more: a packet still on its way (frames held for their
        sound, the microphone's last blocks) would open the segment again over its footage."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
        self.closed = True

    # -- the chain -------------------------------------------------------------------------------
    def _close_segment(self, last: bool, until: float | None = None) -> None:
        assert self.writer is not None
        manifest, sha = self.writer.close(last=last, until=until)
        self.writer = None
        intervals = list(manifest.encoding or ())
        for i, entry in enumerate(intervals):
            end = intervals[i + 1]["from_s"] if i + 1 < len(intervals) else manifest.duration_s
            self.encoding.append({**entry, "span_s": end - entry["from_s"]})
        self._published(manifest, sha, last)

    def _published(self, manifest: Manifest, sha: str, last: bool) -> None:
        self.prev_sha = sha
        self.next_index += 1
        self.segments.append(manifest.file)
        self.emit(SegmentClosed(manifest.recording_id, manifest.file, manifest.segment_index,
                                manifest.frame_count, last, sha))

    def _terminate(self, wall: float) -> None:
        gap = ({**self.gap, "to_utc": utc_iso(wall)},) if self.gap else ()
        manifest, sha = write_terminator(self.info, self.next_index, self.prev_sha,
                                         self.extradata, wall, gap)
        self.gap = None
        self._published(manifest, sha, last=True)

