"""The local control socket: how ``bodycam status|press|shutdown`` talk to a running daemon.

A Unix stream socket ``control.sock`` in the data directory (mode 0600: only the camera's own
user may drive it). One JSON object per line each way: a request ``{"cmd": "press", "button":
"record", "gesture": "double"}`` gets ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
A bad request gets an error line and never disturbs the device.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from device.daemon import Daemon
from device.gestures import GESTURE_KINDS
from hal.inputs import BUTTON_NAMES

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
REPLY_TIMEOUT_S = 60.0

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """A request failed; the message is one line meant for the person who asked."""


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


class Controller:
    """Turns requests into daemon events. Backends add commands through ``extra``."""

    def __init__(self, daemon: Daemon, extra: dict[str, Handler] | None = None) -> None:
        self.daemon = daemon
        self.commands: dict[str, Handler] = {
            "status": self._status,
            "press": self._press,
            "edge": self._edge,
            "marker": self._marker,
            "trigger": self._trigger,
            "shutdown": self._shutdown,
            "version": self._version,
            "events": self._events,
            **(extra or {}),
        }

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'request must be a JSON object with a "cmd" string'}
        cmd = request["cmd"]
        handler = self.commands.get(cmd)
        if handler is None:
            return {"ok": False, "error": f"unknown command {cmd!r} "
                                          f"(expected one of: {', '.join(sorted(self.commands))})"}
        try:
            return {"ok": True, **handler(request)}
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}

    def _status(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.daemon.status()}

    def _press(self, request: dict[str, Any]) -> dict[str, Any]:
        button, kind = _button(request), request.get("gesture", "press")
        if kind not in GESTURE_KINDS:
            raise ControlError(f"unknown gesture {kind!r} "
                               f"(expected one of: {', '.join(GESTURE_KINDS)})")
        seconds = request.get("seconds")
        clock = self.daemon.clock
        if kind == "hold" and seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
                    0 < seconds <= 30):
                raise ControlError(f"hold seconds must be a number from 0 to 30, got {seconds!r}")
            end = self._hold(button, float(seconds))
        else:
            end = self.daemon.gestures.inject(button, kind)
        if not clock.realtime:
            return {"button": button, "gesture": kind, "mode": self.daemon.state,
                    "pending_until": end}
        # A real clock: answer once the gesture is done (a lone press is only recognised
        # after the double-press window) and the daemon has acted on it.
        done = threading.Event()
        window = self.daemon.config.gestures.double_press_window_s
        clock.call_at(end + window + 0.05, done.set)
        done.wait(timeout=REPLY_TIMEOUT_S)
        self.daemon.sync()
        return {"button": button, "gesture": kind, "mode": self.daemon.state}

    def _edge(self, request: dict[str, Any]) -> dict[str, Any]:
        """One contact change, for a front end that has real key-down and key-up (the browser
        panel): the recogniser, not the caller, decides what the presses mean."""
        button, pressed = _button(request), request.get("pressed")
        if not isinstance(pressed, bool):
            raise ControlError(f"edge takes pressed: true (button down) or false (up), "
                               f"got {pressed!r}")
        self.daemon.gestures.edge(button, pressed)
        return {"button": button, "pressed": pressed}

    def _hold(self, button: str, seconds: float) -> float:
        gestures, clock = self.daemon.gestures, self.daemon.clock
        start = clock.monotonic()
        gestures.edge(button, True)
        clock.call_at(start + seconds, lambda: gestures.edge(button, False))
        return start + seconds

    def _marker(self, request: dict[str, Any]) -> dict[str, Any]:
        note = request.get("note", "")
        if not isinstance(note, str) or len(note) > 200:
            raise ControlError("marker note must be a string of at most 200 characters")
        placed = self.daemon.request("marker", note=note).result(timeout=REPLY_TIMEOUT_S)
        if not placed:
            raise ControlError(f"no recording to mark (mode is {self.daemon.state})")
        return {}

    def _trigger(self, request: dict[str, Any]) -> dict[str, Any]:
        name, names = request.get("name"), self.daemon.config.triggers.names
        if name not in names:
            raise ControlError(f"unknown trigger {name!r} (configured: {', '.join(names)})")
        started = self.daemon.request("trigger", name=name).result(timeout=REPLY_TIMEOUT_S)
        return {"started": started, "mode": self.daemon.state}

    def _version(self, request: dict[str, Any]) -> dict[str, Any]:
        """Who answers: a test suite picks how to wait (virtual clock or real) from this."""
        daemon = self.daemon
        return {"version": _package_version(), "backend": daemon.hw.name,
                "model": daemon.config.device.model, "serial": daemon.config.device.serial,
                "device_id": daemon.identity.device_id if daemon.identity else None,
                "clock": "real" if daemon.clock.realtime else "virtual",
                "commands": sorted(self.commands)}

    def _events(self, request: dict[str, Any]) -> dict[str, Any]:
        """The events kept since ``since`` (a seq): how the boot went, to a late listener."""
        since = request.get("since", 0)
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ControlError(f"events since must be a whole number >= 0, got {since!r}")
        return {"events": [e.as_dict() for e in self.daemon.bus.recent(since)]}

    def _shutdown(self, request: dict[str, Any]) -> dict[str, Any]:
        self.daemon.post("shutdown", reason="shutdown command")
        if not self.daemon.exit_requested.wait(timeout=REPLY_TIMEOUT_S):
            raise ControlError("the daemon did not stop within 60 s")
        return {"mode": self.daemon.state}


def _button(request: dict[str, Any]) -> str:
    button = request.get("button")
    if button not in BUTTON_NAMES:
        raise ControlError(f"unknown button {button!r} "
                           f"(expected one of: {', '.join(BUTTON_NAMES)})")
    return str(button)


class _RequestHandler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(MAX_REQUEST + 1)
            if not line:
                return
            if len(line) > MAX_REQUEST:
                reply: dict[str, Any] = {"ok": False, "error": "request longer than 64 KiB"}
            else:
                try:
                    request = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    reply = {"ok": False, "error": f"request is not JSON ({exc})"}
                else:
                    reply = self.server.controller.handle(request)
            self.wfile.write(json.dumps(reply).encode() + b"\n")


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, data_dir: Path, controller: Controller) -> None:
        self.controller = controller
        self.path = socket_path(data_dir)
        if len(os.fsencode(self.path)) > 100:
            raise ControlError(f"control socket path {self.path} is too long for a Unix socket; "
                               f"use a shorter --data-dir")
        if self.path.exists():
            if _alive(self.path):
                raise ControlError(f"a daemon is already running on {self.path}")
            self.path.unlink()
        old = os.umask(0o177)
        try:
            super().__init__(str(self.path), _RequestHandler)
        finally:
            os.umask(old)
        self._thread = threading.Thread(target=self.serve_forever, name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _package_version() -> str:
    try:
        return metadata.version("bodycam")
    except metadata.PackageNotFoundError:
        return "unknown"


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def request(data_dir: Path, payload: dict[str, Any], timeout: float = REPLY_TIMEOUT_S + 5
            ) -> dict[str, Any]:
    """Send one request to the daemon in ``data_dir``; raises :class:`ControlError`."""
    path = socket_path(data_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no daemon running in {data_dir} (no one listening on "
                               f"{path}); start one with 'bodycam sim'") from None
        except OSError as exc:
            raise ControlError(f"cannot reach the daemon at {path}: {exc.strerror}") from None
        s.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                raise ControlError(f"the daemon at {path} did not answer within "
                                   f"{timeout:g} s") from None
            except OSError as exc:
                raise ControlError(f"the daemon at {path} went away ({exc.strerror})") from None
            if not chunk:
                break
            data += chunk
    try:
        reply = json.loads(data)
    except json.JSONDecodeError:
        raise ControlError(f"the daemon at {path} sent a malformed answer") from None
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "request failed"))
    return reply
