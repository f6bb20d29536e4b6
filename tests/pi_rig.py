"""A Raspberry Pi without a Pi: gpiozero's mock pin factory, pins a test can wait on."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.config import Config
from device.runner import build_hardware
from hal.backend import find
from hal.clock import Clock
from hal.pi.hardware import PiHardware


class WatchedPin(MockPWMPin):
    """A mock PWM pin that wakes waiters on every state change (gpiozero's blink runs on its
    own thread, so a test waits for the changes instead of sleeping)."""

    changed = threading.Condition()

    def _change_state(self, value: object) -> bool:
        with WatchedPin.changed:
            result = super()._change_state(value)
            WatchedPin.changed.notify_all()
        return result


def mock_factory() -> MockFactory:
    return MockFactory(pin_class=WatchedPin)


def wait_states(pin: WatchedPin, count: int, timeout: float = 5.0) -> None:
    """Wait until ``pin``'s state log has ``count`` entries (the first is its state at start)."""
    with WatchedPin.changed:
        if not WatchedPin.changed.wait_for(lambda: len(pin.states) >= count, timeout):
            raise AssertionError(f"pin saw {len(pin.states)} states, expected {count}: "
                                 f"{pin.states}")


def pi_hardware(config: Config, data_dir: Path, clock: Clock | None = None,
                **parts: Any) -> PiHardware:
    """The Pi backend, found by name as ``bodycam run`` finds it, built from ``config``'s
    ``[pins]`` on the parts a test injects (``pin_factory``, ``camera``, ``power_supply``)."""
    hw = build_hardware(find("pi"), config, data_dir, clock, **parts)
    assert isinstance(hw, PiHardware)
    return hw
