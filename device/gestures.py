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
- edges closer together than ``debounce_s`` are contact bounce and ignored;
- every edge is judged at the moment it happened (its stamp), not when a thread delivered it
  (:class:`GestureRecognizer`), so a loaded processor does not turn a double press into two.

Recognition is firmware logic, so it runs the same on every backend: HAL callbacks and injected
presses (control socket, serial console) feed :meth:`GestureRecognizer.edge`; timers come from
the injected clock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from device.config import GestureSection
from hal.clock import Clock, Timer
from hal.inputs import BUTTON_NAMES

GESTURE_KINDS = ("press", "double", "hold")
#: How long the recogniser remembers how late edges came, seconds.
LATENESS_MEMORY_S = 10.0
#: A decision waits this multiple of the lateness seen (jitter beyond the worst seen so far).
LATENESS_MARGIN = 1.5

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
    last_edge: float = float("-inf")  # stamp of the last change of level taken
    newest: float = float("-inf")  # the newest stamp reported, bounce included
    taps: int = 0
    held: bool = False
    chorded: bool = False
    down_at: float = 0.0
    up_at: float = float("-inf")
    raw: bool = False  # the contact's level at the newest stamp, bounce included
    early: list[tuple[float, bool]] = field(default_factory=list)
    settle_timer: Timer | None = None
    hold_timer: Timer | None = None
    window_timer: Timer | None = None
    early_timer: Timer | None = None


class GestureRecognizer:
    """Debounce, double-press and hold detection for every button, judged on the edges' stamps.

    An edge carries the moment it happened (``t``: a GPIO interrupt's tick, the time a command
    carried, a scheduled press); without one it is stamped as it arrives. A stamp from the
    future (a skewed clock) counts as now; an edge older than one already taken is stale (a
    duplicate, or overtaken by a later one) and ignored, so no press is read twice. Gaps,
    windows and holds are measured between stamps, so a thread that delivers an edge late does
    not change what the press meant. A decision that waits on time (a lone press once the
    double-press window is out, a hold while the button stays down) waits past its moment as
    long as edges have lately come late (:meth:`grace`: half as long again as the latest of
    the last 10 s, at most ``late_s``; none while they come on time), so an edge stamped
    before it that is still on its way is judged first; a double press, or a press of a button
    without one, is decided at its release at once. A repeat of the level the button is at (a
    release after a release) means the edge between them is still on its way: it waits up to
    ``late_s`` for it, then is dropped.

    ``emit(button, gesture, t)`` is called (from whichever thread delivered the edge or ran the
    timer) once per recognised gesture, ``t`` the stamp it was decided at; it should only post
    an event.
    """

    def __init__(self, clock: Clock, config: GestureSection,
                 emit: Callable[[str, str, float], None]) -> None:
        self.clock = clock
        self.config = config
        self.emit = emit
        self._lock = threading.Lock()
        self._buttons = {name: _ButtonState(has_double=(name, "double") in GESTURES)
                         for name in BUTTON_NAMES}
        #: (arrival, lateness) of the edges of the last LATENESS_MEMORY_S: how late they come
        self._lateness: deque[tuple[float, float]] = deque()

    def grace(self) -> float:
        """How long a decision waits past its moment for late edges: as late as edges have
        come lately (the most in the last :data:`LATENESS_MEMORY_S`), at most ``late_s``; 0
        while they come on time, so an idle camera answers at once."""
        now = self.clock.monotonic()
        seen = self._lateness
        while seen and seen[0][0] < now - LATENESS_MEMORY_S:
            seen.popleft()
        most = max((late for _, late in seen), default=0.0)
        return min(self.config.late_s, most * LATENESS_MARGIN) if most > 0 else 0.0

    def _note_lateness(self, now: float, stamp: float) -> None:
        if now - stamp > 0:
            self._lateness.append((now, now - stamp))

    def stamp(self, t: float | None) -> float:
        """The stamp an edge is judged at: ``t``, but never later than now (clock skew), and
        now for none (or for one that is not a finite number)."""
        now = self.clock.monotonic()
        if t is None or isinstance(t, bool) or not isinstance(t, int | float) or t != t:
            return now
        return min(float(t), now)

    def edge(self, button: str, pressed: bool, t: float | None = None,
             settled: bool = False) -> None:
        """The contact of ``button`` changed to ``pressed`` at ``t`` (monotonic; None: now)."""
        stamp = self.stamp(t)
        fire: list[tuple[str, str, float]] = []
        with self._lock:
            if not settled:
                self._note_lateness(self.clock.monotonic(), stamp)
            self._take(button, bool(pressed), stamp, settled, fire)
        for args in fire:
            self.emit(*args)

    def _take(self, button: str, pressed: bool, stamp: float, settled: bool,
              fire: list[tuple[str, str, float]]) -> None:
        st = self._buttons[button]
        if stamp < st.last_edge:
            return  # older than an edge already taken: a duplicate or overtaken; never re-read
        if not settled and stamp >= st.newest:
            st.raw, st.newest = pressed, stamp
        if pressed == st.down:
            if not settled and stamp - st.last_edge >= self.config.debounce_s \
                    and st.settle_timer is None:
                # not bounce: the change between the two has not arrived yet
                st.early.append((stamp, pressed))
                st.early.sort(key=lambda e: e[0])
                if st.early_timer is None:
                    st.early_timer = self.clock.call_later(
                        max(self.config.late_s, 1e-3), lambda: self._drop_early(button))
            return
        if not settled and stamp - st.last_edge < self.config.debounce_s:
            # Contact bounce, or a very quick real change: look again once the contact
            # has settled, so a genuine release is never lost (no phantom hold).
            if st.settle_timer is None:
                due = st.last_edge + self.config.debounce_s
                st.settle_timer = self.clock.call_at(due, lambda: self._settle(button, due))
            return
        self._apply(button, st, pressed, stamp, fire)
        # What waited for this edge: repeats from before it are stale (a key held down and
        # repeating), those after it that change the level are now in order.
        st.early = [e for e in st.early if e[0] > st.last_edge]
        while st.early and st.early[0][1] != st.down:
            t_early, level = st.early.pop(0)
            self._apply(button, st, level, t_early, fire)
            st.early = [e for e in st.early if e[0] > st.last_edge]

    def _apply(self, button: str, st: _ButtonState, pressed: bool, now: float,
               fire: list[tuple[str, str, float]]) -> None:
        """A change of level at stamp ``now``, past debounce."""
        cfg = self.config
        st.last_edge = now
        st.down = pressed
        if pressed:
            if st.window_timer is not None:
                st.window_timer.cancel()
                st.window_timer = None
            if st.taps == 1 and now - st.up_at > cfg.double_press_window_s:
                # the first press's window ran out before this one (its timer is late)
                st.taps = 0
                fire.append((button, "press", st.up_at + cfg.double_press_window_s))
            others = [b for b in self._buttons.values() if b is not st and b.down]
            if others:
                for chord in [st, *others]:
                    self._spoil(chord)
                return
            st.down_at = now
            st.hold_timer = self.clock.call_at(now + cfg.hold_s + self.grace(),
                                               lambda: self._hold(button, now))
            return
        if st.hold_timer is not None:
            st.hold_timer.cancel()
            st.hold_timer = None
        st.up_at = now
        if st.held or st.chorded:
            st.held = st.chorded = False
            st.taps = 0
            return
        st.taps += 1
        if now - st.down_at >= cfg.hold_s:
            # released once it was held the full time, before its timer ran
            st.taps = 0
            fire.append((button, "hold", now))
        elif not st.has_double:
            st.taps = 0
            fire.append((button, "press", now))
        elif st.taps >= 2:
            st.taps = 0
            fire.append((button, "double", now))
        else:
            st.window_timer = self.clock.call_at(
                now + cfg.double_press_window_s + self.grace(),
                lambda: self._window(button, now))

    def _settle(self, button: str, due: float) -> None:
        with self._lock:
            st = self._buttons[button]
            st.settle_timer = None
            level = st.raw
        self.edge(button, level, t=due, settled=True)

    def _drop_early(self, button: str) -> None:
        """Repeats whose missing edge never came: noise (the level is already right)."""
        with self._lock:
            st = self._buttons[button]
            st.early_timer = None
            st.early.clear()

    @staticmethod
    def _spoil(st: _ButtonState) -> None:
        """Part of a chord: this press will produce nothing."""
        st.chorded, st.taps = True, 0
        for timer in (st.hold_timer, st.window_timer):
            if timer is not None:
                timer.cancel()
        st.hold_timer = st.window_timer = None

    def _later(self, due: float) -> float | None:
        """When a decision due at ``due`` should be taken instead, if edges have grown later
        since its timer was set; None: now."""
        wait = due + self.grace()
        return wait if wait > self.clock.monotonic() + 1e-9 else None

    def _hold(self, button: str, down_at: float) -> None:
        with self._lock:
            st = self._buttons[button]
            if not st.down or st.held or st.chorded or st.down_at != down_at:
                return
            later = self._later(down_at + self.config.hold_s)
            if later is not None:
                st.hold_timer = self.clock.call_at(later, lambda: self._hold(button, down_at))
                return
            st.held, st.taps, st.hold_timer = True, 0, None
        self.emit(button, "hold", down_at + self.config.hold_s)

    def _window(self, button: str, up_at: float) -> None:
        with self._lock:
            st = self._buttons[button]
            if st.window_timer is not None and st.up_at == up_at:
                st.window_timer = None
            if st.down or st.taps != 1 or st.up_at != up_at:
                return
            later = self._later(up_at + self.config.double_press_window_s)
            if later is not None:
                st.window_timer = self.clock.call_at(later, lambda: self._window(button, up_at))
                return
            st.taps = 0
        self.emit(button, "press", up_at + self.config.double_press_window_s)

    def inject(self, button: str, kind: str, t: float | None = None) -> float:
        """Perform gesture ``kind`` on ``button`` through the recogniser, starting at ``t`` (the
        moment the command carried or arrived; None: now); returns when it ends. Each edge is
        stamped with its moment in the script, so a late timer does not stretch the gesture."""
        script = press_script(kind, hold_seconds(self.config))
        start = self.stamp(t)
        for offset, pressed in script:
            at = start + offset
            if at <= self.clock.monotonic():
                self.edge(button, pressed, t=at)
            else:
                self.clock.call_at(at, lambda p=pressed, a=at: self.edge(button, p, t=a))
        return start + script[-1][0]
