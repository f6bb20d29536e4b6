"""Build the Raspberry Pi's :class:`hal.hardware.Hardware` bundle from the ``[pins]`` map.

Every gpiozero device is made on the injected pin factory (gpiozero's own default when none is
given: lgpio on Raspberry Pi OS Bookworm; a ``MockFactory`` in tests). A pin map that leaves out
a required pin or uses one GPIO twice is a :class:`hal.backend.SectionError`; a pin gpiozero
refuses is a :class:`PiSetupError` naming the key. Either way nothing stays reserved.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gpiozero import (
    LED,
    RGBLED,
    BadPinFactory,
    Buzzer,
    Device,
    DigitalInputDevice,
    DigitalOutputDevice,
    PinFactoryFallback,
    PinPWMUnsupported,
    TonalBuzzer,
)
from gpiozero.pins import Factory

from hal.backend import Setup
from hal.camera import Camera
from hal.clock import Clock, SystemClock
from hal.encoder import EncoderFactory, LibavEncoder
from hal.hardware import Hardware
from hal.indicators import StatusLed
from hal.inputs import BUTTON_NAMES, FilesystemStorage
from hal.microphone import Microphone
from hal.pi.battery import SYSFS_POWER_SUPPLY, SysfsBattery
from hal.pi.camera import CameraUnavailable, MissingCamera, open_camera
from hal.pi.errors import PiSetupError
from hal.pi.gnss import SerialGnss
from hal.pi.indicators import DIES, PiBuzzer, PiVibration, RgbStatusLed, SeparateStatusLed
from hal.pi.inputs import PiButton, PiDock, TriggerInputs
from hal.pi.microphone import open_microphone
from hal.pi.pins import PinsSection, check_pins, pin_keys

log = logging.getLogger(__name__)

D = TypeVar("D", bound=Device)

#: A passive buzzer's range: three octaves either side of A4 (55 Hz to 3.52 kHz).
BUZZER_OCTAVES = 3
TRIGGER_PREFIX = "trigger_"


@dataclass
class PiHardware(Hardware):
    """The bundle plus the gpiozero devices it owns, released by :meth:`close`."""

    devices: list[Device] = field(default_factory=list)

    def close(self) -> None:
        for output in (self.buzzer, self.vibration):
            if isinstance(output, PiBuzzer | PiVibration):
                output.sequencer.stop()
        super().close()
        close_camera = getattr(self.camera, "close", None)
        if close_camera is not None:
            close_camera()
        for device in reversed(self.devices):
            device.close()
        self.devices.clear()


def _replay_except_fallbacks(caught: list[warnings.WarningMessage]) -> list[str]:
    """Hand every warning but gpiozero's pin-factory fallbacks on; return those fallbacks'
    texts ("Falling back from lgpio: ..."), which say why the default factory failed."""
    fallbacks = []
    for w in caught:
        if issubclass(w.category, PinFactoryFallback):
            fallbacks.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return fallbacks


def _no_gpio(exc: BadPinFactory, fallbacks: list[str]) -> str:
    """What actually failed: lgpio missing, or lgpio present but failing (for example without a
    writable working directory for its notification pipe: gpiozero #1106, lg #22)."""
    lgpio = next((f.split(":", 1)[1].strip() for f in fallbacks
                  if f.startswith("Falling back from lgpio:")), None)
    if lgpio is None or "No module named 'lgpio'" in lgpio:
        why = f"lgpio: {lgpio}" if lgpio else str(exc)
        return (f"no GPIO access ({why}); on a Raspberry Pi install python3-lgpio, elsewhere "
                f"set GPIOZERO_PIN_FACTORY=mock")
    if ".lgd-nfy" in lgpio:
        where = os.environ.get("LG_WD") or os.getcwd()
        return (f"no GPIO access: lgpio cannot open its notification pipe in {where} "
                f"({lgpio}); it needs a writable working directory (WorkingDirectory= in "
                f"the systemd unit, or LG_WD)")
    return f"no GPIO access: lgpio failed: {lgpio}"


class _Gpio:
    """Makes gpiozero devices on one pin factory, remembering them so a failure frees all."""

    def __init__(self, pins: PinsSection, factory: Factory | None) -> None:
        self.pins = pins
        self.factory = factory
        self.devices: list[Device] = []

    def make(self, keys: tuple[str, ...], build: Callable[..., D], **kwargs: Any) -> D:
        numbers = [getattr(self.pins, key) for key in keys]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    device = build(*numbers, pin_factory=self.factory, **kwargs)
                finally:
                    fallbacks = _replay_except_fallbacks(caught)
        except BadPinFactory as exc:
            raise PiSetupError(_no_gpio(exc, fallbacks)) from None
        except Exception as exc:  # gpiozero, lgpio and RPi.GPIO each raise their own
            names = ", ".join(f"pins.{key} (BCM {n})" for key, n in zip(keys, numbers,
                                                                        strict=True))
            raise PiSetupError(f"{names}: {_reason(exc)}") from None
        self.devices.append(device)
        return device

    def fitted(self, key: str) -> bool:
        return getattr(self.pins, key) > 0

    def close(self) -> None:
        for device in reversed(self.devices):
            with contextlib.suppress(Exception):
                device.close()
        self.devices.clear()


def _reason(exc: Exception) -> str:
    if isinstance(exc, PinPWMUnsupported):
        return "this GPIO cannot do PWM (set pins.buzzer_passive = false for an active buzzer)"
    return str(exc) or type(exc).__name__


def _status_led(gpio: _Gpio) -> StatusLed:
    pins = gpio.pins
    keys = tuple(f"led_{die}" for die in DIES)
    if all(gpio.fitted(key) for key in keys):
        return RgbStatusLed(gpio.make(keys, RGBLED, active_high=pins.led_active_high, pwm=False))
    return SeparateStatusLed({key.removeprefix("led_"): gpio.make(
        (key,), LED, active_high=pins.led_active_high) for key in keys if gpio.fitted(key)})


def _buzzer(gpio: _Gpio, clock: Clock) -> PiBuzzer:
    if not gpio.fitted("buzzer"):
        return PiBuzzer(clock, None)
    if gpio.pins.buzzer_passive:
        return PiBuzzer(clock, gpio.make(("buzzer",), TonalBuzzer, octaves=BUZZER_OCTAVES))
    return PiBuzzer(clock, gpio.make(("buzzer",), Buzzer))


def _optional(gpio: _Gpio, key: str, build: Callable[..., D], **kwargs: Any) -> D | None:
    return gpio.make((key,), build, **kwargs) if gpio.fitted(key) else None


def build_pi_hardware(pins: PinsSection, setup: Setup, pin_factory: Factory | None = None,
                      camera: Camera | None = None,
                      power_supply: Path = SYSFS_POWER_SUPPLY,
                      encoder: EncoderFactory = LibavEncoder,
                      microphone: Microphone | None = None) -> PiHardware:
    """Every device of the prototype. ``camera`` replaces :func:`open_camera`'s choice; when no
    camera is found the bundle gets a :class:`MissingCamera` and the daemon boots into fault.
    ``microphone`` likewise replaces the ALSA device ``audio.device`` names (none at all when
    ``audio.enabled`` is false); one that cannot be opened is a :class:`MissingMicrophone`."""
    check_pins(pins, "configuration")
    data_dir = setup.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    gpio = _Gpio(pins, pin_factory)
    own_clock = setup.clock is None
    clock = SystemClock() if setup.clock is None else setup.clock
    pull_up = pins.inputs_pull_up
    try:
        buttons = {name: PiButton(name, gpio.make((name,), DigitalInputDevice, pull_up=pull_up),
                            clock.monotonic)
                   for name in BUTTON_NAMES}
        led = _status_led(gpio)
        buzzer = _buzzer(gpio, clock)
        vibration = PiVibration(clock, _optional(gpio, "vibration", DigitalOutputDevice))
        dock = PiDock(_optional(gpio, "dock", DigitalInputDevice, pull_up=pins.dock_pull_up))
        triggers = TriggerInputs({
            key.removeprefix(TRIGGER_PREFIX): gpio.make((key,), DigitalInputDevice,
                                                        pull_up=pull_up)
            for key in pin_keys(pins) if key.startswith(TRIGGER_PREFIX)}, clock.monotonic)
    except BaseException:
        gpio.close()
        if own_clock:
            clock.close()
        raise
    if camera is None:
        try:
            camera = open_camera(clock, setup.width, setup.height, setup.fps)
        except CameraUnavailable as exc:
            log.error("%s", exc)
            camera = MissingCamera(str(exc), setup.width, setup.height, setup.fps)
    if microphone is None and setup.audio:
        microphone = open_microphone(clock, setup.audio_device, setup.audio_rate,
                                     setup.audio_channels)
    return PiHardware(
        name="pi", clock=clock, camera=camera, microphone=microphone, led=led, buzzer=buzzer,
        vibration=vibration, buttons=dict(buttons), dock=dock,
        battery=SysfsBattery(power_supply),
        storage=FilesystemStorage(str(data_dir)), triggers=triggers, encoder=encoder,
        devices=gpio.devices, location=None if pins.gnss_port == "off"
        else SerialGnss(clock, pins.gnss_port, pins.gnss_baudrate))
