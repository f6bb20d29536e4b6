"""The Raspberry Pi backend: gpiozero devices from the ``[pins]`` map, picamera2 or a V4L2
camera, the sysfs battery gauge and the data directory's filesystem.

The plug-in is :data:`hal.pi.backend.backend` (entry point ``pi``); ``bodycam run`` finds it
by name and runs the daemon on what it builds (``device/runner.py``).
``build_pi_hardware(pins, setup, pin_factory=None, ...)`` returns the
:class:`hal.hardware.Hardware` bundle, its trigger inputs in ``hardware.triggers``
(:class:`hal.pi.inputs.TriggerInputs`). The names below load on first use, so that the
configuration loader, which loads the plug-in for its schema, imports no driver.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"choose_encoder": "hal.pi.encoder", "PiSetupError": "hal.pi.errors",
         "PiHardware": "hal.pi.hardware", "build_pi_hardware": "hal.pi.hardware"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
