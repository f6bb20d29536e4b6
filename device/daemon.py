"""The camera daemon: one thread owns the state machine; everything else posts events to it.

Hardware callbacks, timers, the pipeline threads and the control socket all call :meth:`post`
(thread-safe). The owning thread takes events one at a time (:meth:`step`) and hands each to
its handler in one table (:meth:`Daemon._handlers`); the mode table's rows (``device/modes.py``),
mode changes and actions alike, fire on a queued :class:`transitions.Machine`. A test can drive
:meth:`step` itself instead of starting the thread (openpilot's ``step()`` pattern).

Every gesture, mode change, flag change, marker, trigger, dock, power and fault is written to the
audit log (``device/audit.py``) with its reason.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transitions import EventData, Machine

from device.assignment import describe as describe_assignment
from device.audit import AUDIT_LOG, AuditLog
from device.bus import EventBus
from device.config import Config
from device.docking import Docking
from device.gestures import GestureRecognizer, action_for
from device.indicators import REPEATING, IndicatorPolicy
from device.location import Tracker
from device.modes import CAMERA_ON, STATES, TRANSITIONS
from device.pipeline.audio import SetLive, SetMuted
from device.pipeline.pipeline import (
    AddMarker,
    CameraBack,
    CameraLost,
    Pipeline,
    SetBuffering,
    StartRecording,
    StopRecording,
)
from device.pipeline.recovery import find_interrupted, find_unfinished, recover_all
from device.pipeline.reports import (
    EncoderAdapted,
    FirstLiveFrame,
    PipelineError,
    RecordingClosed,
    Report,
    SegmentClosed,
    StorageError,
    StorageFull,
)
from device.pipeline.segments import RecordingInfo
from device.recordings import next_recording_id, recordings_dir
from device.status import ENCRYPTION_OFF, ClosedRecording, Recording, RecordingStatus, Status
from device.upload.settings import load_saved
from device.upload.uploader import Uploader
from evidence.crypt import (
    CryptError,
    force_key_fingerprint,
    force_key_from_der,
    load_force_public_key,
)
from evidence.fsutil import private_dir
from evidence.identity import DeviceIdentity, IdentityError, load_or_create_identity
from evidence.utc import utc_iso
from hal.clock import Timer
from hal.encoder import EncoderError
from hal.hardware import Hardware
from hal.indicators import LedState

log = logging.getLogger("bodycam")

#: Flags hold across modes. ``dock_pending``: docked mid-recording, docks when it stops.
FLAGS = ("stealth", "muted", "low_battery", "storage_low", "clock_not_set", "dock_pending",
         "stop_pending", "camera_fault")

#: Faults the camera can watch clear by itself; others need a power cycle.
SELF_CLEARING = ("camera", "storage")


@dataclass
class Event:
    name: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)
    reply: Future[Any] | None = None


class UnknownEvent(ValueError):
    """An event no handler takes; the message names it and those there are."""


Handler = Callable[[Event], Any]


class Daemon:
    """The camera. ``state`` is the current mode (see ``device/modes.py``)."""

    state: str
    # the machine adds these: whether a trigger would do anything now, and firing one
    may_trigger: Callable[..., bool]
    trigger: Callable[..., bool]

    def __init__(self, hardware: Hardware, config: Config, data_dir: Path) -> None:
        private_dir(data_dir)  # evidence, keys and the audit log: the owner's only (0700)
        self.file_config = config  # settings from the store (device/upload/settings.py) go over it
        config, settings_problem = load_saved(config, data_dir)
        if settings_problem:
            log.warning(settings_problem)
        self.hw = hardware
        self.clock = hardware.clock
        self.config = config
        self.data_dir = data_dir
        self.policy = IndicatorPolicy(config.indicators)
        self.events: queue.Queue[Event] = queue.Queue()
        self.identity: DeviceIdentity | None = None
        self.audit: AuditLog | None = None
        self.pipeline: Pipeline | None = None
        self.fault: str | None = None
        self.fault_kind: str | None = None
        self.flags: dict[str, bool] = dict.fromkeys(FLAGS, False)
        self.recording: Recording | None = None
        self.last_recording: ClosedRecording | None = None
        self.recovered: list[dict[str, Any]] = []
        self.force_key: Any = None  # the force's RSA public key, when encryption is on
        self.history: deque[tuple[float, str]] = deque(maxlen=200)
        #: What the camera did, for the serial console and other listeners (device/bus.py).
        self.bus = EventBus(self.clock.monotonic)
        self.powered_off = threading.Event()
        self.exit_requested = threading.Event()
        self._exit_when_off = False
        self._repeaters: dict[str, Timer] = {}
        self._timers: dict[str, Timer] = {}
        self._thread: threading.Thread | None = None
        self.gestures = GestureRecognizer(self.clock, config.gestures, self._gesture_seen)
        self.docking = Docking(
            clock=self.clock, data_dir=data_dir, file_config=self.file_config,
            config=lambda: self.config, mode=lambda: self.state, audit=self._audit,
            audit_open=lambda: self.audit is not None, note=self.note,
            set_flag=self._set_flag, use_config=self._use_config)
        self.tracker = Tracker(hardware.location, self.clock, lambda: self.config.location,
                               self._audit, self.post, self.note)
        self.handlers = self._handlers()  # before the inputs below post anything
        for name, button in hardware.buttons.items():
            button.when_pressed = lambda n=name: self.gestures.edge(n, True)
            button.when_released = lambda n=name: self.gestures.edge(n, False)
            button.when_edge = lambda pressed, t, n=name: self.gestures.edge(n, pressed, t)
        hardware.dock.when_changed = lambda docked: self.post("dock" if docked else "undock",
                                                              reason="dock sensor")
        hardware.triggers.when_triggered = lambda name: self.post("trigger", name=name)
        hardware.triggers.when_triggered_at = self._triggered
        hardware.camera.on_fault = lambda why: self.post("camera_fault", reason=why)
        hardware.camera.on_restore = lambda: self.post("camera_restored", reason="camera back")
        if hardware.microphone is not None:
            hardware.microphone.on_fault = lambda why: self.post("microphone_fault", reason=why)
            hardware.microphone.on_restore = lambda: self.post("microphone_restored")
        self.uploader = Uploader(config.upload, data_dir, self.clock, self.request)
        self.machine = Machine(
            model=self, states=STATES, transitions=TRANSITIONS, initial="off", queued=True,
            send_event=True, auto_transitions=False, ignore_invalid_triggers=True,
            after_state_change="_after_state_change")
        self.powered_off.set()

    def _handlers(self) -> dict[str, Handler]:
        """Every event the daemon takes, and what handles it."""
        handlers: dict[str, Handler] = {
            # inputs
            "gesture": self._on_gesture,
            "trigger": self._on_trigger,
            "dock": self._on_dock,
            "undock": self._on_undock,
            "shutdown": self._on_shutdown,
            "camera_fault": self._on_camera_fault,
            "camera_restored": self._on_camera_restored,
            "microphone_fault": lambda e: self._microphone(e, True),
            "microphone_restored": lambda e: self._microphone(e, False),
            # timers
            "poll": self._on_poll,
            "checkpoint": self._on_checkpoint,
            "repeat": self._on_repeat,
            "halt": self._on_halt,
            "locate": self._on_locate,
            # the pipeline's reports
            "pipeline": self._on_pipeline,
            # the uploader's requests (device/docking.py)
            "upload_audit": lambda e: self.docking.upload_audit(**e.data),
            "store_time": lambda e: self.docking.store_time(**e.data),
            "store_settings": lambda e: self.docking.store_settings(**e.data),
            "store_assignment": lambda e: self.docking.store_assignment(**e.data),
            "assignment_refused": lambda e: self.docking.refuse_assignment(**e.data),
        }
        # every other trigger of the mode table, mode change or action: done where it allows
        for row in TRANSITIONS:
            handlers.setdefault(str(row["trigger"]), self._act)
        return handlers

    # -- posting (any thread) ------------------------------------------------------------------
    def post(self, name: str, /, reply: Future[Any] | None = None, **data: Any) -> None:
        """Queue event ``name``; raises :class:`UnknownEvent` at once if no handler takes it."""
        self._handler(name)
        self.events.put(Event(name, self.clock.monotonic(), data, reply))

    def _handler(self, name: str) -> Handler:
        handler = self.handlers.get(name)
        if handler is None:
            raise UnknownEvent(f"unknown event {name!r} (expected one of: "
                               f"{', '.join(sorted(self.handlers))})")
        return handler

    def request(self, name: str, /, **data: Any) -> Future[Any]:
        """Post an event whose handler's result (or exception) lands in the returned future."""
        future: Future[Any] = Future()
        self.post(name, reply=future, **data)
        return future

    def post_at(self, name: str, t: float | None, /, **data: Any) -> None:
        """Queue event ``name`` stamped with when it happened (an edge's or trigger's stamp,
        never later than now), not when it was posted: a recording started by it counts
        from that moment however late this thread or the daemon's runs."""
        self._handler(name)
        now = self.clock.monotonic()
        at = now if t is None or t != t else min(float(t), now)
        self.events.put(Event(name, at, data, None))

    def _gesture_seen(self, button: str, kind: str, t: float) -> None:
        self.post_at("gesture", t, button=button, kind=kind)

    def _triggered(self, name: str, t: float | None) -> None:
        self.post_at("trigger", t, name=name)

    # -- the owning thread ---------------------------------------------------------------------
    def step(self, timeout: float | None = None) -> bool:
        """Handle one event; False when none came within ``timeout``."""
        try:
            event = self.events.get(timeout=timeout) if timeout != 0 else self.events.get_nowait()
        except queue.Empty:
            return False
        try:
            result = self._handler(event.name)(event)
            if event.reply is not None:
                event.reply.set_result(result)
        except UnknownEvent as exc:  # put on the queue without post(): said in one line
            log.error("%s", exc)
            if event.reply is not None:
                event.reply.set_exception(exc)
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
        """Run the event loop on a thread of its own until an exit is requested."""
        def loop() -> None:
            while not self.exit_requested.is_set() or not self.events.empty():
                self.step(timeout=0.2)
        self._thread = threading.Thread(target=loop, name="daemon", daemon=True)
        self._thread.start()
        self.uploader.start()

    def sync(self) -> None:
        """Return once every event posted so far is handled and the pipeline has caught up.

        Without a thread of its own (a test driving it) the daemon handles them here.
        """
        drain = self.events.join if self._thread is not None else self.run_pending
        drain()
        if self.pipeline is not None:
            self.pipeline.sync()
        drain()

    def _act(self, event: Event) -> bool:
        """A trigger of the mode table: fired when a row allows it now, else nothing (False)."""
        if not self.may_trigger(event.name, t=event.t, **event.data):
            return False
        self.trigger(event.name, t=event.t, **event.data)
        return True

    def note(self, text: str) -> None:
        self.history.append((self.clock.monotonic(), text))
        log.info(text)
        self.bus.publish("note", {"text": text})

    def _audit(self, event: str, reason: str = "", /, **data: Any) -> None:
        """The entry waits in the log's memory when the card refuses it (written, in order,
        once space returns); the camera carries on."""
        if self.audit is not None:
            failing = self.audit.error is not None
            try:
                self.audit.append(event, reason, **data)
            except OSError as exc:
                if not failing:
                    self.note(f"audit log not written, kept to write later: {exc}")
        self.bus.publish(event, {"reason": reason, **data})

    # -- inputs --------------------------------------------------------------------------------
    def _on_gesture(self, event: Event) -> bool:
        button, kind = event.data["button"], event.data["kind"]
        action = action_for(self.config.gestures, button, kind, self.flags["stop_pending"])
        accepted = action is not None and self.may_trigger(action)
        self._audit("gesture", f"{button} {kind}", button=button, gesture=kind, action=action,
                    accepted=accepted, mode=self.state)
        self.note(f"gesture: {button} {kind} -> {action if accepted else 'nothing'}")
        if not accepted or action is None:
            return False
        return self._act(Event(action, event.t, {"reason": f"{button} {kind}"}))

    def _on_trigger(self, event: Event) -> bool:
        name = event.data["name"]
        start = self.may_start_recording()
        self._audit("trigger", f"auto-activation: {name}", name=name, mode=self.state,
                    action="start recording" if start else "none")
        self.note(f"trigger {name}: {'start recording' if start else 'no action'}")
        if start:
            return bool(self.trigger("start_recording", t=event.t, reason=f"trigger:{name}"))
        return False

    def _on_dock(self, event: Event) -> bool:
        reason = event.data.get("reason", "dock")
        self._audit("dock", reason, mode=self.state)
        return self._act(Event("dock", event.t, {"reason": reason}))

    def dock_when_stopped(self, event: EventData) -> None:
        self._set_flag("dock_pending", True, "docked while recording: docks when it stops")

    def _on_undock(self, event: Event) -> bool:
        reason = event.data.get("reason", "undock")
        self._audit("undock", reason, mode=self.state)
        self._set_flag("dock_pending", False, reason)
        return self._act(Event("undock", event.t, {"reason": reason}))

    def _on_shutdown(self, event: Event) -> bool:
        """Power off (finalising any recording) and then let the process exit."""
        self._exit_when_off = True
        if self.state == "off":
            self.exit_requested.set()
            return True
        return bool(self.trigger("power_off", reason=event.data.get("reason", "shutdown")))

    # -- conditions of the mode table's rows ---------------------------------------------------
    def dock_present(self, event: EventData | None = None) -> bool:
        return bool(self.hw.dock.is_docked)

    def recording_open(self, event: EventData | None = None) -> bool:
        return self.recording is not None and self.pipeline is not None

    def stop_pending(self, event: EventData | None = None) -> bool:
        return self.flags["stop_pending"]

    # -- the actions (rows of the mode table that keep the mode) -------------------------------
    def powering_on(self, event: EventData) -> None:
        self.powered_off.clear()

    def place_marker(self, event: EventData) -> None:
        assert self.pipeline is not None and self.recording is not None  # recording_open
        note = str(event.kwargs.get("note", ""))
        utc = utc_iso(self.clock.wall())
        self.pipeline.send(AddMarker(event.kwargs.get("t", self.clock.monotonic()), utc, note))
        self.recording.markers += 1
        self._audit("marker", event.kwargs.get("reason", "command"),
                    recording_id=self.recording.id, marker_utc=utc, note=note)
        self.note(f"marker at {utc}")

    def _set_flag(self, flag: str, value: bool, reason: str) -> None:
        if self.flags[flag] == value:
            return
        self.flags[flag] = value
        self._audit("flag", reason, flag=flag, value=value, mode=self.state)
        self.note(f"{flag} {'on' if value else 'off'} ({reason})")
        self._refresh_indicators()

    def _toggle(self, flag: str, event: EventData) -> None:
        self._set_flag(flag, not self.flags[flag], event.kwargs.get("reason", "command"))

    def toggle_muted(self, event: EventData) -> None:
        """Mute is digital silence from this moment (``device/pipeline/audio.py``), listed in
        each manifest; with ``audio.mute_allowed`` false the hold is refused, and audited."""
        reason = event.kwargs.get("reason", "command")
        if not self.config.audio.mute_allowed:
            self._audit("mute_refused", f"{reason}: audio.mute_allowed is false",
                        mode=self.state)
            self.note("mute refused (audio.mute_allowed is false)")
            return
        self._toggle("muted", event)
        self._send_mute()

    def _send_mute(self) -> None:
        """The gate hears the muted flag at the moment it changed (the audit entry's)."""
        if self.pipeline is not None:
            self.pipeline.send_audio(SetMuted(self.flags["muted"], self.clock.monotonic(),
                                              utc_iso(self.clock.wall())))

    def toggle_stealthy(self, event: EventData) -> None:
        self._toggle("stealth", event)

    def sleep_or_wake(self, event: EventData) -> None:
        reason = event.kwargs.get("reason", "command")
        self.trigger("sleep" if self.state == "buffering" else "wake", reason=reason)

    def ask_to_confirm(self, event: EventData) -> None:
        self._set_flag("stop_pending", True, "stop requested: press record to confirm")
        self._signal("confirm_stop")
        self._cancel_timer("confirm")  # asked again: the window runs from now
        self._timers["confirm"] = self.clock.call_later(
            self.config.gestures.confirm_window_s, lambda: self.post("stop_expired"))

    def stop_lapsed(self, event: EventData) -> None:
        self._set_flag("stop_pending", False, "stop not confirmed in time: still recording")

    def stop_confirmed(self, event: EventData) -> None:
        self._cancel_timer("confirm")
        self._set_flag("stop_pending", False, "stop confirmed")
        self.trigger("stop_recording", reason="record hold, confirmed")

    def _on_camera_fault(self, event: Event) -> None:
        """Mid-recording the recording survives: its open segment is finalised and it goes on
        in a new segment when the sensor returns. Otherwise the camera faults."""
        reason = event.data.get("reason", "camera failure")
        if self.state == "recording" and self.pipeline is not None:
            self.fault = reason
            self._audit("fault", reason, kind="camera", mode=self.state,
                        recording_id=self.recording.id if self.recording else None)
            self.pipeline.send(CameraLost(self.clock.wall(), reason))
            self._set_flag("camera_fault", True, reason)
            return
        self._fail("camera", reason)

    def _on_camera_restored(self, event: Event) -> None:
        self._audit("camera", "camera answers again", mode=self.state)
        if self.flags["camera_fault"]:
            self.fault = None
            if self.state == "recording" and self.pipeline is not None:
                self.pipeline.send(CameraBack())
            self._set_flag("camera_fault", False, "camera back")
        if self.state == "fault" and self.fault_kind == "camera":
            self.trigger("recover", reason="camera back")

    def _microphone(self, event: Event, lost: bool) -> None:
        """A microphone failing loses no picture: the recording goes on, and the silence is a
        gap in the sound's timestamps (each manifest's ``audio.gaps``); audited both ways."""
        reason = event.data.get("reason", "microphone failure" if lost else "microphone back")
        self._audit("microphone", reason, lost=lost, mode=self.state,
                    recording_id=self.recording.id if self.recording else None)
        self.note(f"microphone {'lost' if lost else 'back'}: {reason}")

    def _fail(self, kind: str, reason: str) -> None:
        self.fault_kind = kind
        self.fault = reason
        self._audit("fault", reason, kind=kind, mode=self.state)
        if self.state != "fault":
            self.trigger("fail", reason=reason)

    # -- periodic checks -----------------------------------------------------------------------
    def _on_poll(self, event: Event) -> None:
        """Battery and storage, every ``power.poll_s``."""
        if self.state in ("off", "shutting_down"):
            return
        power = self.config.power
        level = self.hw.battery.percent()
        self._set_flag("low_battery", level < power.low_battery_pct,
                       f"battery at {level:.0f} %")
        if level < power.critical_battery_pct:
            self._audit("battery", f"battery critical at {level:.1f} %", percent=level)
            self.trigger("power_off", reason=f"battery critical ({level:.0f} %)")
            return
        free = self.hw.storage.free_bytes()
        self._set_flag("storage_low", free < self.config.storage.low_mb * 2**20,
                       f"{free / 2**20:.0f} MiB free")
        full = free < self.config.storage.reserve_mb * 2**20
        if full and self.state in ("buffering", "standby", "recording"):
            self._storage_full()
        elif not full and self.state == "fault" and self.fault_kind == "storage":
            problem = self._storage_usable()
            if problem is None:
                self.trigger("recover", reason=f"storage freed ({free / 2**20:.0f} MiB)")
            elif problem != self.fault:
                self.note(f"storage still failing: {problem}")
        self._timers["poll"] = self.clock.call_later(power.poll_s, lambda: self.post("poll"))

    def _on_locate(self, event: Event) -> None:
        """The location cadence's timer: a recording's fix goes down the pipeline in band."""
        sample = self.tracker.due(event.data["due"], event.data["mode"])
        if sample is None or self.pipeline is None:
            return
        if self.config.location.watermark:
            fix = sample.fix
            self.pipeline.watermark.position = (
                "NO FIX" if fix is None else f"{fix.latitude:.5f},{fix.longitude:.5f}")
        if self.state == "recording":
            self.pipeline.send(sample)

    def _storage_full(self) -> None:
        self._signal("storage_full")
        self._fail("storage", "storage full")

    def _storage_error(self, error: str) -> None:
        """The card refused a write (ENOSPC, EIO): a storage fault, which clears (on a poll)
        once :meth:`_storage_usable` finds the card taking writes again."""
        self._signal("storage_full")
        self._fail("storage", f"storage error: {error}")

    def _storage_usable(self) -> str | None:
        """After a storage fault: write what waits, finalise what the failure left open (as
        after a power cut), make what boot could not; None when the camera may record again,
        else why not (one line). Runs in fault mode only: nothing is being recorded."""
        if self.audit is None and self.identity is not None:
            try:
                self.audit = AuditLog(self.data_dir / AUDIT_LOG, self.clock, self.identity.sign)
            except OSError as exc:
                return f"audit log: {exc}"
        if self.audit is not None and not self.audit.flush():
            return f"audit log: {self.audit.error}"
        if self.pipeline is not None:
            self.pipeline.sync()  # the recorder has let go of the segment it was writing
        try:
            self._recover_interrupted()
        except OSError as exc:
            return f"recovery: {exc}"
        if self.pipeline is None:
            try:
                self.pipeline = self._new_pipeline()
            except EncoderError as exc:
                return str(exc)
        if "checkpoint" not in self._timers:  # boot ended in this fault: none was scheduled
            self._timers["checkpoint"] = self.clock.call_later(
                self.config.audit.checkpoint_interval_s, lambda: self.post("checkpoint"))
        return self.hw.storage.self_test()

    def _on_checkpoint(self, event: Event) -> None:
        if self.audit is not None and self.state not in ("off", "shutting_down"):
            with contextlib.suppress(OSError):  # it waits, and is written once space returns
                self.audit.checkpoint("interval")
            self._timers["checkpoint"] = self.clock.call_later(
                self.config.audit.checkpoint_interval_s, lambda: self.post("checkpoint"))

    # -- the pipeline --------------------------------------------------------------------------
    def _new_pipeline(self) -> Pipeline:
        pipeline = Pipeline(self.config, self.hw.camera, self.clock, self.hw.storage.free_bytes,
                            self._pipeline_emit, encoder=self.hw.encoder,
                            microphone=self.hw.microphone)
        pipeline.start()
        if self.flags["muted"]:  # a pipeline made again (settings from the dock) stays muted
            t = self.clock.monotonic()
            pipeline.send_audio(SetMuted(True, t, utc_iso(self.clock.wall())))
        return pipeline

    def _use_config(self, config: Config, rebuild_pipeline: bool) -> None:
        """Run on ``config`` from now on. The recorder keeps its settings from when it was made,
        so it is made again (the camera is off in the dock: nothing is being captured)."""
        self.config = config
        self.policy = IndicatorPolicy(config.indicators)
        force_problem = self._load_force_key()  # a rotated force key: from the next segment
        if force_problem is not None:
            self._fail("key", force_problem)
        self.gestures.config = config.gestures
        if rebuild_pipeline and self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
            try:
                self.pipeline = self._new_pipeline()
            except EncoderError as exc:
                self._fail("pipeline", str(exc))
        self._refresh_indicators()

    # -- the pipeline's reports ----------------------------------------------------------------
    def _on_pipeline(self, event: Event) -> None:
        report = event.data["report"]
        if isinstance(report, SegmentClosed):
            self._audit("segment", "segment closed", **asdict(report))
            self.note(f"segment closed: {report.file} ({report.frames} frames)")
            if self.recording and self.recording.id == report.recording_id:
                self.recording.segments += 1
        elif isinstance(report, RecordingClosed):
            self.last_recording = ClosedRecording(report.recording_id, report.segments,
                                                  report.reason)
            self._audit("recording_closed", report.reason, recording_id=report.recording_id,
                        segments=report.segments)
            self.note(f"recording {report.recording_id} closed: "
                      f"{len(report.segments)} segment(s), {report.reason}")
        elif isinstance(report, FirstLiveFrame):
            if self.recording and self.recording.id == report.recording_id:
                self.recording.first_live_written_mono = report.written
        elif isinstance(report, StorageFull):
            self._storage_full()
        elif isinstance(report, StorageError):
            if report.recording_id is not None:
                self.note(f"recording {report.recording_id} cut by a storage error; "
                          f"it is closed once the card takes writes again")
            self._storage_error(report.error)
        elif isinstance(report, PipelineError):
            self._fail("pipeline", f"{report.stage}: {report.error}")
        elif isinstance(report, EncoderAdapted):
            # once per recording: each change is in its segment's manifest, not here
            mostly = max(report.seconds, key=lambda k: report.seconds[k])
            self._audit("encoder", f"{report.changes} encoder change(s) under load",
                        **asdict(report))
            self.note(f"recording {report.recording_id}: the encoder changed "
                      f"{report.changes} time(s) under load (mostly {mostly})")

    def _pipeline_emit(self, report: Report) -> None:
        self.post("pipeline", report=report)

    # -- mode callbacks (run on the owning thread by the machine) ------------------------------
    def _after_state_change(self, event: EventData) -> None:
        if event.transition.dest is None:  # an action: the mode stays
            return
        reason = event.kwargs.get("reason", event.event.name)
        source = event.transition.source
        self._audit("mode", reason, source=source, dest=self.state, trigger=event.event.name)
        self.note(f"mode: {source} -> {self.state} ({reason})")
        self.tracker.follow(self.state)
        self._refresh_indicators()

    def on_enter_booting(self, event: EventData) -> None:
        failed = self._self_test()
        self._audit("power", event.kwargs.get("reason", "power on"), action="on",
                    self_test=failed[1] if failed else "passed")
        if failed is not None:
            self.fault_kind, self.fault = failed
            self._audit("fault", self.fault, kind=self.fault_kind, mode=self.state)
            self.trigger("boot_failed", reason=self.fault)
            return
        self.trigger("boot_ok", reason="self-test passed")

    def _self_test(self) -> tuple[str, str] | None:
        """Key, audit log, encoder, camera, microphone, storage and clock: (kind, reason) of
        the first failure, or None when all pass."""
        key_problem = None
        device = self.config.device
        try:
            self.identity = load_or_create_identity(
                self.data_dir, device.model, device.serial,
                create=device.create_key_on_first_start)
        except IdentityError as exc:
            self.identity, key_problem = None, str(exc)
        # Without the key nothing is written, not even the audit log: none of it could be
        # signed. The fault shows on the LED, the tones and in status.
        if self.identity is not None:
            try:
                self.audit = AuditLog(self.data_dir / AUDIT_LOG, self.clock, self.identity.sign)
            except OSError as exc:
                return "storage", f"audit log cannot be opened: {exc}"
        self._set_flag("clock_not_set", not self.clock.wall_is_set, "clock checked at boot")
        if key_problem is not None:
            return "key", key_problem
        force_problem = self._load_force_key()
        if force_problem is not None:
            return "key", force_problem
        try:
            self._recover_interrupted()
        except OSError as exc:  # a full card: the poll finishes it when space returns
            return "storage", f"recovery at boot failed: {exc}"
        if self.pipeline is None:
            try:
                self.pipeline = self._new_pipeline()
            except EncoderError as exc:
                return "pipeline", str(exc)
        checks = [("camera", self.hw.camera.self_test), ("storage", self.hw.storage.self_test)]
        if self.hw.microphone is not None and self.config.audio.enabled:
            checks.insert(1, ("microphone", self.hw.microphone.self_test))
        for kind, check in checks:
            problem = check()
            if problem is not None:
                return kind, problem
        return None

    def _load_force_key(self) -> str | None:
        """With encryption on, the pinned force key (else the one-line reason it is not
        usable): without it the camera records nothing, as without its device key."""
        section = self.config.encryption
        if not section.enabled:
            self.force_key = None
            return None
        path = Path(section.force_public_key)
        try:
            self.force_key = (force_key_from_der(section.force_key) if section.force_key
                              else load_force_public_key(
                                  path if path.is_absolute() else self.data_dir / path))
        except CryptError as exc:
            self.force_key = None
            return (f"{exc} (encryption.force_public_key: pin the force's key with 'bodycam "
                    f"provision --force-key FILE', or set encryption.enabled = false, a "
                    f"development setting)")
        return None

    def _recover_interrupted(self) -> None:
        """Segments a power cut left open are kept, signed as recovered, and reported."""
        assert self.identity is not None
        if not (find_interrupted(self.data_dir) or find_unfinished(self.data_dir)):
            return
        self._show_led(self.policy.recovering())
        for result in recover_all(self.data_dir, self.identity, self.force_key):
            self.recovered.append(result.__dict__)
            self._audit("recovered" if result.ok else "recovery_failed",
                        result.detail or "interrupted segment recovered", **result.__dict__)
            self.note(f"recovered {result.file}: {result.frames} frames"
                      + (f" ({result.detail})" if result.detail else ""))

    def on_exit_booting(self, event: EventData) -> None:
        if event.transition.dest != "fault":
            self._signal("boot_done")
            self.post("poll")
            self._timers["checkpoint"] = self.clock.call_later(
                self.config.audit.checkpoint_interval_s, lambda: self.post("checkpoint"))
        elif self.fault_kind == "storage":
            self.post("poll")  # a card full or failing at boot: watch for it to clear

    def on_enter_buffering(self, event: EventData) -> None:
        if self.flags["camera_fault"]:  # a recording ended while the sensor was out
            self._set_flag("camera_fault", False, "recording over; the camera faults instead")
            self._fail("camera", self.fault or "camera failure")
            return
        self.fault = self.fault_kind = None
        assert self.pipeline is not None
        self.pipeline.send(SetBuffering(self.config.recording.pre_event_s > 0))
        self.pipeline.start_camera()

    def _camera_off(self) -> None:
        if self.pipeline is not None:
            self.pipeline.send(SetBuffering(False))
            self.pipeline.stop_camera()

    def on_enter_standby(self, event: EventData) -> None:
        self._camera_off()

    def on_enter_docked(self, event: EventData) -> None:
        self.fault = self.fault_kind = None
        self._set_flag("dock_pending", False, "docked")
        self._camera_off()
        if self.pipeline is not None:  # a recording stopped into the dock is on disk first
            self.pipeline.sync()
        self.uploader.dock(self.identity)

    def on_exit_docked(self, event: EventData) -> None:
        self.uploader.undock()

    def on_enter_recording(self, event: EventData) -> None:
        assert self.pipeline is not None and self.identity is not None
        reason = event.kwargs.get("reason", "button")
        try:
            recording_id = next_recording_id(  # never a number the log already started
                self.data_dir, self.audit.highest_recording if self.audit is not None else 0)
        except OSError as exc:  # the counter could not be written: nothing starts
            self._storage_error(f"recording counter: {exc}")
            return
        cam = self.config.camera
        info = RecordingInfo(
            recording_id=recording_id,
            directory=recordings_dir(self.data_dir) / recording_id, reason=reason,
            identity=self.identity, codec=self.pipeline.encoder.codec_name, width=cam.width,
            height=cam.height, fps=cam.fps, clock_set=self.clock.wall_is_set,
            force_key=self.force_key, track=[] if self.hw.location is not None else None,
            officer=self.docking.officer())
        with_pre_event = event.transition.source == "buffering"
        t_press = event.kwargs.get("t", self.clock.monotonic())
        self.pipeline.send(StartRecording(info, with_pre_event, t_press))
        self.pipeline.send_audio(SetLive(True, t_press))
        self.pipeline.start_camera()
        self.recording = Recording(recording_id, reason, started_utc=utc_iso(self.clock.wall()),
                                   started_mono=self.clock.monotonic(), pre_event=with_pre_event)
        self._audit("recording_start", reason, recording_id=recording_id,
                    pre_event=with_pre_event)
        self._signal("recording_started")

    def on_exit_recording(self, event: EventData) -> None:
        assert self.pipeline is not None
        if self.recording is None:  # it never started (see on_enter_recording)
            return
        reason = event.kwargs.get("reason", event.event.name)
        self.pipeline.send(StopRecording(self.clock.wall(), reason))
        self.pipeline.send_audio(SetLive(False, self.clock.monotonic()))
        self._audit("recording_stop", reason, recording_id=self.recording.id)
        self.recording = None
        self._cancel_timer("confirm")
        self.flags["stop_pending"] = False
        self._signal("recording_stopped")

    def on_enter_fault(self, event: EventData) -> None:
        self.fault = self.fault or event.kwargs.get("reason", "fault")
        self._camera_off()

    def on_enter_shutting_down(self, event: EventData) -> None:
        self._audit("power", event.kwargs.get("reason", "power off"), action="off")
        if self.pipeline is not None:
            self.pipeline.stop_camera()
            self.pipeline.sync()  # the recording (if any) is finalised and signed by now
        self.post("halt")  # after the pipeline's reports, which are queued ahead of it

    def _on_halt(self, event: Event) -> None:
        for name in list(self._timers):
            self._cancel_timer(name)
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        self.trigger("halted", reason="shutdown complete")
        if self.audit is not None:  # the last words: a signed checkpoint over everything
            with contextlib.suppress(OSError):
                self.audit.checkpoint("shutdown")
            self.audit.close()
            self.audit = None
        self.powered_off.set()
        if self._exit_when_off:
            self.exit_requested.set()

    # -- indicators ----------------------------------------------------------------------------
    def _refresh_indicators(self) -> None:
        """LED and repeating warnings follow the mode and flags (stealth silences all)."""
        self._show_led(self.policy.led(self.state, self.flags["muted"], self.flags["stealth"],
                                       self.flags["camera_fault"]))
        for condition, on in self.policy.reminders(self.state, self.flags).items():
            if on and condition not in self._repeaters:
                if REPEATING[condition].at_once:
                    self._signal(REPEATING[condition].signal)
                self._schedule_repeat(condition)
            elif not on and condition in self._repeaters:
                self._repeaters.pop(condition).cancel()

    def _schedule_repeat(self, condition: str, after: float | None = None) -> None:
        """Next repetition one interval after ``after`` (the last one's due time), so the
        rhythm does not drift by however long the event waited in the queue."""
        due = (self.clock.monotonic() if after is None else after) + \
            self.policy.interval(condition)
        self._repeaters[condition] = self.clock.call_at(
            due, lambda: self.post("repeat", condition=condition, due=due))

    def _on_repeat(self, event: Event) -> None:
        condition = event.data["condition"]
        timer = self._repeaters.get(condition)
        if timer is not None and timer.due == event.data["due"]:
            self._signal(REPEATING[condition].signal)
            self._schedule_repeat(condition, after=event.data["due"])

    def _signal(self, signal: str) -> None:
        if self.flags["stealth"]:
            return
        tones = self.policy.tones(signal)
        if tones:
            self.hw.buzzer.play(tones)
            self.bus.publish("tones", {"signal": signal,
                                       "tones": [[t.hz, t.seconds] for t in tones]})
        pulses = self.policy.vibration(signal)
        if pulses:
            self.hw.vibration.pulse(pulses)
            self.bus.publish("vibration", {"signal": signal,
                                           "pulses": [[p.on_s, p.off_s] for p in pulses]})

    def _show_led(self, state: LedState) -> None:
        """Tell the LED, then publish the change: the Pi's LED reports nothing by itself, and a
        viewer woken by the event reads the LED's new pattern and phase, not the old one."""
        changed = state != self.hw.led.state
        self.hw.led.show(state)
        if changed:
            self.bus.publish("led", state.as_dict())

    def _cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    # -- status (read from any thread) ---------------------------------------------------------
    def status(self) -> Status:
        pipeline, recording = self.pipeline, self.recording  # read once: another thread
        stats = pipeline.stats() if pipeline is not None else None
        return Status(
            mode=self.state,
            camera="on" if self.state in CAMERA_ON else "off",
            fault=self.fault,
            flags=dict(self.flags),
            docked=self.hw.dock.is_docked,
            device_id=self.identity.device_id if self.identity else None,
            led=self.hw.led.state,
            battery_percent=round(self.hw.battery.percent(), 1),
            charging=self.hw.battery.charging(),
            storage_free_bytes=self.hw.storage.free_bytes(),
            buffered_s=round(stats.buffered_s, 3) if stats else 0.0,
            frames_captured=stats.frames_captured if stats else 0,
            frames_dropped=stats.frames_dropped if stats else 0,
            recording=RecordingStatus.of(recording, self.clock.monotonic()) if recording
            else None,
            last_recording=self.last_recording,
            recovered=list(self.recovered),
            audit_entries=self.audit.seq if self.audit else None,
            audit_error=self.audit.error if self.audit else None,
            utc=utc_iso(self.clock.wall()),
            clock_set=self.clock.wall_is_set,
            data_dir=str(self.data_dir),
            upload=self.uploader.status(),
            location=self.tracker.status(),
            audio=None if stats is None or stats.audio_level_dbfs is None else {
                "level_dbfs": stats.audio_level_dbfs, "blocks_captured": stats.blocks_captured,
                "blocks_dropped": stats.blocks_dropped},
            encoder=dict(stats.encoder) if stats is not None and stats.encoder else {},
            encryption=(f"on (force key SHA256:{force_key_fingerprint(self.force_key)[:16]}…)"
                        if self.force_key is not None else ENCRYPTION_OFF),
            officer=describe_assignment(self.docking.assignment),
        )
