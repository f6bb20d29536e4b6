"""The ``[pins]`` section: the Raspberry Pi prototype's wiring, the Pi backend's own schema.

Loaded by the configuration loader through the backend plug-in (``hal/pi/backend.py``), so it
imports no driver. Each key is checked against its range like any other; :func:`check_pins`
then checks the map as a whole.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hal.backend import SectionError, opt

#: BCM GPIO numbers on the 40-pin header; 0 or -1 means "not fitted".
_GPIO = (-1, 27)


@dataclass(frozen=True)
class PinsSection:
    """The Raspberry Pi prototype's wiring (BCM numbers); see README "Raspberry Pi prototype"."""

    record: int = opt(5, "Record button, BCM GPIO (header pin 29). Required.", *_GPIO)
    function: int = opt(6, "Function button (header pin 31). Required.", *_GPIO)
    power: int = opt(13, "Power button (header pin 33). Required.", *_GPIO)
    program: int = opt(19, "Programmable button (header pin 35). Required.", *_GPIO)
    inputs_pull_up: bool = opt(True, "Buttons and trigger inputs close to ground (internal "
                               "pull-up, active low); false: they drive the pin high.")
    led_red: int = opt(17, "Status LED red, the recording circle (header pin 11). Required.",
                       *_GPIO)
    led_green: int = opt(27, "Status LED green (header pin 13); 0 or -1: not fitted.", *_GPIO)
    led_blue: int = opt(22, "Status LED blue (header pin 15); 0 or -1: not fitted.", *_GPIO)
    led_active_high: bool = opt(True, "LED lit when its pin is high; false for a common-anode "
                                "RGB LED.")
    buzzer: int = opt(12, "Buzzer (header pin 32); 0 or -1: not fitted.", *_GPIO)
    buzzer_passive: bool = opt(True, "A passive buzzer, driven with tones by PWM; false: an "
                               "active buzzer that can only beep.")
    vibration: int = opt(23, "Vibration motor driver (header pin 16); 0 or -1: not fitted.",
                         *_GPIO)
    dock: int = opt(24, "Dock sense (header pin 18); 0 or -1: not fitted.", *_GPIO)
    dock_pull_up: bool = opt(False, "Dock contact closes to ground (pull-up, active low); "
                             "false: the dock drives the pin high through a divider.")
    trigger_holster: int = opt(25, "Holster sensor trigger input (header pin 22); 0 or -1: "
                               "not fitted.", *_GPIO)
    trigger_taser: int = opt(16, "Taser trigger input (header pin 36); 0 or -1: not fitted.",
                             *_GPIO)
    trigger_lightbar: int = opt(26, "Vehicle light bar trigger input (header pin 37); 0 or -1: "
                                "not fitted.", *_GPIO)
    gnss_port: str = opt("off", "GNSS module's serial port, read as NMEA 0183 (GGA, RMC) "
                         "directly rather than through gpsd: /dev/ttyUSB0, /dev/ttyAMA1 (a "
                         "second UART), a pyserial URL, or 'off' (no receiver: manifests "
                         "carry no track).")
    gnss_baudrate: int = opt(9600, "The GNSS module's speed (9600 for most u-blox modules).",
                             1200, 921600)


#: Pins the prototype cannot work without: the four buttons and the red recording LED.
REQUIRED_PINS = ("record", "function", "power", "program", "led_red")


def pin_keys(pins: PinsSection) -> dict[str, int]:
    """Every fitted pin by key (``record`` -> 5); booleans and unfitted pins left out."""
    return {f.name: getattr(pins, f.name) for f in dataclasses.fields(pins)
            if type(f.default) is int and not f.name.startswith("gnss_")
            and getattr(pins, f.name) > 0}


def check_pins(pins: PinsSection, source: str) -> None:
    """A required pin that is not fitted, or two keys on one GPIO, is a :class:`SectionError`
    (the loader reports it as a ``ConfigError``)."""
    fitted = pin_keys(pins)
    for key in REQUIRED_PINS:
        if key not in fitted:
            raise SectionError(f"{source}: pins.{key} is required, got {getattr(pins, key)} "
                               f"(not fitted); give its BCM GPIO number")
    port = pins.gnss_port
    if port != "off" and not (port.startswith("/dev/") or "://" in port):
        raise SectionError(f"{source}: pins.gnss_port must be a device such as /dev/ttyUSB0, "
                           f"a pyserial URL or 'off', got {port!r}")
    owner: dict[int, str] = {}
    for key, gpio in fitted.items():
        if gpio in owner:
            raise SectionError(f"{source}: pins.{key} uses BCM {gpio}, already taken by "
                               f"pins.{owner[gpio]}")
        owner[gpio] = key
