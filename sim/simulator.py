"""A simulated camera: the sim hardware and the daemon, wired, with a way to move time.

Tests, the ``bodycam sim`` front end and (later) the hardware-in-the-loop suite all use this one
class. With a :class:`~sim.clock.SimClock`, :meth:`advance` moves time a frame at a time and lets
the daemon and the pipeline catch up after each step, so what a test sees is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from device.config import Config
from device.control import ControlError, Handler
from device.daemon import Daemon
from hal.clock import Clock
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.devices import SimBattery, SimButton, SimDock, SimLed, SimStorage
from sim.hardware import build_sim_hardware


class Simulator:
    def __init__(self, config: Config, data_dir: Path, clock: Clock | None = None,
                 listener: Callable[[str, object], None] | None = None) -> None:
        self.config = config
        self.data_dir = data_dir
        self.clock = clock if clock is not None else SimClock()
        cam = config.camera
        self.hw = build_sim_hardware(self.clock, data_dir, cam.width, cam.height, cam.fps,
                                     listener)
        self.daemon = Daemon(self.hw, config, data_dir)

    # typed views of the simulated devices
    @property
    def led(self) -> SimLed:
        return self.hw.led  # type: ignore[return-value]

    @property
    def camera(self) -> SimCamera:
        return self.hw.camera  # type: ignore[return-value]

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
        """Move simulated time forward by ``seconds``, a frame period at a time."""
        if not isinstance(self.clock, SimClock):
            raise ControlError("this simulator runs on the real clock; time cannot be advanced")
        step = 1.0 / self.config.camera.fps
        target = self.clock.monotonic() + seconds
        while self.clock.monotonic() < target - 1e-9:
            self.clock.advance_to(min(target, self.clock.monotonic() + step))
            self.daemon.sync()

    def shutdown(self) -> None:
        self.daemon.post("power_off", reason="shutdown")
        self.daemon.sync()
        self.hw.close()

    # -- control-socket commands only a simulator has ------------------------------------------
    def commands(self) -> dict[str, Handler]:
        def advance(request: dict[str, Any]) -> dict[str, Any]:
            seconds = request.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
                    0 <= seconds <= 3600):
                raise ControlError(f"advance takes seconds from 0 to 3600, got {seconds!r}")
            self.advance(float(seconds))
            return {"monotonic": self.clock.monotonic()}

        return {"advance": advance}
