"""The camera daemon: one thread owns the state machine; everything else posts events to it.

Hardware callbacks, timers, the pipeline threads and the control socket all call :meth:`post`
(thread-safe). The owning thread takes events one at a time (:meth:`step`) and fires the mode
table's triggers on a queued :class:`transitions.Machine`. A test can drive :meth:`step` itself
instead of starting the thread (openpilot's ``step()`` pattern).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transitions import EventData, Machine

from device.config import Config
from device.evidence.identity import DeviceIdentity, IdentityError, load_or_create_identity
from device.gestures import GESTURES, GestureRecognizer
from device.indicators import IndicatorPolicy
from device.modes import CAMERA_ON, STATES, TRANSITIONS
from device.pipeline.encoder import EncoderError
from device.pipeline.pipeline import (
    AddMarker,
    Pipeline,
    SetBuffering,
    StartRecording,
    StopRecording,
)
from device.pipeline.segments import RecordingInfo
from device.recordings import next_recording_id, recordings_dir
from hal.clock import Timer
from hal.hardware import Hardware
from hal.indicators import LED_OFF

log = logging.getLogger("bodycam")


@dataclass
class Event:
    name: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)
    reply: Future[Any] | None = None


class Daemon:
    """The camera. ``state`` is the current mode (see ``device/modes.py``)."""

    state: str

    def __init__(self, hardware: Hardware, config: Config, data_dir: Path) -> None:
        self.hw = hardware
        self.clock = hardware.clock
        self.config = config
        self.data_dir = data_dir
        self.policy = IndicatorPolicy(config.indicators)
        self.events: queue.Queue[Event] = queue.Queue()
        self.identity: DeviceIdentity | None = None
        self.pipeline: Pipeline | None = None
        self.fault: str | None = None
        self.flags: dict[str, bool] = {"muted": False, "stealth": False}
        self.recording: dict[str, Any] | None = None
        self.last_recording: dict[str, Any] | None = None
        self.history: deque[tuple[float, str]] = deque(maxlen=200)
        self.stopped = threading.Event()
        self._reminder: Timer | None = None
        self._thread: threading.Thread | None = None
        self.gestures = GestureRecognizer(self.clock, config.gestures, self._gesture_seen)
        for name, button in hardware.buttons.items():
            button.when_pressed = lambda n=name: self.gestures.edge(n, True)
            button.when_released = lambda n=name: self.gestures.edge(n, False)
        self.machine = Machine(
            model=self, states=STATES, transitions=TRANSITIONS, initial="off", queued=True,
            send_event=True, auto_transitions=False, ignore_invalid_triggers=True,
            after_state_change="_after_state_change")

    # -- posting (any thread) ------------------------------------------------------------------
    def post(self, name: str, reply: Future[Any] | None = None, **data: Any) -> None:
        self.events.put(Event(name, self.clock.monotonic(), data, reply))

    def request(self, name: str, **data: Any) -> Future[Any]:
        """Post an event whose handler's result (or exception) lands in the returned future."""
        future: Future[Any] = Future()
        self.post(name, reply=future, **data)
        return future

    def _gesture_seen(self, button: str, kind: str, t: float) -> None:
        self.post("gesture", button=button, kind=kind)

    # -- the owning thread ---------------------------------------------------------------------
    def step(self, timeout: float | None = None) -> bool:
        """Handle one event; False when none came within ``timeout``."""
        try:
            event = self.events.get(timeout=timeout) if timeout != 0 else self.events.get_nowait()
        except queue.Empty:
            return False
        try:
            result = self._dispatch(event)
            if event.reply is not None:
                event.reply.set_result(result)
        except Exception as exc:
            log.exception("while handling %s", event.name)
            if event.reply is not None:
                event.reply.set_exception(exc)
        finally:
            self.events.task_done()
        return True

    def run_pending(self) -> None:
        while self.step(0):
            pass

    def start(self) -> None:
        """Run the event loop on a thread of its own until the camera is off."""
        def loop() -> None:
            while not self.stopped.is_set():
                self.step(timeout=0.2)
        self._thread = threading.Thread(target=loop, name="daemon", daemon=True)
        self._thread.start()

    def sync(self) -> None:
        """Return once every event posted so far is handled and the pipeline has caught up.

        Without a thread of its own (a test driving it) the daemon handles them here.
        """
        drain = self.events.join if self._thread is not None else self.run_pending
        drain()
        if self.pipeline is not None:
            self.pipeline.sync()
        drain()

    def _dispatch(self, event: Event) -> Any:
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            return handler(event)
        if event.name in self.machine.events:
            return self.trigger(event.name, t=event.t, **event.data)
        raise ValueError(f"unknown event {event.name!r}")

    def note(self, text: str) -> None:
        self.history.append((self.clock.monotonic(), text))
        log.info(text)

    # -- events that are not mode changes ------------------------------------------------------
    def _on_gesture(self, event: Event) -> bool:
        button, kind = event.data["button"], event.data["kind"]
        action = GESTURES.get((button, kind))
        self.note(f"gesture: {button} {kind} -> {action or 'nothing'}")
        if action is None:
            return False
        return self._dispatch(Event(action, event.t, {"reason": f"{button} {kind}"}))

    def _on_marker(self, event: Event) -> bool:
        if self.state != "recording" or self.pipeline is None:
            return False
        note = str(event.data.get("note", ""))
        self.pipeline.send(AddMarker(event.t, self.clock.utc_iso(), note))
        assert self.recording is not None
        self.recording["markers"] += 1
        self.note(f"marker at {self.clock.utc_iso()}")
        return True

    def _toggle(self, flag: str, event: Event) -> bool:
        self.flags[flag] = not self.flags[flag]
        self.note(f"{flag} {'on' if self.flags[flag] else 'off'} "
                  f"({event.data.get('reason', 'command')})")
        self._show_led()
        return self.flags[flag]

    def _on_toggle_mute(self, event: Event) -> bool:
        return self._toggle("muted", event)

    def _on_toggle_stealth(self, event: Event) -> bool:
        return self._toggle("stealth", event)

    def _on_pipeline(self, event: Event) -> None:
        kind = event.data.pop("kind")
        if kind == "segment_closed":
            self.note(f"segment closed: {event.data['file']} ({event.data['frames']} frames)")
            if self.recording and self.recording["id"] == event.data["recording_id"]:
                self.recording["segments"] += 1
        elif kind == "recording_closed":
            self.last_recording = {"id": event.data["recording_id"],
                                   "segments": event.data["segments"],
                                   "reason": event.data["reason"]}
            self.note(f"recording {event.data['recording_id']} closed: "
                      f"{len(event.data['segments'])} segment(s), {event.data['reason']}")
        elif kind == "storage_full":
            self.trigger("fail", reason="storage full")
        elif kind == "pipeline_error":
            self.trigger("fail", reason=f"{event.data['stage']}: {event.data['error']}")

    def _pipeline_emit(self, kind: str, **data: Any) -> None:
        self.post("pipeline", kind=kind, **data)

    def _on_recording_reminder(self, event: Event) -> None:
        if self.state == "recording":
            self._signal("recording_reminder")
            self._schedule_reminder()

    # -- mode callbacks (run on the owning thread by the machine) ------------------------------
    def _after_state_change(self, event: EventData) -> None:
        reason = event.kwargs.get("reason", event.event.name)
        self._show_led()
        self.note(f"mode: {event.transition.source} -> {self.state} ({reason})")

    def on_enter_booting(self, event: EventData) -> None:
        problem = self._self_test()
        if problem is not None:
            self.fault = problem
            self.trigger("boot_failed", reason=problem)
            return
        self.trigger("boot_ok", reason="self-test passed")

    def _self_test(self) -> str | None:
        try:
            self.identity = load_or_create_identity(
                self.data_dir, self.config.device.model, self.config.device.serial)
        except IdentityError as exc:
            return str(exc)
        for check in (self.hw.camera.self_test, self.hw.storage.self_test):
            problem = check()
            if problem is not None:
                return problem
        if self.pipeline is None:
            try:
                self.pipeline = Pipeline(self.config, self.hw.camera, self.clock,
                                         self.hw.storage.free_bytes, self._pipeline_emit)
            except EncoderError as exc:
                return str(exc)
        return None

    def on_exit_booting(self, event: EventData) -> None:
        if event.transition.dest != "fault":
            self._signal("boot_done")

    def on_enter_buffering(self, event: EventData) -> None:
        assert self.pipeline is not None
        self.pipeline.send(SetBuffering(self.config.recording.pre_event_s > 0))
        self.pipeline.start_camera()

    def on_enter_standby(self, event: EventData) -> None:
        assert self.pipeline is not None
        self.pipeline.send(SetBuffering(False))
        self.pipeline.stop_camera()

    def on_enter_recording(self, event: EventData) -> None:
        assert self.pipeline is not None and self.identity is not None
        reason = event.kwargs.get("reason", "button")
        recording_id = next_recording_id(self.data_dir)
        cam = self.config.camera
        info = RecordingInfo(
            recording_id=recording_id,
            directory=recordings_dir(self.data_dir) / recording_id, reason=reason,
            identity=self.identity, codec=self.config.encoder.codec, width=cam.width,
            height=cam.height, fps=cam.fps, clock_set=self.clock.wall_is_set)
        with_pre_event = event.transition.source == "buffering"
        self.pipeline.send(StartRecording(info, with_pre_event))
        self.pipeline.start_camera()
        self.recording = {"id": recording_id, "reason": reason, "started_utc":
                          self.clock.utc_iso(), "started_mono": self.clock.monotonic(),
                          "segments": 0, "markers": 0, "pre_event": with_pre_event}
        self._signal("recording_started")
        self._schedule_reminder()

    def on_exit_recording(self, event: EventData) -> None:
        assert self.pipeline is not None
        self.pipeline.send(StopRecording())
        self.recording = None
        if self._reminder is not None:
            self._reminder.cancel()
            self._reminder = None
        self._signal("recording_stopped")

    def on_enter_fault(self, event: EventData) -> None:
        self.fault = event.kwargs.get("reason", "fault")
        if self.pipeline is not None:
            self.pipeline.send(SetBuffering(False))
            self.pipeline.stop_camera()

    def on_enter_shutting_down(self, event: EventData) -> None:
        if self.pipeline is not None:
            self.pipeline.stop_camera()
            self.pipeline.sync()  # the recording (if any) is finalised and signed by now
            self.pipeline.close()
            self.pipeline = None
        self.trigger("halted", reason="shutdown complete")

    def on_enter_off(self, event: EventData) -> None:
        self.stopped.set()

    # -- indicators ----------------------------------------------------------------------------
    def _show_led(self) -> None:
        self.hw.led.show(LED_OFF if self.flags["stealth"] else self.policy.led(self.state))

    def _signal(self, event: str) -> None:
        if self.flags["stealth"]:
            return
        tones = self.policy.tones(event)
        if tones:
            self.hw.buzzer.play(tones)
        pulses = self.policy.vibration(event)
        if pulses:
            self.hw.vibration.pulse(pulses)

    def _schedule_reminder(self) -> None:
        self._reminder = self.clock.call_later(self.config.indicators.reminder_interval_s,
                                               lambda: self.post("recording_reminder"))

    # -- status (read from any thread) ---------------------------------------------------------
    def status(self) -> dict[str, Any]:
        pipeline = self.pipeline
        recording = dict(self.recording) if self.recording else None
        if recording is not None:
            recording["seconds"] = round(self.clock.monotonic() - recording.pop("started_mono"),
                                         3)
        return {
            "mode": self.state,
            "camera": "on" if self.state in CAMERA_ON else "off",
            "fault": self.fault,
            "device_id": self.identity.device_id if self.identity else None,
            "flags": dict(self.flags),
            "led": self.hw.led.state.as_dict(),
            "battery_percent": round(self.hw.battery.percent(), 1),
            "storage_free_bytes": self.hw.storage.free_bytes(),
            "buffered_s": round(pipeline.recorder.buffered_s, 3) if pipeline else 0.0,
            "frames_captured": pipeline.frames_in if pipeline else 0,
            "frames_dropped": pipeline.frames_dropped if pipeline else 0,
            "recording": recording,
            "last_recording": self.last_recording,
            "utc": self.clock.utc_iso(),
            "clock_set": self.clock.wall_is_set,
            "data_dir": str(self.data_dir),
        }
