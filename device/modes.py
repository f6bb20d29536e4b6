"""The mode table: the camera's states and the transitions between them, as data.

Read it as a table: each row is (event, from, to). The daemon (``device/daemon.py``) owns the one
queued :class:`transitions.Machine` built from it and reacts to entering and leaving modes.
"""

from __future__ import annotations

STATES = ["off", "booting", "standby", "buffering", "recording", "fault", "shutting_down"]

#: Modes in which the sensor runs and frames flow.
CAMERA_ON = {"buffering", "recording"}

TRANSITIONS: list[dict[str, object]] = [
    # event               from                                   to
    {"trigger": "power_on", "source": "off", "dest": "booting"},
    {"trigger": "boot_ok", "source": "booting", "dest": "buffering"},
    {"trigger": "boot_failed", "source": "booting", "dest": "fault"},
    {"trigger": "start_recording", "source": ["buffering", "standby"], "dest": "recording"},
    {"trigger": "stop_recording", "source": "recording", "dest": "buffering"},
    {"trigger": "sleep", "source": "buffering", "dest": "standby"},
    {"trigger": "wake", "source": "standby", "dest": "buffering"},
    {"trigger": "fail", "source": ["booting", "standby", "buffering", "recording"],
     "dest": "fault"},
    {"trigger": "power_off", "source": ["booting", "standby", "buffering", "recording", "fault"],
     "dest": "shutting_down"},
    {"trigger": "halted", "source": "shutting_down", "dest": "off"},
]
