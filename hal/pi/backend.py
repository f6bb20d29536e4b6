"""The Raspberry Pi backend as a plug-in: ``pi`` in the ``bodycam.backends`` entry points.

It reads the ``[pins]`` section (:mod:`hal.pi.pins`) and builds the board's devices
(:func:`hal.pi.hardware.build_pi_hardware`). Nothing here imports gpiozero or the camera
stack until :meth:`PiBackend.build`: the configuration loader loads this module for the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.backend import Setup
from hal.pi.pins import PinsSection, check_pins

if TYPE_CHECKING:  # the configuration loader loads this module: no numpy for it
    from hal.camera import Camera
    from hal.hardware import Hardware
    from hal.microphone import Microphone


class PiBackend:
    """``build`` takes the parts a test injects: ``pin_factory`` (gpiozero's ``MockFactory``),
    ``camera`` and ``power_supply`` (a sysfs power-supply directory)."""

    name = "pi"
    section = "pins"
    schema = PinsSection

    def check(self, section: Any, source: str) -> None:
        check_pins(section, source)

    def build(self, section: Any, setup: Setup, pin_factory: Any = None,
              camera: Camera | None = None, power_supply: Path | None = None,
              microphone: Microphone | None = None, **parts: Any) -> Hardware:
        if parts:
            raise TypeError(f"the pi backend takes no part {', '.join(sorted(parts))}")
        from hal.pi.battery import SYSFS_POWER_SUPPLY
        from hal.pi.encoder import PiEncoderFactory
        from hal.pi.hardware import build_pi_hardware

        return build_pi_hardware(section, setup, pin_factory=pin_factory, camera=camera,
                                 power_supply=SYSFS_POWER_SUPPLY if power_supply is None
                                 else power_supply, encoder=PiEncoderFactory(setup.codec),
                                 microphone=microphone)


#: What the entry point names.
backend = PiBackend()
