"""Build the simulator's :class:`hal.hardware.Hardware` bundle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hal.clock import Clock
from hal.encoder import EncoderFactory, LibavEncoder
from hal.hardware import Hardware
from hal.inputs import BUTTON_NAMES
from sim.camera import SimCamera
from sim.devices import (
    SimBattery,
    SimButton,
    SimBuzzer,
    SimDock,
    SimLed,
    SimStorage,
    SimVibration,
)
from sim.location import SimLocation
from sim.microphone import SimMicrophone


def build_sim_hardware(clock: Clock, data_dir: Path, width: int, height: int, fps: float,
                       listener: Callable[[str, object], None] | None = None,
                       encoder: EncoderFactory = LibavEncoder,
                       audio: tuple[int, int] | None = (48000, 1)) -> Hardware:
    """Every device simulated; ``listener(kind, value)`` hears each LED, tone and vibration.
    ``audio``: the microphone's (rate, channels), or None for a camera without one. The data
    directory must exist (the harness makes it, the owner's only)."""
    camera = SimCamera(clock, width, height, fps)
    return Hardware(
        name="sim",
        clock=clock,
        camera=camera,
        microphone=None if audio is None else SimMicrophone(clock, *audio, camera=camera),
        led=SimLed(clock, listener),
        buzzer=SimBuzzer(clock, listener),
        vibration=SimVibration(clock, listener),
        buttons={name: SimButton(name, clock) for name in BUTTON_NAMES},
        dock=SimDock(),
        battery=SimBattery(),
        storage=SimStorage(str(data_dir)),
        encoder=encoder,
        location=SimLocation(clock),
    )
