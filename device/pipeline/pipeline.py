"""The pipeline's threads and the small commands the daemon sends down it.

    camera -> [frame queue] -> encoder thread -> [packet queue] -> recorder thread -> files
              (watermark, H.264)                 (pre-event buffer, segment writer, signing)

Commands travel in the same queues as frames, so a record press lands exactly between the frames
captured before it and those after, whatever the threads' timing. Each queue is bounded: on a
real-time clock a full frame queue drops the frame (and counts it) rather than stall capture; on a
simulated clock the camera waits instead, since waiting costs no simulated time. The recorder
thread alone does file I/O and holds no lock while it does.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.config import Config
from device.pipeline.encoder import H264Encoder
from device.pipeline.packets import EncodedPacket, parameter_sets
from device.pipeline.ringbuffer import PreEventBuffer
from device.pipeline.segments import RecordingInfo, SegmentWriter, write_terminator
from device.pipeline.watermark import Watermark
from evidence.fsutil import private_dir
from evidence.manifest import Manifest
from evidence.utc import utc_iso
from hal.camera import Camera, Frame
from hal.clock import Clock

log = logging.getLogger(__name__)

EventSink = Callable[..., None]


@dataclass(frozen=True)
class StartRecording:
    info: RecordingInfo
    with_pre_event: bool
    t_press: float  # when the gesture or trigger asked for it (monotonic)


@dataclass(frozen=True)
class StopRecording:
    wall: float  # when the stop happened, for a recording that ends while the camera is out
    reason: str = "stopped"  # what ended it ("record hold", "battery critical (2 %)", ...)


@dataclass(frozen=True)
class SetBuffering:
    on: bool


@dataclass(frozen=True)
class AddMarker:
    t_mono: float
    utc: str
    note: str


@dataclass(frozen=True)
class CameraRestarted:
    """The sensor (re)started: timestamps continue from the last slot, on a keyframe."""


@dataclass(frozen=True)
class CameraLost:
    """The sensor failed mid-recording: finalise the open segment and note the gap."""

    wall: float
    reason: str


@dataclass(frozen=True)
class CameraBack:
    """The sensor answers again: the recording continues in a new segment, from a keyframe."""


_STOP = object()


class Recorder:
    """Owns the pre-event buffer and the open segment; driven by :meth:`handle` on one thread.

    Tests may drive it directly, without threads.
    """

    def __init__(self, config: Config, encoder: H264Encoder, free_bytes: Callable[[], int],
                 emit: EventSink, now: Callable[[], float] = time.monotonic) -> None:
        rec = config.recording
        self.config = config
        self.encoder = encoder
        self.ring = PreEventBuffer(rec.pre_event_s, int(rec.pre_event_max_mb * 2**20))
        self.buffering = False
        self.free_bytes = free_bytes
        self.emit = emit
        self.reserve = int(config.storage.reserve_mb * 2**20)
        self.info: RecordingInfo | None = None
        self.writer: SegmentWriter | None = None
        self.next_index = 0
        self.prev_sha: str | None = None
        self.segments: list[str] = []
        self.last_closed_was_last = False
        self.extradata = b""  # SPS/PPS of the stream, for a terminator segment
        self.gap: dict[str, object] | None = None  # the camera is out since...
        self.now = now
        self._live_from: float | None = None
        self.buffered_s = 0.0  # published for status readers on other threads

    @property
    def recording(self) -> bool:
        return self.info is not None

    def handle(self, item: EncodedPacket | object) -> None:
        try:
            self._handle(item)
        except OSError as exc:  # ENOSPC from a full card, EIO from a failing one
            self._write_failed(exc)
        self.buffered_s = self.ring.duration_s

    def _handle(self, item: EncodedPacket | object) -> None:
        if isinstance(item, EncodedPacket):
            self._packet(item)
        elif isinstance(item, SetBuffering):
            self.buffering = item.on
            if not item.on:
                self.ring.clear()
        elif isinstance(item, StartRecording):
            self._start(item)
        elif isinstance(item, StopRecording):
            self._finish(reason=item.reason, wall=item.wall)
        elif isinstance(item, AddMarker) and self.info is not None:
            self.info.markers.append((item.t_mono, item.utc, item.note))
            if self.writer is not None:
                # Only for recovery after a power cut: the marker goes into the manifest at
                # close anyway, so a card refusing this small file does not end the recording.
                with contextlib.suppress(OSError):
                    self.writer.write_pending()
        elif isinstance(item, CameraLost):
            self._camera_lost(item)

    def _write_failed(self, exc: OSError) -> None:
        """A write, fsync or rename failed. The open segment is left as far as it got (its
        ``.part`` and pending record), for the daemon to finalise as after a power cut once
        the card takes writes again; the recording ends; the daemon is told (a storage fault,
        which clears when space returns). With a segment left open the recording is not
        reported closed: like one cut by a power loss, recovery closes it (a segment signed but
        not yet renamed may still join it then). With none, it is closed here with the
        segments it has (recovery adds a closing segment if it needs one)."""
        left_open = self.writer is not None
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
        info, self.info = self.info, None
        if info is not None and not left_open:
            self.emit("recording_closed", recording_id=info.recording_id,
                      segments=self.segments, reason=f"storage error ({exc.strerror or exc})")
        self.emit("storage_error", error=str(exc),
                  recording_id=info.recording_id if info is not None else None)

    def _camera_lost(self, cmd: CameraLost) -> None:
        if self.info is None or self.gap is not None:
            return
        if self.writer is not None:
            self._close_segment(last=False, until=cmd.wall)
        self.gap = {"from_utc": utc_iso(cmd.wall), "reason": cmd.reason}

    def _start(self, cmd: StartRecording) -> None:
        if self.info is not None:
            return
        self.info = cmd.info
        self.next_index, self.prev_sha, self.segments = 0, None, []
        self.gap = None
        backlog = self.ring.drain() if cmd.with_pre_event else []
        self.ring.clear()
        self._live_from = cmd.t_press
        if backlog:
            cmd.info.pre_event_s = max(0.0, cmd.t_press - backlog[0].t_mono)
            for packet in backlog:  # a burst: one fsync at its end, not one per fragment
                self._write(packet, sync=False)
            if self.writer is not None:
                self.writer.flush()
        else:
            self.encoder.request_keyframe()

    def _packet(self, packet: EncodedPacket) -> None:
        if self.info is None:
            if self.buffering:
                self.ring.append(packet)
            return
        self._write(packet)

    def _write(self, packet: EncodedPacket, sync: bool = True) -> None:
        assert self.info is not None
        writer = self.writer
        segment_s = self.config.recording.segment_s
        if writer is not None and packet.keyframe and writer.duration_s >= segment_s:
            self._close_segment(last=False, until=packet.wall)
            writer = None
        if writer is None:
            if not packet.keyframe:
                self.encoder.request_keyframe()
                return
            if self._storage_full():
                return
            private_dir(self.info.directory)
            gaps: tuple[dict[str, object], ...] = ()
            if self.gap is not None:  # the camera came back: say what is missing, and why
                gaps = ({**self.gap, "to_utc": utc_iso(packet.wall)},)
                self.gap = None
            self.extradata = parameter_sets(packet.data) or self.extradata
            self.writer = SegmentWriter(self.info, self.next_index, self.prev_sha, packet,
                                        self.config.recording.fsync_interval_s, gaps)
        else:
            writer.write(packet, sync)
        if self._live_from is not None and packet.t_mono >= self._live_from:
            # the first frame captured after the press is in the segment: press-to-record latency
            self._live_from = None
            self.emit("first_live_frame", recording_id=self.info.recording_id,
                      captured=packet.t_mono, written=self.now())
        if writer is None:
            return
        if writer.duration_s >= segment_s - 1 / self.info.fps:
            self.encoder.request_keyframe()
        if packet.keyframe:
            self._storage_full()

    def _storage_full(self) -> bool:
        """Below the reserve: finalise the recording (never delete anything to make room)."""
        if self.free_bytes() >= self.reserve:
            return False
        self._finish(reason="storage full")
        self.emit("storage_full")
        return True

    def _close_segment(self, last: bool, until: float | None = None) -> None:
        assert self.writer is not None and self.info is not None
        manifest, sha = self.writer.close(last=last, until=until)
        self.writer = None
        self._published(manifest, sha, last)

    def _published(self, manifest: Manifest, sha: str, last: bool) -> None:
        self.prev_sha = sha
        self.next_index += 1
        self.segments.append(manifest.file)
        self.emit("segment_closed", recording_id=manifest.recording_id, file=manifest.file,
                  index=manifest.segment_index, frames=manifest.frame_count, last=last,
                  manifest_sha256=sha)

    def _finish(self, reason: str, wall: float | None = None) -> None:
        if self.info is None:
            return
        if self.writer is not None:
            self._close_segment(last=True)
        elif self.segments and self.extradata:
            self._terminate(wall if wall is not None else time.time())
        info, segments = self.info, self.segments
        self.info = None
        self.emit("recording_closed", recording_id=info.recording_id, segments=segments,
                  reason=reason)

    def _terminate(self, wall: float) -> None:
        """Stopped while the camera was out: close the recording with a zero-frame segment."""
        assert self.info is not None
        gap = ({**self.gap, "to_utc": utc_iso(wall)},) if self.gap else ()
        manifest, sha = write_terminator(self.info, self.next_index, self.prev_sha,
                                         self.extradata, wall, gap)
        self.gap = None
        self._published(manifest, sha, last=True)

    def abort(self) -> None:
        """Leave the open segment as a ``.part`` for recovery (used when the process must die)."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


class Pipeline:
    """Starts, feeds and stops the encoder and recorder threads."""

    def __init__(self, config: Config, camera: Camera, clock: Clock,
                 free_bytes: Callable[[], int], emit: EventSink, frame_queue: int = 8) -> None:
        self.config = config
        self.camera = camera
        self.clock = clock
        self.emit = emit
        self.encoder = H264Encoder(config)
        self.watermark = Watermark(config.device.model, config.device.serial, config.camera.height)
        self.recorder = Recorder(config, self.encoder, free_bytes, emit, clock.monotonic)
        self.frames: queue.Queue[Any] = queue.Queue(maxsize=frame_queue)
        self.packets: queue.Queue[Any] = queue.Queue(maxsize=4 * frame_queue)
        # Capture, encode and write threads share the GIL; a 1 ms switch interval (not 5 ms)
        # lets them interleave with x264's own threads. Measured in `make bench`.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.frames_in = 0
        self.frames_dropped = 0
        self.camera_on = False
        #: The newest watermarked frame, for a viewer (the simulator's preview) to copy and
        #: encode at its own pace on its own thread: publishing a reference costs this thread
        #: nothing. The frame is final once published; nobody may modify its image.
        self.latest_frame: Frame | None = None
        self._threads = [threading.Thread(target=self._encode_loop, name="encoder", daemon=True),
                         threading.Thread(target=self._record_loop, name="recorder", daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- control (daemon thread) ---------------------------------------------------------------
    def send(self, command: object) -> None:
        self.frames.put(command)

    def start_camera(self) -> None:
        if not self.camera_on:
            self.send(CameraRestarted())
            self.camera.start(self.on_frame)
            self.camera_on = True

    def stop_camera(self) -> None:
        if self.camera_on:
            self.camera.stop()
            self.camera_on = False

    def sync(self) -> None:
        """Return once everything sent so far has been encoded and written."""
        self.frames.join()
        self.packets.join()

    def close(self) -> None:
        self.stop_camera()
        self.frames.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=30)

    # -- capture (camera thread) ---------------------------------------------------------------
    def on_frame(self, frame: Frame) -> None:
        self.frames_in += 1
        if not self.clock.realtime:
            self.frames.put(frame)
            return
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            self.frames_dropped += 1

    # -- threads -------------------------------------------------------------------------------
    def _encode_loop(self) -> None:
        clock = self.clock
        while True:
            item = self.frames.get()
            try:
                if item is _STOP:
                    self.packets.put(_STOP)
                    return
                if isinstance(item, Frame):
                    wall = clock.wall() - (clock.monotonic() - item.t_mono)
                    self.watermark.apply(item.image, wall, clock.wall_is_set)
                    self.latest_frame = item
                    for packet in self.encoder.encode(item.image, item.t_mono, wall):
                        self.packets.put(packet)
                elif isinstance(item, CameraRestarted):
                    self.encoder.restart_timeline()
                else:
                    if isinstance(item, StartRecording | StopRecording | CameraBack):
                        # A recording (or the pre-event buffer after one) starts on the very
                        # next frame, not at the next scheduled keyframe: no frame is lost.
                        self.encoder.request_keyframe()
                    self.packets.put(item)
            except Exception as exc:  # the thread must outlive one bad frame
                log.exception("encoder")
                self.emit("pipeline_error", stage="encoder", error=str(exc))
            finally:
                self.frames.task_done()

    def _record_loop(self) -> None:
        while True:
            item = self.packets.get()
            try:
                if item is _STOP:
                    return
                self.recorder.handle(item)
            except Exception as exc:
                log.exception("recorder")
                self.emit("pipeline_error", stage="recorder", error=str(exc))
            finally:
                self.packets.task_done()
