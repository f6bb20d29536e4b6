"""The one run sequence, whatever the backend: the daemon on a backend's hardware, the consoles,
systemd's notify protocol and watchdog, signals, shutdown, and the hardware released.

``bodycam run`` is :func:`run`: it finds the backend by name (``hal/backend.py``; the Pi's by
default), builds its :class:`~hal.hardware.Hardware` from the backend's own configuration
section and logs to stderr (the journal under systemd). ``bodycam sim --headless`` and
``--tui`` build the simulator's hardware and daemon in-process (``sim/simulator.py``) and hand
them to :func:`serve` with their own :class:`Front`. Once the camera has booted the daemon
tells systemd ``READY=1`` with its mode, keeps ``STATUS`` current and pings the watchdog while
its event loop answers; SIGTERM powers off cleanly (a recording is finalised and signed first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from device.config import Config, ConfigError
from device.control import Handler
from device.daemon import Daemon
from device.notify import Heartbeat, Notifier
from device.service import (
    announce_ready,
    describe_mode,
    open_consoles,
    power_off_on_signals,
    power_on,
)
from hal.backend import Backend, SectionError, Setup, find
from hal.clock import Clock
from hal.encoder import codec_for
from hal.hardware import Hardware

log = logging.getLogger("bodycam")

#: ``bodycam run`` without ``--backend``: the board this firmware ships on.
DEFAULT_BACKEND = "pi"
#: Programs that run the firmware their own way (``bodycam sim``'s simulator front end and
#: browser panel), found by name like backends, so the command line imports none of them.
FRONTENDS = "bodycam.frontends"


class FrontendError(Exception):
    """A front end could not start (its port is taken, say); one line for the terminal."""


def frontend(name: str) -> Any:
    """The front end an entry point of :data:`FRONTENDS` names; missing, one line."""
    for point in entry_points(group=FRONTENDS, name=name):
        return point.load()
    raise FrontendError(f"no {name!r} front end is installed (the {FRONTENDS!r} entry points "
                        f"come with the package: run make)")


def build_hardware(backend: Backend, config: Config, data_dir: Path, clock: Clock | None = None,
                   codec: str = "auto", **parts: Any) -> Hardware:
    """The backend's bundle, from its own section and the camera's mode; ``codec`` is
    ``--codec`` (``auto``: the backend's encoder factory picks the board's). A section the
    backend refuses as a whole is a :class:`ConfigError`, as from the loader."""
    section = getattr(config, backend.section) if backend.section else None
    cam = config.camera
    setup = Setup(data_dir=data_dir, width=cam.width, height=cam.height, fps=cam.fps,
                  clock=clock, codec=codec, audio=config.audio.enabled,
                  audio_rate=config.audio.rate, audio_channels=config.audio.channels,
                  audio_device=config.audio.device)
    try:
        return backend.build(section, setup, **parts)
    except SectionError as exc:
        raise ConfigError(str(exc)) from None


def responsive(daemon: Daemon) -> bool:
    """Blocks until the daemon has handled every event posted so far (a stuck event loop
    blocks it for good, and the watchdog pings stop); False once the camera is off."""
    daemon.events.join()
    return not daemon.powered_off.is_set()


@dataclass
class Front:
    """What differs between front ends: where lines go (``say``), the line that opens (once
    the consoles are open), the line that means "ready" (given the control socket's path;
    the browser panel waits for the simulator's) and what the run waits on until it ends."""

    say: Callable[[str], None]
    banner: str
    ready: Callable[[Path], str]
    until: Callable[[], object]


def serve(daemon: Daemon, hw: Hardware, config: Config, data_dir: Path, front: Front,
          serial: str | None = None, extra: dict[str, Handler] | None = None,
          notifier: Notifier | None = None) -> int:
    """Run the daemon on ``hw`` until ``front.until`` returns, then power down and release
    the hardware. A console that cannot open is one :class:`~device.control.ControlError`
    line, and leaves the hardware released. ``serial`` overrides ``serial.port``."""
    try:
        consoles = open_consoles(daemon, data_dir, config, serial, extra)
    except BaseException:
        hw.close()  # release the GPIOs and the camera for the next attempt
        raise
    front.say(front.banner)
    power_on(daemon)  # booted: the ready line below means it
    consoles.start()
    if consoles.serial is not None:
        front.say(f"serial console {consoles.serial.url}")
    notifier = announce_ready(daemon, notifier)
    heartbeat = Heartbeat(notifier, lambda: responsive(daemon), lambda: describe_mode(daemon))
    heartbeat.start()
    power_off_on_signals(daemon)
    front.say(front.ready(consoles.control.path))
    try:
        front.until()
    finally:
        notifier.stopping("powering off")
        heartbeat.stop()
        consoles.stop()
        hw.close()
    front.say(f"camera off; footage in {data_dir / 'recordings'}")
    return 0


def run(config: Config, data_dir: Path, backend: str = DEFAULT_BACKEND, codec: str = "auto",
        clock: Clock | None = None, notifier: Notifier | None = None,
        serial: str | None = None, **parts: Any) -> int:
    """``bodycam run``: until powered off (power button hold, ``bodycam shutdown``, SIGTERM);
    a camera that is off runs no process. ``parts`` go to the backend's ``build`` (a test's
    ``pin_factory``, ``camera``, ``power_supply``). An unknown backend, or hardware that
    cannot be brought up, is one :class:`~hal.backend.BackendError` line."""
    chosen = find(backend)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    hw = build_hardware(chosen, config, data_dir, clock, codec, **parts)
    try:
        opened = codec_for(hw.encoder, config.encoder.codec)  # none usable: one line, now
        daemon = Daemon(hw, config, data_dir)
    except BaseException:
        hw.close()
        raise
    cam = config.camera
    front = Front(
        say=log.info,
        banner=f"bodycam on {hw.camera.__class__.__name__}: {cam.width}x{cam.height} at "
               f"{cam.fps} fps, {opened}, data in {data_dir}",
        ready=lambda path: f"{describe_mode(daemon)}; control socket {path}",
        until=daemon.powered_off.wait)
    return serve(daemon, hw, config, data_dir, front, serial=serial, notifier=notifier)
