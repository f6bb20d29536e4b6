"""Input devices: the four buttons, the dock sensor, the trigger inputs, the battery gauge and
the storage.

Inputs report edges through callbacks the daemon sets (``when_pressed``/``when_released``,
``when_changed``), the way gpiozero's devices do. Callbacks run on the backend's thread and only
post events to the daemon. A button's edge and a trigger's firing carry the moment they happened
on the clock's monotonic scale (``when_edge(pressed, t)``, ``when_triggered_at(name, t)``), so
that a thread late under load does not change what a press meant; None means "now, as the
callback runs" (a backend that cannot tell). Gesture recognition (debounce, double-press,
hold) is firmware logic and lives in ``device/gestures.py``, so it behaves the same on every
backend.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable

BUTTON_NAMES = ("record", "function", "power", "program")


#: Called with (pressed, t): t is when the contact changed (monotonic), None for "now".
EdgeCallback = Callable[[bool, "float | None"], None]


class Button:
    """A momentary push button. A backend calls :meth:`_edge` when the contact changes, with
    the moment it changed when it knows it (a GPIO interrupt's tick, a scheduled press)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_pressed = False
        self.when_pressed: Callable[[], None] | None = None
        self.when_released: Callable[[], None] | None = None
        #: the stamped callback: set, it is called instead of when_pressed/when_released
        self.when_edge: EdgeCallback | None = None

    def _edge(self, pressed: bool, t: float | None = None) -> None:
        self.is_pressed = pressed
        stamped = self.when_edge
        if stamped is not None:
            stamped(pressed, t)
            return
        callback = self.when_pressed if pressed else self.when_released
        if callback is not None:
            callback()


class DockSensor:
    """Reports whether the camera sits in its dock. A backend calls :meth:`_set`."""

    def __init__(self) -> None:
        self.is_docked = False
        self.when_changed: Callable[[bool], None] | None = None

    def _set(self, docked: bool) -> None:
        if docked == self.is_docked:
            return
        self.is_docked = docked
        if self.when_changed is not None:
            self.when_changed(docked)


class Triggers:
    """Auto-activation inputs by name (``holster``, ``taser``, ``lightbar``). A backend calls
    :meth:`_fire` on an input's activation; releases are not reported (a trigger starts a
    recording, the officer stops it). This base has no inputs: a backend without any."""

    def __init__(self) -> None:
        self.when_triggered: Callable[[str], None] | None = None
        #: the stamped callback (name, t: when it fired, None for now); set, it is called
        #: instead of when_triggered
        self.when_triggered_at: Callable[[str, float | None], None] | None = None

    def _fire(self, name: str, t: float | None = None) -> None:
        stamped = self.when_triggered_at
        if stamped is not None:
            stamped(name, t)
            return
        callback = self.when_triggered
        if callback is not None:
            callback(name)

    def names(self) -> list[str]:
        """Every input fitted, active or not."""
        return []

    def active(self) -> list[str]:
        """Names of the inputs active right now (a holster already open at boot, say)."""
        return []


class BatteryGauge(ABC):
    """State of charge. A backend must override :meth:`percent`; :meth:`charging` may be."""

    @abstractmethod
    def percent(self) -> float:
        """Remaining charge, 0-100."""

    def charging(self) -> bool:
        return False


class Storage(ABC):
    """The medium footage is written to."""

    def __init__(self, path: str) -> None:
        self.path = path

    @abstractmethod
    def free_bytes(self) -> int:
        """Bytes that can still be written."""

    def self_test(self) -> str | None:
        """Return None when the medium is writable, else a one-line reason."""
        if not os.access(self.path, os.W_OK):
            return f"storage {self.path} is not writable"
        return None


class FilesystemStorage(Storage):
    """Free space of the filesystem holding ``path`` (the Pi's SD card, a developer's disk)."""

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize
