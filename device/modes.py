"""The mode table: the camera's modes, the transitions between them, and every action, as data.

Read it as a table: each row is a dict of :class:`transitions.Machine` keywords: ``trigger``
(the event), ``source`` (the modes it applies in), ``dest`` (the mode it goes to) and, where it
applies only sometimes, ``conditions`` (a check on the daemon). Of the rows for one trigger the
first whose conditions hold is taken. An action that keeps the mode (a marker, mute, stealth,
asking for and confirming a stop) is a row with ``dest`` None, an internal transition, whose
``after`` names what the daemon does. So ``may_<trigger>()`` answers for mode changes and
actions alike: a gesture or command no row allows now does nothing and is audited as refused.

The daemon (``device/daemon.py``) owns the one queued machine built from it and reacts to
entering and leaving modes. Flags (stealth, muted, low battery, storage low, clock not set)
are not modes: they hold across modes and live in the daemon.

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

#: Mode changes.
MODE_CHANGES: list[dict[str, object]] = [
    {"trigger": "power_on", "source": "off", "dest": "booting", "before": "powering_on"},
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

#: Actions: the mode stays; ``after`` is what the daemon does.
ACTIONS: list[dict[str, object]] = [
    {"trigger": "marker", "source": "recording", "dest": None, "conditions": "recording_open",
     "after": "place_marker"},
    {"trigger": "toggle_mute", "source": ON, "dest": None, "after": "toggle_muted"},
    {"trigger": "toggle_stealth", "source": ON, "dest": None, "after": "toggle_stealthy"},
    # PROGRAM hold with gestures.program_hold = "standby": sleep or wake
    {"trigger": "toggle_standby", "source": ["buffering", "standby"], "dest": None,
     "after": "sleep_or_wake"},
    # RECORD hold with gestures.confirm_stop: the stop waits for a RECORD press
    {"trigger": "request_stop", "source": "recording", "dest": None, "after": "ask_to_confirm"},
    {"trigger": "confirm_stop", "source": "recording", "dest": None, "conditions": "stop_pending",
     "after": "stop_confirmed"},
    {"trigger": "stop_expired", "source": "recording", "dest": None, "conditions": "stop_pending",
     "after": "stop_lapsed"},
    # docked mid-recording: it docks when the recording stops
    {"trigger": "dock", "source": "recording", "dest": None, "after": "dock_when_stopped"},
]

TRANSITIONS: list[dict[str, object]] = MODE_CHANGES + ACTIONS
