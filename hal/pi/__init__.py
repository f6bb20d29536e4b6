"""The Raspberry Pi backend: gpiozero devices from the ``[pins]`` map, picamera2 or a V4L2
camera, the sysfs battery gauge and the data directory's filesystem.

``build_pi_hardware(config, data_dir, pin_factory=None, ...)`` returns the
:class:`hal.hardware.Hardware` bundle; ``hal.pi.app.run_pi`` runs the daemon on it
(``bodycam run``). Trigger inputs are in ``hardware.extras["triggers"]``
(:class:`hal.pi.inputs.TriggerInputs`).
"""

from hal.pi.encoder import choose_encoder
from hal.pi.errors import PiSetupError
from hal.pi.hardware import PiHardware, build_pi_hardware

__all__ = ["PiHardware", "PiSetupError", "build_pi_hardware", "choose_encoder"]
