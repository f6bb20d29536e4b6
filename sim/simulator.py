"""A simulated camera: the sim hardware and the daemon, wired, with a way to move time.

This is the in-process harness (the firmware on the simulator backend), so unlike the backend
(``sim/backend.py`` and what it builds from) it imports the firmware. Tests, the benchmarks,
the ``bodycam sim`` front end (``sim/app.py``) and, through that front end's control socket,
the hardware-in-the-loop suite (``tests/hil``) all use this one class. With a
:class:`~sim.clock.SimClock`, :meth:`advance` moves time a frame at a time and lets the daemon
and the pipeline catch up after each step, so what a test sees is deterministic.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device.config import Config
from device.control import ControlError, Handler, takes
from device.daemon import Daemon
from device.runner import build_hardware
from evidence.fsutil import private_dir
from evidence.identity import has_key, provision
from evidence.messages import show
from hal.clock import Clock
from hal.encoder import EncoderFactory, LibavEncoder
from hal.inputs import BUTTON_NAMES
from sim.backend import backend as sim_backend
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.devices import SimBattery, SimButton, SimDock, SimLed, SimStorage
from sim.location import SimLocation
from sim.microphone import SimMicrophone
from sim.preview import Preview

#: The longest an ``events`` request may wait for something to happen, seconds.
MAX_EVENTS_WAIT_S = 30.0
#: How long the ``microphone speak`` command's voice lasts unless told, and at most, seconds.
DEFAULT_SPEAK_S = 2.0
MAX_SPEAK_S = 60.0


class Simulator:
    def __init__(self, config: Config, data_dir: Path, clock: Clock | None = None,
                 listener: Callable[[str, object], None] | None = None,
                 provisioned: bool = True, encoder: EncoderFactory = LibavEncoder) -> None:
        """``provisioned``: the camera comes with its key, as from the factory (made here when
        the data directory has none); False simulates one that was never provisioned."""
        private_dir(data_dir)  # evidence and keys: the owner's only
        if provisioned and not has_key(data_dir):
            provision(data_dir, config.device.model, config.device.serial)
        self.config = config
        self.data_dir = data_dir
        self.clock = clock if clock is not None else SimClock()
        self.hw = build_hardware(sim_backend, config, data_dir, self.clock, listener=listener,
                                 encoder=encoder)
        self.daemon = Daemon(self.hw, config, data_dir)
        self.preview = Preview(self.daemon)
        self._battery_tick()

    def _battery_tick(self) -> None:
        """Drain the battery by mode, charge it in the dock: once a simulated second."""
        sim = self.config.simulator
        docked = self.dock.is_docked
        rate = {"standby": -sim.drain_standby_pct_h, "buffering": -sim.drain_buffering_pct_h,
                "recording": -sim.drain_recording_pct_h}.get(self.daemon.state, 0.0)
        if docked:
            rate = sim.charge_docked_pct_h
        self.battery.is_charging = docked and self.battery.level < 100
        self.battery.level = min(100.0, max(0.0, self.battery.level + rate / 3600))
        self.clock.call_later(1.0, self._battery_tick)

    # typed views of the simulated devices
    @property
    def led(self) -> SimLed:
        return self.hw.led  # type: ignore[return-value]

    @property
    def camera(self) -> SimCamera:
        return self.hw.camera  # type: ignore[return-value]

    @property
    def microphone(self) -> SimMicrophone | None:
        return self.hw.microphone  # type: ignore[return-value]

    @property
    def dock(self) -> SimDock:
        return self.hw.dock  # type: ignore[return-value]

    @property
    def battery(self) -> SimBattery:
        return self.hw.battery  # type: ignore[return-value]

    @property
    def storage(self) -> SimStorage:
        return self.hw.storage  # type: ignore[return-value]

    def button(self, name: str) -> SimButton:
        return self.hw.buttons[name]  # type: ignore[return-value]

    @property
    def mode(self) -> str:
        return self.daemon.state

    def power_on(self) -> None:
        self.daemon.post("power_on", reason="power button")
        self.daemon.sync()

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by ``seconds``, stopping at every timer that falls due
        and letting the daemon and the pipeline catch up there, so each event is handled at
        the simulated moment it happened."""
        clock = self.clock
        if not isinstance(clock, SimClock):
            raise ControlError("this simulator runs on the real clock; time cannot be advanced")
        target = clock.monotonic() + seconds
        while True:
            now = clock.monotonic()
            due = clock.next_due()
            if due is None or due > target:
                clock.advance_to(target)
                self.daemon.sync()
                return
            clock.advance_to(max(now, due))
            self.daemon.sync()

    def shutdown(self) -> None:
        self.daemon.post("shutdown", reason="shutdown")
        self.daemon.sync()
        self.hw.close()

    # -- control-socket commands only a simulator has ------------------------------------------
    def commands(self) -> dict[str, Handler]:
        def number(request: dict[str, Any], key: str, lo: float, hi: float,
                   default: float | None = None) -> float:
            """A finite number from ``lo`` to ``hi`` (NaN compares false: refused too)."""
            value = request.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    lo <= value <= hi):
                raise ControlError(f"{request['cmd']} takes {key} from {lo:g} to {hi:g}, "
                                   f"got {show(value)}")
            return float(value)

        @takes("seconds")
        def advance(request: dict[str, Any]) -> dict[str, Any]:
            self.advance(number(request, "seconds", 0, 3600))
            return {"monotonic": self.clock.monotonic()}

        @takes()
        def dock(request: dict[str, Any]) -> dict[str, Any]:
            self.dock.dock()
            self.daemon.sync()
            return {"mode": self.mode}

        @takes()
        def undock(request: dict[str, Any]) -> dict[str, Any]:
            self.dock.undock()
            self.daemon.sync()
            return {"mode": self.mode}

        @takes("percent")
        def battery(request: dict[str, Any]) -> dict[str, Any]:
            self.battery.level = number(request, "percent", 0, 100)
            self.daemon.post("poll")
            self.daemon.sync()
            return {"mode": self.mode}

        @takes("free_mb")
        def storage(request: dict[str, Any]) -> dict[str, Any]:
            free = request.get("free_mb")
            self.storage.limit_bytes = None if free is None else int(
                number(request, "free_mb", 0, 1e9) * 2**20)
            self.daemon.post("poll")
            self.daemon.sync()
            return {"mode": self.mode}

        @takes("action")
        def camera(request: dict[str, Any]) -> dict[str, Any]:
            action = request.get("action")
            if action not in ("unplug", "replug"):
                raise ControlError(f"camera takes action unplug or replug, got {show(action)}")
            self.camera.unplug() if action == "unplug" else self.camera.replug()
            self.daemon.sync()
            return {"mode": self.mode}

        @takes("action", "seconds")
        def microphone(request: dict[str, Any]) -> dict[str, Any]:
            """The simulated microphone: someone speaks into it for ``seconds`` (default
            2, at most 60), or its cable is pulled and pushed back (a gap in the sound)."""
            mic, action = self.microphone, request.get("action")
            if action not in ("speak", "unplug", "replug"):
                raise ControlError(f"microphone takes action speak, unplug or replug, got "
                                   f"{show(action)}")
            if mic is None:
                raise ControlError("this camera has no microphone (audio.enabled = false)")
            if action == "speak":
                mic.speak(number(request, "seconds", 0, MAX_SPEAK_S, default=DEFAULT_SPEAK_S))
            elif "seconds" in request:
                raise ControlError(f"microphone {action} takes no seconds")
            else:
                mic.unplug() if action == "unplug" else mic.replug()
            self.daemon.sync()
            return {"action": action, "mode": self.mode}

        @takes("set")
        def clock(request: dict[str, Any]) -> dict[str, Any]:
            """The real-time clock loses (or regains) its time. The watermark says so at once;
            the daemon checks its clock at boot, as the camera does."""
            is_set = request.get("set")
            if not isinstance(is_set, bool):
                raise ControlError(f"clock takes set: true or false, got {show(is_set)}")
            self.clock.wall_is_set = is_set
            return {"clock_set": is_set}

        @takes("since", "wait")
        def journal(request: dict[str, Any]) -> dict[str, Any]:
            """The daemon's events (device/bus.py) after seq ``since``, waiting up to ``wait``
            s for one: the ``events`` command as a long poll, with the status and the LED's
            phase, so a viewer in another process blinks in step."""
            since = number(request, "since", 0, 1e18, default=0)
            wait = number(request, "wait", 0, MAX_EVENTS_WAIT_S, default=0)
            bus = self.daemon.bus
            events, missed = bus.wait(int(since), wait)
            now = self.clock.monotonic()
            return {"boot": bus.boot, "events": [e.as_dict() for e in events], "missed": missed,
                    "next": events[-1].seq if events else min(int(since), bus.seq),
                    "now": now, "led_phase_s": now - self.led.since,
                    # the host's time when the phase was read: a viewer on this machine
                    # adds the time the answer took to reach it
                    "phase_at_unix": time.time(), "status": self.daemon.status().to_json()}

        @takes("after")
        def preview(request: dict[str, Any]) -> dict[str, Any]:
            """The newest watermarked frame as a base64 JPEG, unless ``after`` names it."""
            latest = self.preview.latest()
            if latest is None:
                return {"frame": None}
            key, frame = latest
            if request.get("after") == key:
                return {"frame": key}
            jpeg = self.preview.jpeg(key, frame)
            return {"frame": key, "jpeg": base64.b64encode(jpeg).decode("ascii")}


        @takes("button", "action")
        def button(request: dict[str, Any]) -> dict[str, Any]:
            """An edge on the simulated contact itself (the test rig's relay), not an
            injected gesture: debounce and timing are the recogniser's business."""
            name, action = request.get("button"), request.get("action")
            if name not in BUTTON_NAMES or action not in ("down", "up"):
                raise ControlError(f"button takes a button ({', '.join(BUTTON_NAMES)}) and "
                                   f"down or up, got {show(name)} {show(action)}")
            self.button(name).down() if action == "down" else self.button(name).up()
            self.daemon.sync()
            return {"mode": self.mode}

        @takes("action", "lat", "lon")
        def location(request: dict[str, Any]) -> dict[str, Any]:
            """The simulated receiver: pin it at a point, lose or regain the sky, walk on."""
            receiver, action = self.hw.location, request.get("action")
            if not isinstance(receiver, SimLocation):
                raise ControlError("this simulator has no simulated location receiver")
            if action == "move":
                lat = number(request, "lat", -90, 90)
                receiver.move(lat, number(request, "lon", -180, 180))
            elif action in ("lose", "regain", "walk"):
                if "lat" in request or "lon" in request:
                    raise ControlError(f"location {action} takes no lat or lon")
                getattr(receiver, action)()
            else:
                raise ControlError(f"location takes action move, lose, regain or walk, got "
                                   f"{show(action)}")
            self.advance(0)  # pending timers due now fire; the next reading says it
            self.daemon.sync()
            return {"action": action, "location": self.daemon.tracker.status()}

        return {"advance": advance, "dock": dock, "undock": undock, "battery": battery,
                "storage": storage, "camera": camera, "microphone": microphone, "clock": clock,
                "journal": journal, "preview": preview, "button": button,
                "location": location}

