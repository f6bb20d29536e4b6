"""The panel's commands: the camera's own, forwarded to its control socket, and the power.

The daemon's :class:`~device.control.Controller` validates and performs every camera command
(the same path ``bodycam press`` takes); the panel adds only what a supervisor of the process can
do: cut the power and boot again. It also remembers the simulated world (dock, storage, sensor,
microphone cable, clock, battery) so a camera booted after a power cut finds it as it was.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from device.control import ControlError
from sim.web.hub import Hub
from sim.web.supervisor import DaemonProcess

#: Control commands a page may send; the daemon checks their arguments.
FORWARDED = ("status", "edge", "press", "marker", "trigger", "dock", "undock", "battery",
             "storage", "camera", "microphone", "clock", "advance", "location")
#: Commands the panel itself performs.
OWN = ("power_cut", "boot", "verify_audit")


class PanelError(Exception):
    """A request the panel refuses; the message is for the person at the page."""


class Panel:
    def __init__(self, daemon: DaemonProcess, hub: Hub, clock_set: bool = True) -> None:
        self.daemon = daemon
        self.hub = hub
        #: The simulated real-time clock keeps its (lost) time across a power cut.
        self.clock_set = clock_set
        self.world: dict[str, dict[str, Any]] = {}
        self.held: set[str] = set()
        self._lock = threading.Lock()
        self._restore = False

    def command(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            raise PanelError('a command is a JSON object with a "cmd" string')
        cmd = request["cmd"]
        if cmd == "power_cut":
            return self.power_cut()
        if cmd == "boot":
            self.daemon.start()
            return {"daemon": self.daemon.state}
        if cmd == "verify_audit":
            return {"audit_check": self.hub.check_audit()}
        if cmd not in FORWARDED:
            raise PanelError(f"unknown command {cmd!r} (expected one of: "
                             f"{', '.join(sorted(FORWARDED + OWN))})")
        reply = self.daemon.request(request)
        self._remember(cmd, request)
        return reply

    def _remember(self, cmd: str, request: dict[str, Any]) -> None:
        """Keep what the world looks like (after the daemon accepted the command)."""
        lasting = {"dock": True, "undock": False, "storage": request.get("free_mb") is not None,
                   "camera": request.get("action") == "unplug",
                   "microphone": request.get("action") == "unplug",
                   # the sky lost (or the officer pinned) stays so across a power cut
                   "location": request.get("action") in ("lose", "move")}
        key = "dock" if cmd == "undock" else cmd
        with self._lock:
            if cmd == "edge":
                (self.held.add if request["pressed"] else self.held.discard)(request["button"])
            elif cmd == "clock":
                self.clock_set = request["set"]
            elif cmd == "microphone" and request.get("action") == "speak":
                return  # a voice passes; the cable's state stays as it was
            elif cmd in lasting:
                self.world.pop(key, None)
                if lasting[cmd]:
                    self.world[key] = dict(request)

    def power_cut(self) -> dict[str, Any]:
        battery = (self.hub.status or {}).get("battery_percent")
        with self._lock:
            if battery is not None:
                self.world["battery"] = {"cmd": "battery", "percent": battery}
            self.held.clear()
            self._restore = True
        self.daemon.power_cut()
        return {"daemon": self.daemon.state}

    def daemon_changed(self, state: str, detail: str) -> None:
        """A camera booted after a power cut finds the simulated world as it was."""
        if state != "running":
            return
        with self._lock:
            if not self._restore:
                return
            self._restore = False
            commands = list(self.world.values())
        threading.Thread(target=self._replay, args=(commands,), name="restore",
                         daemon=True).start()

    def _replay(self, commands: list[dict[str, Any]]) -> None:
        try:
            for request in commands:
                self.daemon.request(request)
        except ControlError as exc:  # cut again already: the next boot replays
            print(f"panel: could not restore the simulated world: {exc}", flush=True)

    def release_held(self) -> None:
        """The last page went away with a button down: let go of it, as a finger would."""
        with self._lock:
            held, self.held = sorted(self.held), set()
        with contextlib.suppress(ControlError):  # no daemon: nothing is held down
            for button in held:
                self.daemon.request({"cmd": "edge", "button": button, "pressed": False})
