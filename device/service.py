"""What every backend's run loop does around the daemon: the control socket, the serial console,
power-on, signals and the systemd notify protocol. ``sim/app.py`` and ``hal/pi/app.py`` share it."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from device.control import ControlError, Controller, ControlServer, Handler
from device.daemon import Daemon
from device.notify import Notifier
from device.serial_console import ConsoleError, SerialConsole


def open_control(daemon: Daemon, data_dir: Path,
                 extra: dict[str, Handler] | None = None) -> ControlServer:
    """The control socket, not yet serving; any failure is one :class:`ControlError` line."""
    try:
        return ControlServer(data_dir, Controller(daemon, extra=extra))
    except (ControlError, OSError) as exc:
        raise ControlError(str(exc)) from None


def open_serial(server: ControlServer, daemon: Daemon, spec: str,
                baudrate: int) -> SerialConsole | None:
    """The serial console on ``spec`` (None for ``off``), not yet serving. It shares the
    control socket's :class:`Controller`, so both take the same commands."""
    if spec == "off":
        return None
    try:
        return SerialConsole(server.controller, daemon.bus, spec, baudrate)
    except ConsoleError as exc:
        raise ControlError(str(exc)) from None


def power_on(daemon: Daemon) -> None:
    """Start the daemon's thread and boot the camera; returns once booting is over."""
    daemon.start()
    daemon.post("power_on", reason="power button")
    daemon.sync()


def power_off_on_signals(daemon: Daemon) -> None:
    """SIGTERM (systemd stop) and SIGINT (Ctrl-C) power off cleanly: a recording is finalised
    and signed first. Only the main thread may install handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return

    def graceful(signum: int, frame: object) -> None:
        daemon.post("shutdown", reason=f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)


def describe_mode(daemon: Daemon) -> str:
    """One line for ``systemctl status`` and logs."""
    fault = f" (fault: {daemon.fault})" if daemon.state == "fault" and daemon.fault else ""
    return f"mode {daemon.state}{fault}"


def announce_ready(daemon: Daemon, notifier: Notifier | None = None) -> Notifier:
    """Tell systemd (when it is listening) that the camera is up, and in which mode."""
    notifier = Notifier() if notifier is None else notifier
    notifier.ready(describe_mode(daemon))
    return notifier
