"""What every backend's run loop does around the daemon: the control socket, the serial console,
power-on, signals and the systemd notify protocol; ``device/runner.py`` puts them in order."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from device.config import Config
from device.control import ControlError, Controller, ControlServer, Handler
from device.daemon import Daemon
from device.notify import Notifier
from device.serial_console import ConsoleError, SerialConsole


@dataclass
class Consoles:
    """Where commands come in: the control socket, and the serial console when one is
    configured. Both share one :class:`Controller`, so they take the same commands."""

    control: ControlServer
    serial: SerialConsole | None

    def start(self) -> None:
        self.control.start()
        if self.serial is not None:
            self.serial.start()

    def stop(self) -> None:
        if self.serial is not None:  # first: a shutdown under way there still gets its answer
            self.serial.stop()
        self.control.stop()


def open_consoles(daemon: Daemon, data_dir: Path, config: Config, serial: str | None = None,
                  extra: dict[str, Handler] | None = None) -> Consoles:
    """Both consoles, not yet serving; the serial one on ``serial``, else ``serial.port`` of
    the configuration (``off``: none). Any failure is one :class:`ControlError` line, and
    leaves nothing open."""
    controller = Controller(daemon, extra=extra)
    spec = serial or config.serial.port
    try:
        console = None if spec == "off" else SerialConsole(
            controller, daemon.bus, spec, config.serial.baudrate)
    except ConsoleError as exc:
        raise ControlError(str(exc)) from None
    try:
        return Consoles(ControlServer(data_dir, controller), console)
    except (ControlError, OSError) as exc:
        if console is not None:
            console.stop()
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
