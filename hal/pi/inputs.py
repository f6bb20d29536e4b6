"""The Pi's buttons, dock sense and trigger inputs, reported as edges from gpiozero devices.

The backend reports edges only. Debounce, double-press and hold are firmware logic
(``device/gestures.py``), so the buttons are plain gpiozero
:class:`~gpiozero.DigitalInputDevice` objects without gpiozero's own bounce or hold handling.

Each edge is stamped with the moment the pin changed, not the moment gpiozero's callback thread
ran: gpiozero records the change's tick (the GPIO library's interrupt time on lgpio) before it
calls back, so :func:`edge_time` subtracts the edge's age from the clock's ``monotonic()``. Under
load the callback runs late but the stamp stays true, and the recogniser judges on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from gpiozero import DigitalInputDevice

from hal.inputs import Button, DockSensor, Triggers

Now = Callable[[], float]


def edge_time(device: DigitalInputDevice, now: Now | None) -> float | None:
    """When ``device`` last changed, on the scale of ``now`` (the clock's monotonic), from the
    tick gpiozero recorded for the change; None without a clock or a tick (the recogniser then
    stamps the edge on arrival). The age is never negative: a tick from the future is now."""
    if now is None:
        return None
    factory, tick = device.pin_factory, getattr(device, "_last_changed", None)
    if factory is None or tick is None:
        return now()
    try:
        age = float(factory.ticks_diff(factory.ticks(), tick))
    except (TypeError, ValueError, OverflowError):
        return now()
    return now() - max(0.0, age) if age == age else now()  # NaN: now


class PiButton(Button):
    """A HAL button fed by a GPIO input: activation is a press, deactivation a release."""

    def __init__(self, name: str, device: DigitalInputDevice, now: Now | None = None) -> None:
        super().__init__(name)
        self.device = device
        device.when_activated = lambda: self._edge(True, edge_time(device, now))
        device.when_deactivated = lambda: self._edge(False, edge_time(device, now))


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

    def __init__(self, inputs: dict[str, DigitalInputDevice], now: Now | None = None) -> None:
        super().__init__()
        self._inputs = inputs
        for name, device in inputs.items():
            device.when_activated = lambda n=name, d=device: self._fire(n, edge_time(d, now))

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
