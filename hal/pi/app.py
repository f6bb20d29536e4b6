"""``bodycam run``: the daemon on the Raspberry Pi prototype, as systemd runs it.

Logs go to stderr (the journal under systemd). Once the camera has booted the daemon tells
systemd ``READY=1`` with its mode, keeps ``STATUS`` current and pings the watchdog while its
event loop answers; SIGTERM powers off cleanly (a recording is finalised and signed first).
"""

from __future__ import annotations

import logging
from pathlib import Path

from gpiozero.pins import Factory

from device.config import Config
from device.daemon import Daemon
from device.notify import Heartbeat, Notifier
from device.service import (
    announce_ready,
    describe_mode,
    open_consoles,
    power_off_on_signals,
    power_on,
)
from hal.camera import Camera
from hal.clock import Clock
from hal.pi.battery import SYSFS_POWER_SUPPLY
from hal.pi.encoder import PiEncoderFactory
from hal.pi.hardware import build_pi_hardware
from hal.pi.inputs import TriggerInputs

log = logging.getLogger("bodycam")


def responsive(daemon: Daemon) -> bool:
    """Blocks until the daemon has handled every event posted so far (a stuck event loop
    blocks it for good, and the watchdog pings stop); False once the camera is off."""
    daemon.events.join()
    return not daemon.powered_off.is_set()


def run_pi(config: Config, data_dir: Path, codec: str = "auto",
           pin_factory: Factory | None = None, clock: Clock | None = None,
           camera: Camera | None = None, notifier: Notifier | None = None,
           power_supply: Path = SYSFS_POWER_SUPPLY, serial: str | None = None) -> int:
    """Run until powered off (power button hold, ``bodycam shutdown``, SIGTERM). Every
    backend part may be injected; by default each is the board's own. ``serial`` overrides
    ``serial.port`` of the configuration."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    encoders = PiEncoderFactory(codec)
    chosen = encoders.resolve(config.encoder.codec)  # no usable encoder: one line, at once
    hw = build_pi_hardware(config, data_dir, pin_factory=pin_factory, clock=clock,
                           camera=camera, power_supply=power_supply, encoder=encoders)
    try:
        daemon = Daemon(hw, config, data_dir)
        consoles = open_consoles(daemon, data_dir, config, serial)
    except BaseException:
        hw.close()  # release the GPIOs and the camera for the next attempt
        raise
    triggers = hw.extras["triggers"]
    if isinstance(triggers, TriggerInputs):
        triggers.when_triggered = lambda name: daemon.post("trigger", name=name)
    log.info("bodycam on %s: %dx%d at %d fps, %s, data in %s", hw.camera.__class__.__name__,
             config.camera.width, config.camera.height, config.camera.fps,
             chosen, data_dir)
    power_on(daemon)
    consoles.start()
    if consoles.serial is not None:
        log.info("serial console %s", consoles.serial.url)
    notifier = announce_ready(daemon, notifier)
    heartbeat = Heartbeat(notifier, lambda: responsive(daemon), lambda: describe_mode(daemon))
    heartbeat.start()
    power_off_on_signals(daemon)
    log.info("%s; control socket %s", describe_mode(daemon), consoles.control.path)
    try:
        daemon.powered_off.wait()  # a real camera that is off runs no process
    finally:
        notifier.stopping("powering off")
        heartbeat.stop()
        consoles.stop()
        hw.close()
    log.info("camera off; footage in %s", data_dir / "recordings")
    return 0
