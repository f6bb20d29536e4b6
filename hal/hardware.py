"""The hardware bundle handed to the daemon: one object per device, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from hal.camera import Camera
from hal.clock import Clock
from hal.encoder import EncoderFactory, LibavEncoder
from hal.indicators import Buzzer, StatusLed, Vibration
from hal.inputs import BUTTON_NAMES, BatteryGauge, Button, DockSensor, Storage, Triggers
from hal.location import LocationReceiver
from hal.microphone import Microphone


@dataclass
class Hardware:
    """Everything the firmware may touch. Backends (``sim``, the Pi) build one of these."""

    name: str
    clock: Clock
    camera: Camera
    led: StatusLed
    buzzer: Buzzer
    vibration: Vibration
    buttons: dict[str, Button]
    dock: DockSensor
    battery: BatteryGauge
    storage: Storage
    #: Auto-activation inputs; a backend without any leaves the empty set.
    triggers: Triggers = field(default_factory=Triggers)
    #: Makes the H.264 encoder the pipeline runs (libav unless the backend has its own).
    encoder: EncoderFactory = LibavEncoder
    #: The GNSS receiver; None on a camera without one (its manifests then carry no track).
    location: LocationReceiver | None = None
    #: The microphone; None on a board without one. Not a silent default: a track of
    #: invented silence would claim that sound was recorded, so such a camera records picture
    #: only and its manifests carry no ``audio``.
    microphone: Microphone | None = None

    def __post_init__(self) -> None:
        missing = [name for name in BUTTON_NAMES if name not in self.buttons]
        if missing:
            raise ValueError(f"hardware {self.name!r} lacks buttons: {', '.join(missing)}")

    def close(self) -> None:
        """Stop the camera, the microphone, the receiver and the clock's thread."""
        self.camera.stop()
        if self.microphone is not None:
            self.microphone.stop()
        if self.location is not None:
            self.location.close()
        self.clock.close()
