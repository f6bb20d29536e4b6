"""The pipeline's threads: camera -> encoder -> outputs, picamera2's shape.

    camera -> [frame queue] -> encoder thread -> [packet queue] -> recorder thread -> outputs
              (watermark, H.264; the preview)   ^                (pre-event, storage guard,
    microphone -> [audio queue] -> audio thread -+                segmented writer: files)
                  (mute and pre-event gate, AAC; device/pipeline/audio.py)

Commands (``device/pipeline/commands.py``) travel in the same queues as frames, so a record
press lands exactly between the frames captured before it and those after, whatever the
threads' timing; the recorder puts the two tracks' packets back in capture-time order
(``device/pipeline/interleave.py``). Each queue is bounded: on a real-time clock a full frame
(or audio) queue drops the frame (and counts it) rather than stall capture; on a simulated
clock the camera waits instead, since waiting costs no simulated time. The recorder thread
alone does file I/O and holds no lock while it does. Threads start in
:meth:`Pipeline.start`; all time comes from the injected clock.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from device.config import Config
from device.pipeline.adapt import AdaptSettings, EncoderWatch
from device.pipeline.audio import (
    SILENCE_DBFS,
    AacEncoder,
    AudioFlushed,
    AudioSettings,
    Gate,
    SetLive,
    SetMuted,
    level_dbfs,
    split_block,
)
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
from hal.microphone import AudioBlock, Microphone

log = logging.getLogger(__name__)

__all__ = ["AddMarker", "CameraBack", "CameraLost", "CameraRestarted", "Pipeline",
           "SetBuffering", "StartRecording", "StopRecording"]

_STOP = object()
#: The microphone was stopped: no block will complete a stop's sound, drain at once.
_MIC_STOPPED = object()


class Pipeline:
    """Starts, feeds and stops the encoder and recorder threads.

    ``encoder``: the bundle's encoder factory (``Hardware.encoder``); it raises
    :class:`hal.encoder.EncoderError` here when the codec cannot be opened."""

    def __init__(self, config: Config, camera: Camera, clock: Clock,
                 free_bytes: Callable[[], int], emit: ReportSink, frame_queue: int = 8,
                 encoder: EncoderFactory = LibavEncoder,
                 microphone: Microphone | None = None) -> None:
        self.config = config
        self.camera = camera
        self.clock = clock
        self.emit = emit
        self.encoder = encoder(encoder_settings(config))
        #: steps the encoder to faster settings before real time is lost (device/pipeline/adapt.py)
        self.preview = PreviewOutput()
        self.watch = EncoderWatch(self.encoder, AdaptSettings.from_config(config), self.preview)
        self.watermark = Watermark(config.device.model, config.device.serial, config.camera.height)
        audio = config.audio
        #: the sound's settings, or None: no microphone, or ``audio.enabled`` false
        self.audio = (AudioSettings(audio.codec, audio.rate, audio.channels, audio.bitrate_kbps)
                      if audio.enabled and microphone is not None else None)
        self.microphone = microphone if self.audio is not None else None
        self.audio_encoder = AacEncoder(self.audio) if self.audio is not None else None
        self.gate = Gate(config.recording.pre_event_audio)
        self.recorder = Recorder(config, self.encoder.request_keyframe, free_bytes, emit, clock,
                                 self.audio)
        self.blocks: queue.Queue[Any] = queue.Queue(maxsize=4 * frame_queue)
        self.blocks_in = 0
        self.blocks_dropped = 0
        self.microphone_on = False
        self.level_dbfs = SILENCE_DBFS  # published for status readers on other threads
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
        if self.audio_encoder is not None:
            self._threads.append(threading.Thread(target=self._audio_loop, name="audio",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()

    @property
    def latest_frame(self) -> Frame | None:
        """The newest watermarked frame (the preview output's), for a viewer."""
        return self.preview.latest

    def stats(self) -> PipelineStats:
        return PipelineStats(self.recorder.buffered_s, self.frames_in, self.frames_dropped,
                             self.level_dbfs if self.audio is not None else None,
                             self.blocks_in, self.blocks_dropped, self.watch.status())

    # -- control (daemon thread) ---------------------------------------------------------------
    def send(self, command: object) -> None:
        self.frames.put(command)

    def start_camera(self) -> None:
        if not self.camera_on:
            self.send(CameraRestarted())
            self.camera.start(self.on_frame)
            self.camera_on = True
        self.start_microphone()

    def stop_camera(self) -> None:
        if self.camera_on:
            self.camera.stop()
            self.camera_on = False
        self.stop_microphone()

    def start_microphone(self) -> None:
        """The microphone runs while the camera does (the camera starts it)."""
        if self.microphone is not None and not self.microphone_on:
            self.microphone.start(self.on_block)
            self.microphone_on = True

    def stop_microphone(self) -> None:
        if self.microphone is not None and self.microphone_on:
            self.microphone.stop()
            self.microphone_on = False
            if self.audio_encoder is not None:
                self.blocks.put(_MIC_STOPPED)

    def send_audio(self, command: SetMuted | SetLive) -> None:
        """A gate command, in band with the microphone's blocks (nothing without sound)."""
        if self.audio_encoder is not None:
            self.blocks.put(command)

    def sync(self) -> None:
        """Return once everything sent so far has been encoded and written."""
        self.frames.join()
        self.blocks.join()
        self.packets.join()

    def close(self) -> None:
        self.stop_camera()
        if self.audio_encoder is not None and self._threads:
            self.blocks.put(_STOP)  # first: the audio thread feeds the recorder's queue
            self._threads[-1].join(timeout=30)
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

    def on_block(self, block: AudioBlock) -> None:
        """The microphone's thread: like a frame, a full queue on the real clock drops it."""
        self.blocks_in += 1
        if not self.clock.realtime:
            self.blocks.put(block)
            return
        try:
            self.blocks.put_nowait(block)
        except queue.Full:
            self.blocks_dropped += 1

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
                    began = clock.monotonic()
                    wall = clock.wall() - (began - item.t_mono)
                    self.watermark.apply(item.image, wall, clock.wall_is_set, item.format)
                    self.preview.frame(item)
                    for packet in self.encoder.encode(item.image, item.t_mono, wall):
                        self.packets.put(packet)
                    self._watch(item.t_mono, began)
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

    def _watch(self, t_frame: float, began: float) -> None:
        """Tell the real-time watch what this frame cost and what waits behind it. On a
        simulated clock the queue's depth says nothing (the camera waits there) and the cost is
        the encoder's model, or none."""
        encoder = self.encoder
        if self.clock.realtime:
            work = self.clock.monotonic() - began
            depth = self.frames.qsize()
        else:
            work, depth = 0.0, 0
        if encoder.cost_s is not None:
            work = encoder.cost_s
        self.watch.frame(t_frame, work, depth)

    def _audio_loop(self) -> None:
        """Blocks through the gate into AAC. A stop drains the encoder once the sound of its
        moment has been heard: the microphone's block in flight at the stop (a whole block
        after its first sample) is cut at the stop, its first part the recording's last."""
        encoder = self.audio_encoder
        assert encoder is not None
        stop: float | None = None  # a stop whose moment the microphone has not reached yet

        def drained(at: float) -> list[Any]:
            """What the codec still holds, then the mark that the sound up to ``at`` is in."""
            return [*encoder.flush(), AudioFlushed(at)]

        while True:
            item = self.blocks.get()
            try:
                if item is _STOP or item is _MIC_STOPPED:
                    if stop is not None:  # the microphone went first: drain what there is
                        self.packets.put(drained(stop))
                        stop = None
                    if item is _STOP:
                        return
                    continue
                if isinstance(item, AudioBlock):
                    block = self.gate.apply(item)
                    self.level_dbfs = level_dbfs(block)
                    packets: list[Any] = []
                    if stop is not None and block.t_mono + block.duration_s >= stop:
                        before, block = split_block(block, stop)
                        if before is not None:
                            packets += encoder.encode(before)
                        packets += drained(stop)
                        stop = None
                    if block is not None:
                        packets += encoder.encode(block)
                    if packets:  # a block's packets travel together: one hand-over, not many
                        self.packets.put(packets)
                elif isinstance(item, SetMuted):  # the recorder lists it in the manifests
                    at = self.gate.command(item)
                    self.packets.put(SetMuted(item.on, at, item.utc))
                elif isinstance(item, SetLive):
                    if stop is not None:  # a new start before the last stop was heard
                        self.packets.put(drained(stop))
                        stop = None
                    self.gate.command(item)
                    if not item.on and self.gate.heard_until >= item.t_mono:
                        self.packets.put(drained(item.t_mono))
                    elif not item.on:
                        stop = item.t_mono
            except Exception as exc:  # the thread must outlive one bad block
                log.exception("audio")
                self.emit(PipelineError("audio", str(exc)))
            finally:
                self.blocks.task_done()

    def _record_loop(self) -> None:
        while True:
            item = self.packets.get()
            try:
                if item is _STOP:
                    self.recorder.drain()
                    return
                for each in item if isinstance(item, list) else (item,):
                    self.recorder.handle(each)
            except Exception as exc:
                log.exception("recorder")
                self.emit(PipelineError("recorder", str(exc)))
            finally:
                self.packets.task_done()
