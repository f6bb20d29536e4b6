"""The Pi's buttons, dock sense and trigger inputs, reported as edges from gpiozero devices.

The backend reports edges only. Debounce, double-press and hold are firmware logic
(``device/gestures.py``), so the buttons are plain gpiozero
:class:`~gpiozero.DigitalInputDevice` objects without gpiozero's own bounce or hold handling.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gpiozero import DigitalInputDevice

from hal.inputs import Button, DockSensor, Triggers


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


class TriggerInputs(Triggers, Mapping[str, DigitalInputDevice]):
    """The trigger inputs on GPIOs, by name: ``Hardware.triggers`` on the Pi. Each input's
    activation calls ``when_triggered(name)`` on the gpiozero thread that saw the edge; the
    callback should only post an event."""

    def __init__(self, inputs: dict[str, DigitalInputDevice]) -> None:
        super().__init__()
        self._inputs = inputs
        for name, device in inputs.items():
            device.when_activated = lambda n=name: self._fire(n)

    def names(self) -> list[str]:
        return list(self._inputs)

    def active(self) -> list[str]:
        return [name for name, device in self._inputs.items() if device.is_active]

    def __getitem__(self, name: str) -> DigitalInputDevice:
        return self._inputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)
