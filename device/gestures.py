"""The gesture table, and the recogniser that turns button edges into gestures.

Start and stop are deliberately different gestures (double-press versus a 3 s hold) so that a
brush against the button does neither. Buttons whose table has no double-press report a press at
release, without waiting out the double-press window.

Ambiguity has one documented meaning each:

- two or more buttons down at once (a chord, or the camera pressed against something) produce
  no gesture from any of them; each button starts afresh at its next press after release. The
  safe direction is "nothing changes": a recording is never stopped or started by a bump;
- a press followed within the window by a hold is a hold; a triple press is a double-press
  followed by a press;
- edges closer together than ``debounce_s`` are contact bounce and ignored.

Recognition is firmware logic, so it runs the same on every backend: HAL callbacks and injected
presses (control socket, serial console) feed :meth:`GestureRecognizer.edge`; timers come from
the injected clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from device.config import GestureSection
from hal.clock import Clock, Timer
from hal.inputs import BUTTON_NAMES

GESTURE_KINDS = ("press", "double", "hold")

#: (button, gesture) -> the daemon event it means.
GESTURES: dict[tuple[str, str], str] = {
    ("record", "double"): "start_recording",
    ("record", "hold"): "stop_recording",
    ("function", "press"): "marker",
    ("function", "hold"): "toggle_mute",
    ("power", "press"): "power_on",
    ("power", "hold"): "power_off",
    ("program", "hold"): "toggle_stealth",
}



def action_for(config: GestureSection, button: str, kind: str, stop_pending: bool = False
               ) -> str | None:
    """What a gesture asks for: the table, as the configuration refines it (a stop that waits
    for its confirmation, PROGRAM hold for standby) and while a stop waits for that press.
    Whether the mode allows it now is the mode table's answer (``device/modes.py``)."""
    if (button, kind) == ("record", "press") and stop_pending:
        return "confirm_stop"
    if (button, kind) == ("record", "hold") and config.confirm_stop:
        return "request_stop"
    if (button, kind) == ("program", "hold") and config.program_hold == "standby":
        return "toggle_standby"
    return GESTURES.get((button, kind))


#: How long an injected short press lasts, and the gap between the two presses of a double.
TAP_S = 0.1
DOUBLE_GAP_S = 0.15
#: An injected hold lasts this much longer than ``gestures.hold_s``.
HOLD_MARGIN_S = 0.05


def hold_seconds(config: GestureSection) -> float:
    """How long to hold a button so that it is a hold under ``config``."""
    return config.hold_s + HOLD_MARGIN_S


def press_script(kind: str, hold_s: float) -> list[tuple[float, bool]]:
    """Edges (offset in seconds, pressed) that perform ``kind``; ``hold_s`` is a hold's length."""
    if kind == "press":
        return [(0.0, True), (TAP_S, False)]
    if kind == "double":
        second = TAP_S + DOUBLE_GAP_S
        return [(0.0, True), (TAP_S, False), (second, True), (second + TAP_S, False)]
    if kind == "hold":
        return [(0.0, True), (hold_s, False)]
    raise ValueError(f"unknown gesture {kind!r} (expected one of: {', '.join(GESTURE_KINDS)})")


@dataclass
class _ButtonState:
    has_double: bool
    down: bool = False
    last_edge: float = float("-inf")
    taps: int = 0
    held: bool = False
    chorded: bool = False
    down_at: float = 0.0
    raw: bool = False  # the contact's last reported level, bounce included
    settle_timer: Timer | None = None
    hold_timer: Timer | None = None
    window_timer: Timer | None = None


class GestureRecognizer:
    """Debounce, double-press and hold detection for every button.

    ``emit(button, gesture, t)`` is called (from whichever thread delivered the edge or ran the
    timer) once per recognised gesture; it should only post an event.
    """

    def __init__(self, clock: Clock, config: GestureSection,
                 emit: Callable[[str, str, float], None]) -> None:
        self.clock = clock
        self.config = config
        self.emit = emit
        self._lock = threading.Lock()
        self._buttons = {name: _ButtonState(has_double=(name, "double") in GESTURES)
                         for name in BUTTON_NAMES}

    def edge(self, button: str, pressed: bool, settled: bool = False) -> None:
        now = self.clock.monotonic()
        fire: list[tuple[str, str, float]] = []
        with self._lock:
            st = self._buttons[button]
            if not settled:
                st.raw = pressed
            if pressed == st.down:
                return  # no change
            if not settled and now - st.last_edge < self.config.debounce_s:
                # Contact bounce, or a very quick real change: look again once the contact
                # has settled, so a genuine release is never lost (no phantom hold).
                if st.settle_timer is None:
                    st.settle_timer = self.clock.call_at(st.last_edge + self.config.debounce_s,
                                                         lambda: self._settle(button))
                return
            st.last_edge = now
            st.down = pressed
            if pressed:
                if st.window_timer is not None:
                    st.window_timer.cancel()
                    st.window_timer = None
                others = [b for b in self._buttons.values() if b is not st and b.down]
                if others:
                    for chord in [st, *others]:
                        self._spoil(chord)
                    return
                st.down_at = now
                st.hold_timer = self.clock.call_later(self.config.hold_s,
                                                      lambda: self._hold(button))
            else:
                if st.hold_timer is not None:
                    st.hold_timer.cancel()
                    st.hold_timer = None
                if st.held or st.chorded:
                    st.held = st.chorded = False
                    st.taps = 0
                    return
                st.taps += 1
                if now - st.down_at >= self.config.hold_s:
                    # released just as the hold timer fell due: it was held the full time
                    st.taps = 0
                    fire.append((button, "hold", now))
                elif not st.has_double:
                    st.taps = 0
                    fire.append((button, "press", now))
                elif st.taps >= 2:
                    st.taps = 0
                    fire.append((button, "double", now))
                else:
                    st.window_timer = self.clock.call_later(
                        self.config.double_press_window_s, lambda: self._window(button))
        for args in fire:
            self.emit(*args)

    def _settle(self, button: str) -> None:
        with self._lock:
            st = self._buttons[button]
            st.settle_timer = None
            level = st.raw
        self.edge(button, level, settled=True)

    @staticmethod
    def _spoil(st: _ButtonState) -> None:
        """Part of a chord: this press will produce nothing."""
        st.chorded, st.taps = True, 0
        for timer in (st.hold_timer, st.window_timer):
            if timer is not None:
                timer.cancel()
        st.hold_timer = st.window_timer = None

    def _hold(self, button: str) -> None:
        with self._lock:
            st = self._buttons[button]
            if not st.down or st.held or st.chorded:
                return
            st.held, st.taps, st.hold_timer = True, 0, None
        self.emit(button, "hold", self.clock.monotonic())

    def _window(self, button: str) -> None:
        with self._lock:
            st = self._buttons[button]
            st.window_timer = None
            if st.down or st.taps != 1:
                return
            st.taps = 0
        self.emit(button, "press", self.clock.monotonic())

    def inject(self, button: str, kind: str) -> float:
        """Perform gesture ``kind`` on ``button`` through the recogniser; returns when it ends."""
        script = press_script(kind, hold_seconds(self.config))
        start = self.clock.monotonic()
        for offset, pressed in script:
            if offset == 0:
                self.edge(button, pressed)
            else:
                self.clock.call_at(start + offset,
                                   lambda p=pressed: self.edge(button, p))
        return start + script[-1][0]
