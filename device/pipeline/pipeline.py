"""The pipeline's threads: camera -> encoder -> outputs, picamera2's shape.

    camera -> [frame queue] -> encoder thread -> [packet queue] -> recorder thread -> outputs
              (watermark, H.264; the preview)                    (pre-event, storage guard,
                                                                  segmented writer: files)

Commands (``device/pipeline/commands.py``) travel in the same queues as frames, so a record
press lands exactly between the frames captured before it and those after, whatever the
threads' timing. Each queue is bounded: on a real-time clock a full frame queue drops the frame
(and counts it) rather than stall capture; on a simulated clock the camera waits instead, since
waiting costs no simulated time. The recorder thread alone does file I/O and holds no lock while
it does. Threads start in :meth:`Pipeline.start`; all time comes from the injected clock.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from device.config import Config
from device.pipeline.commands import (
    AddMarker,
    CameraBack,
    CameraLost,
    CameraRestarted,
    SetBuffering,
    StartRecording,
    StopRecording,
)
from device.pipeline.encoder import encoder_settings
from device.pipeline.preview import PreviewOutput
from device.pipeline.recorder import Recorder
from device.pipeline.reports import PipelineError, PipelineStats, ReportSink
from device.pipeline.watermark import Watermark
from hal.camera import Camera, Frame
from hal.clock import Clock
from hal.encoder import EncoderFactory, LibavEncoder

log = logging.getLogger(__name__)

__all__ = ["AddMarker", "CameraBack", "CameraLost", "CameraRestarted", "Pipeline",
           "SetBuffering", "StartRecording", "StopRecording"]

_STOP = object()


class Pipeline:
    """Starts, feeds and stops the encoder and recorder threads.

    ``encoder``: the bundle's encoder factory (``Hardware.encoder``); it raises
    :class:`hal.encoder.EncoderError` here when the codec cannot be opened."""

    def __init__(self, config: Config, camera: Camera, clock: Clock,
                 free_bytes: Callable[[], int], emit: ReportSink, frame_queue: int = 8,
                 encoder: EncoderFactory = LibavEncoder) -> None:
        self.config = config
        self.camera = camera
        self.clock = clock
        self.emit = emit
        self.encoder = encoder(encoder_settings(config))
        self.watermark = Watermark(config.device.model, config.device.serial, config.camera.height)
        self.preview = PreviewOutput()
        self.recorder = Recorder(config, self.encoder.request_keyframe, free_bytes, emit, clock)
        self.frames: queue.Queue[Any] = queue.Queue(maxsize=frame_queue)
        self.packets: queue.Queue[Any] = queue.Queue(maxsize=4 * frame_queue)
        self.frames_in = 0
        self.frames_dropped = 0
        self.camera_on = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the encoder and recorder threads (once)."""
        if self._threads:
            return
        # Capture, encode and write threads share the GIL; a 1 ms switch interval (not 5 ms)
        # lets them interleave with x264's own threads. Measured in `make bench`.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.preview.start()
        self._threads = [threading.Thread(target=self._encode_loop, name="encoder", daemon=True),
                         threading.Thread(target=self._record_loop, name="recorder", daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def latest_frame(self) -> Frame | None:
        """The newest watermarked frame (the preview output's), for a viewer."""
        return self.preview.latest

    def stats(self) -> PipelineStats:
        return PipelineStats(self.recorder.buffered_s, self.frames_in, self.frames_dropped)

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
        if self._threads:
            self.frames.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=30)
        self.preview.stop()
        self.encoder.close()

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
                    self.preview.frame(item)
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
                self.emit(PipelineError("encoder", str(exc)))
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
                self.emit(PipelineError("recorder", str(exc)))
            finally:
                self.packets.task_done()
