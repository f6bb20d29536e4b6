"""The Pi's buttons, dock sense and trigger inputs, reported as edges from gpiozero devices.

The backend reports edges only. Debounce, double-press and hold are firmware logic
(``device/gestures.py``), so the buttons are plain gpiozero
:class:`~gpiozero.DigitalInputDevice` objects without gpiozero's own bounce or hold handling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from gpiozero import DigitalInputDevice

from hal.inputs import Button, DockSensor


class PiButton(Button):
    """A HAL button fed by a GPIO input: activation is a press, deactivation a release."""

    def __init__(self, name: str, device: DigitalInputDevice) -> None:
        super().__init__(name)
        self.device = device
        device.when_activated = lambda: self._edge(True)
        device.when_deactivated = lambda: self._edge(False)


class PiDock(DockSensor):
    """Dock sense on a GPIO input; the state at start-up is read, not reported as a change."""

    def __init__(self, device: DigitalInputDevice | None) -> None:
        super().__init__()
        self.device = device
        if device is not None:
            self.is_docked = bool(device.is_active)
            device.when_activated = lambda: self._set(True)
            device.when_deactivated = lambda: self._set(False)


class TriggerInputs(Mapping[str, DigitalInputDevice]):
    """Auto-activation inputs by name (``holster``, ``taser``, ``lightbar``).

    Found in ``Hardware.extras["triggers"]``. Each input's activation calls
    ``when_triggered(name)`` on the gpiozero thread that saw the edge; the callback should only
    post an event. Releases are not reported: a trigger starts a recording, the officer stops it.
    """

    def __init__(self, inputs: dict[str, DigitalInputDevice]) -> None:
        self._inputs = inputs
        self.when_triggered: Callable[[str], None] | None = None
        for name, device in inputs.items():
            device.when_activated = lambda n=name: self._fire(n)

    def _fire(self, name: str) -> None:
        callback = self.when_triggered
        if callback is not None:
            callback(name)

    def active(self) -> list[str]:
        """Names of the inputs active right now (a holster already open at boot, say)."""
        return [name for name, device in self._inputs.items() if device.is_active]

    def __getitem__(self, name: str) -> DigitalInputDevice:
        return self._inputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)
