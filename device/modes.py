"""The mode table: the camera's modes and the transitions between them, as data.

Read it as a table: each row is (event, from, to[, only if]). The daemon (``device/daemon.py``)
owns the one queued :class:`transitions.Machine` built from it and reacts to entering and
leaving modes. Flags (stealth, muted, low battery, storage low, clock not set) are not modes:
they hold across modes and live in the daemon.

Documented choices where the field reference is silent:

- docking while recording does not stop the recording; the camera docks when it stops;
- a record gesture while docked starts nothing (the camera is charging and uploading);
- a fault the camera can see clear (camera back, storage freed) returns it to buffering.
"""

from __future__ import annotations

STATES = ["off", "booting", "standby", "buffering", "recording", "docked", "fault",
          "shutting_down"]

#: Modes in which the sensor runs and frames flow.
CAMERA_ON = {"buffering", "recording"}
ON = [s for s in STATES if s not in ("off", "shutting_down")]

TRANSITIONS: list[dict[str, object]] = [
    {"trigger": "power_on", "source": "off", "dest": "booting"},
    {"trigger": "boot_ok", "source": "booting", "dest": "docked", "conditions": "dock_present"},
    {"trigger": "boot_ok", "source": "booting", "dest": "buffering"},
    {"trigger": "boot_failed", "source": "booting", "dest": "fault"},
    {"trigger": "start_recording", "source": ["buffering", "standby"], "dest": "recording"},
    {"trigger": "stop_recording", "source": "recording", "dest": "docked",
     "conditions": "dock_present"},
    {"trigger": "stop_recording", "source": "recording", "dest": "buffering"},
    {"trigger": "sleep", "source": "buffering", "dest": "standby"},
    {"trigger": "wake", "source": "standby", "dest": "buffering"},
    {"trigger": "dock", "source": ["buffering", "standby"], "dest": "docked"},
    {"trigger": "undock", "source": "docked", "dest": "buffering"},
    {"trigger": "fail", "source": ["booting", "standby", "buffering", "recording", "docked"],
     "dest": "fault"},
    {"trigger": "recover", "source": "fault", "dest": "docked", "conditions": "dock_present"},
    {"trigger": "recover", "source": "fault", "dest": "buffering"},
    {"trigger": "power_off", "source": ON, "dest": "shutting_down"},
    {"trigger": "halted", "source": "shutting_down", "dest": "off"},
]
