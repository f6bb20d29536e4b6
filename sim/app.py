"""``bodycam sim --headless`` and ``--tui``: the daemon on simulated hardware, in this process.

Headless, every LED change, tone, vibration and mode change is printed as a line, so a script
(or a person reading a log) sees what the camera showed. With ``--tui`` in a terminal, a panel
redraws live and keys press the simulated buttons (see ``sim/tui.py``). The browser panel
(``sim/web``, the default) runs this headless simulator as its child process. The run sequence
itself is the firmware's (``device/runner.py``); this module is the simulator's front end, part
of the in-process harness with ``sim/simulator.py``.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

from device.config import Config
from device.runner import Front, FrontendError, serve
from evidence.crypt import new_force_key, private_pem, public_pem
from evidence.fsutil import atomic_write, private_dir
from hal.clock import Clock, SystemClock
from hal.indicators import LedState, Pulse, Tone
from sim.clock import SimClock
from sim.simulator import Simulator


def describe(kind: str, value: object) -> str:
    """One line for an indicator output, as the simulator prints it."""
    if kind == "led" and isinstance(value, LedState):
        return f"LED {value.describe()}"
    if kind == "tones" and isinstance(value, tuple):
        return "tones " + ", ".join(
            f"{t.hz:g} Hz {t.seconds:g} s" if t.hz else f"rest {t.seconds:g} s"
            for t in value if isinstance(t, Tone))
    if kind == "vibration" and isinstance(value, tuple):
        return "vibration " + ", ".join(f"{p.on_s:g} s" for p in value if isinstance(p, Pulse))
    return f"{kind} {value}"


class _ClockFormatter(logging.Formatter):
    """Stamps lines with seconds since the simulator started, on the device's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.t0 = clock.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{self.clock.monotonic() - self.t0:9.3f}] {record.getMessage()}"


def dev_force_key_path(data_dir: Path) -> Path:
    """Where the simulator keeps the private half of its development force key: beside the
    data directory, never on the (simulated) card."""
    return data_dir.parent / f"{data_dir.name}.dev-force.key.pem"


def ensure_dev_force_key(config: Config, data_dir: Path) -> str | None:
    """With encryption on and no force key pinned, make a development one, so the simulated
    camera records (encrypted) and the panel can still play its footage; a line saying so,
    or None. A real camera is provisioned with its force's key instead."""
    if not config.encryption.enabled:
        return None
    pinned = data_dir / Path(config.encryption.force_public_key).expanduser()
    if pinned.exists():
        return None
    key = new_force_key()
    private_dir(data_dir)
    atomic_write(dev_force_key_path(data_dir), private_pem(key))
    atomic_write(pinned, public_pem(key.public_key()), mode=0o644)
    return (f"encryption: made a DEVELOPMENT force key ({pinned}; its private half "
            f"{dev_force_key_path(data_dir)}, which the panel decrypts with)")


def run_simulator(config: Config, data_dir: Path, headless: bool = False,
                  virtual_clock: bool = False, clock_unset: bool = False,
                  exit_with_stdin: bool = False, serial: str | None = None) -> int:
    """``clock_unset``: the simulated real-time clock has lost its time (a flat RTC cell), so
    the camera boots with its clock not set. ``exit_with_stdin``: power off cleanly when stdin
    closes (the browser panel that started this process has gone). ``serial`` (``pty``,
    ``tcp:PORT``, ...) overrides ``serial.port`` of the config."""
    clock: Clock = SimClock() if virtual_clock else SystemClock()
    clock.wall_is_set = not clock_unset
    t0 = clock.monotonic()
    interactive = not headless and sys.stdin.isatty() and sys.stdout.isatty()
    panel = None
    if interactive:
        from sim.tui import Panel
        panel = Panel()
        listener = panel.listener
    else:
        def listener(kind: str, value: object) -> None:
            print(f"[{clock.monotonic() - t0:9.3f}] {describe(kind, value)}", flush=True)

    logging.getLogger("transitions").setLevel(logging.WARNING)
    log = logging.getLogger("bodycam")
    log.setLevel(logging.INFO)
    handler: logging.Handler = (panel.log_handler() if panel is not None
                                else logging.StreamHandler(sys.stdout))
    handler.setFormatter(_ClockFormatter(clock))
    log.addHandler(handler)
    log.propagate = False

    made = ensure_dev_force_key(config, data_dir)
    if made:
        log.warning(made)
    simulator = Simulator(config, data_dir, clock=clock, listener=listener)
    daemon = simulator.daemon

    def until() -> None:
        if exit_with_stdin:
            def orphaned() -> None:
                sys.stdin.read()
                daemon.post("shutdown", reason="the panel that started the simulator has gone")
            threading.Thread(target=orphaned, name="stdin", daemon=True).start()
        if panel is not None:
            panel.run(simulator)
        else:
            daemon.exit_requested.wait()

    def say(line: str) -> None:
        print(line, flush=True)

    cam = config.camera
    front = Front(
        say=say, banner=f"bodycam simulator: {cam.width}x{cam.height} at {cam.fps} fps, "
                        f"data in {data_dir}",
        ready=lambda path: f"control socket {path}  (try: bodycam status --data-dir "
                           f"{data_dir})",
        until=until)
    try:
        return serve(daemon, simulator.hw, config, data_dir, front, serial=serial,
                     extra=simulator.commands())
    finally:
        log.removeHandler(handler)


class SimFrontend:
    """``bodycam sim``, as the command line finds it: the ``sim`` entry point of
    ``bodycam.frontends`` (``pyproject.toml``)."""

    def run(self, config: Config, data_dir: Path, **options: Any) -> int:
        """In this process, headless or with the terminal panel: :func:`run_simulator`."""
        return run_simulator(config, data_dir, **options)

    def panel(self, config: Config, data_dir: Path, host: str | None = None,
              **options: Any) -> int:
        """The browser panel (``sim/web``), which runs :meth:`run` headless as its child;
        one that cannot start is a :class:`~device.runner.FrontendError`."""
        from sim.web.app import DEFAULT_HOST, run_panel
        from sim.web.panel import PanelError

        try:
            return run_panel(config, data_dir, host=host or DEFAULT_HOST, **options)
        except PanelError as exc:
            raise FrontendError(str(exc)) from None


#: What the entry point names.
frontend = SimFrontend()
