"""Gestures keep their meaning under load (issue 19): edges are stamped where they happen and
judged on those stamps, whatever thread delivers them late. All on the injected clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from gpiozero import Device, DigitalInputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin, PinState

from device.config import GestureSection
from device.daemon import Daemon, Event
from device.gestures import GestureRecognizer
from hal.inputs import Button, Triggers
from hal.pi.inputs import PiButton, TriggerInputs, edge_time
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.microphone import SimMicrophone
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.pi_rig import pi_hardware

LATE = GestureSection().late_s


@pytest.fixture
def rig() -> tuple[SimClock, GestureRecognizer, list[tuple[str, str, float]]]:
    clock = SimClock()
    seen: list[tuple[str, str, float]] = []
    rec = GestureRecognizer(clock, GestureSection(), lambda b, g, t: seen.append((b, g, t)))
    return clock, rec, seen


def late(clock: SimClock, rec: GestureRecognizer, button: str,
         script: list[tuple[float, bool]], delay: float) -> None:
    """Each edge delivered ``delay`` s after it happened, carrying its own moment."""
    start = clock.monotonic()
    for offset, pressed in script:
        clock.advance_to(start + offset + delay)
        rec.edge(button, pressed, t=start + offset)


DOUBLE = [(0, True), (0.1, False), (0.25, True), (0.35, False)]


def deliver(clock: SimClock, rec: GestureRecognizer, button: str,
            script: list[tuple[float, bool, float]]) -> None:
    """Edges (happened, pressed, delivered): each carries its own moment."""
    for t, pressed, at in script:
        clock.advance_to(at)
        rec.edge(button, pressed, t=t)


def test_a_double_press_whose_second_press_is_delivered_late_is_a_double(rig) -> None:
    clock, rec, seen = rig
    # A loaded processor: every edge comes late, by a varying amount. Judged on arrival, the
    # second press came 0.64 s after the first release, past the 0.6 s window: two presses.
    # It happened 0.55 s after it.
    deliver(clock, rec, "record", [(0, True, 0.14), (0.1, False, 0.15), (0.65, True, 0.79),
                                   (0.75, False, 0.8)])
    clock.advance(2)
    assert seen == [("record", "double", pytest.approx(0.75))]


def test_on_time_edges_are_decided_at_once_and_late_ones_wait_as_late_as_they_come(
        rig) -> None:
    clock, rec, seen = rig
    assert rec.grace() == 0
    deliver(clock, rec, "record", [(0, True, 0), (0.1, False, 0.1)])
    clock.advance_to(0.7)
    assert seen == [("record", "press", pytest.approx(0.7))]  # at the window's end exactly
    deliver(clock, rec, "function", [(1.0, True, 1.2)])
    assert rec.grace() == pytest.approx(0.3)  # 1.5 x 0.2, within late_s
    deliver(clock, rec, "function", [(5.0, True, 5.0), (5.1, False, 5.5)])
    assert rec.grace() == pytest.approx(LATE)  # 0.6 late: capped at late_s
    clock.advance(20)
    assert rec.grace() == 0  # forgotten after 10 s of edges on time


def test_an_edge_later_than_late_s_past_the_window_is_a_new_press(rig) -> None:
    clock, rec, seen = rig
    # the window closed at 0.7 and was decided late_s later; this press came after that
    deliver(clock, rec, "record", [(0, True, 0), (0.1, False, 0.1),
                                   (0.25, True, 0.7 + LATE + 0.05), (0.35, False, 1.0)])
    clock.advance(2)
    assert [g for _, g, _ in seen] == ["press", "press"]  # the documented limit, no crash


def test_a_uniformly_late_double_press_is_a_double(rig) -> None:
    clock, rec, seen = rig
    late(clock, rec, "record", DOUBLE, delay=0.5)
    clock.advance(2)
    assert seen == [("record", "double", pytest.approx(0.35))]


def test_a_lone_press_is_judged_at_its_stamp_not_at_its_arrival(rig) -> None:
    clock, rec, seen = rig
    late(clock, rec, "record", [(0, True), (0.1, False)], delay=0.1)
    clock.advance(3)
    assert seen == [("record", "press", pytest.approx(0.7))]


def test_a_tap_whose_release_arrives_after_the_hold_time_is_a_press(rig) -> None:
    clock, rec, seen = rig
    clock.advance(0.2)
    rec.edge("function", True, t=0.0)  # 0.2 s late, as edges come under this load
    clock.advance(2.9)  # the hold timer waits for a release that may be on its way
    rec.edge("function", False, t=2.9)  # released before 3 s; delivered 0.2 s after
    clock.advance(5)
    assert seen == [("function", "press", pytest.approx(2.9))]


def test_a_hold_whose_release_arrives_late_is_one_hold(rig) -> None:
    clock, rec, seen = rig
    rec.edge("record", True, t=0.0)
    clock.advance(3.5)
    rec.edge("record", False, t=3.2)
    clock.advance(3)
    assert seen == [("record", "hold", pytest.approx(3.0))]


def test_edges_arriving_out_of_order_are_put_back_in_order(rig) -> None:
    clock, rec, seen = rig
    clock.advance(0.5)
    # the second press's release overtakes its press
    for t, pressed in [(0, True), (0.1, False), (0.35, False), (0.25, True)]:
        rec.edge("record", pressed, t=t)
    clock.advance(2)
    assert seen == [("record", "double", pytest.approx(0.35))]


def test_an_edge_delivered_twice_is_read_once(rig) -> None:
    clock, rec, seen = rig
    clock.advance(1)
    rec.edge("function", True, t=0.2)
    rec.edge("function", False, t=0.3)
    rec.edge("function", True, t=0.2)  # the same press again, from a second delivery
    rec.edge("function", False, t=0.3)
    clock.advance(5)
    assert seen == [("function", "press", pytest.approx(0.3))]
    rec.edge("record", True)
    clock.advance(0.1)
    rec.edge("record", False)
    rec.edge("record", True, t=clock.monotonic() - 0.1)  # stale: before the release taken
    clock.advance(5)
    assert [g for _, g, _ in seen] == ["press", "press"]  # the record press, no hold


def test_a_repeat_whose_missing_edge_never_comes_is_dropped(rig) -> None:
    clock, rec, seen = rig
    rec.edge("function", True, t=0.0)
    clock.advance(0.2)
    rec.edge("function", True)  # a second press with no release between: noise
    clock.advance(0.1)
    rec.edge("function", False)
    clock.advance(1)
    assert seen == [("function", "press", pytest.approx(0.3))]


def test_a_held_key_that_repeats_its_press_is_one_press(rig) -> None:
    clock, rec, seen = rig
    rec.edge("function", True)  # a browser panel's key-down repeats while the key is held
    for _ in range(5):
        clock.advance(0.1)
        rec.edge("function", True)
    clock.advance(0.05)
    rec.edge("function", False)
    clock.advance(5)
    assert seen == [("function", "press", pytest.approx(0.55))]  # no phantom press or hold
    rec.edge("record", True)
    for _ in range(40):  # held 4 s, repeating
        clock.advance(0.1)
        rec.edge("record", True)
    rec.edge("record", False)
    clock.advance(5)
    assert [g for _, g, _ in seen] == ["press", "hold"]


def test_equal_stamps_are_bounce_and_settle_to_the_last_level(rig) -> None:
    clock, rec, seen = rig
    clock.advance(1)
    rec.edge("function", True, t=0.5)
    rec.edge("function", False, t=0.5)
    clock.advance(5)
    assert [g for _, g, _ in seen] == ["press"]  # never lost, never a phantom hold
    rec.edge("record", True, t=clock.monotonic())
    rec.edge("record", True, t=clock.monotonic())  # the same edge twice
    clock.advance(5)
    assert [g for _, g, _ in seen] == ["press", "hold"]


def test_a_stamp_from_the_future_is_clamped_to_now(rig) -> None:
    clock, rec, seen = rig
    clock.advance(1)
    rec.edge("function", True, t=1e9)  # a skewed clock
    clock.advance(0.1)
    rec.edge("function", False, t=1e9)
    clock.advance(1)
    assert seen == [("function", "press", pytest.approx(1.1))]
    for bad in (float("nan"), "soon", True):
        rec.edge("function", True, t=bad)  # type: ignore[arg-type]
        clock.advance(0.1)
        rec.edge("function", False)
        clock.advance(1)
    assert [g for _, g, _ in seen] == ["press"] * 4  # judged as arriving now


def test_the_hal_button_carries_its_stamp_to_the_stamped_callback() -> None:
    got: list[tuple[bool, float | None]] = []
    button = Button("record")
    button.when_pressed = lambda: got.append((True, -1.0))
    button._edge(True, 4.5)
    button.when_edge = lambda pressed, t: got.append((pressed, t))
    button._edge(False, 5.0)
    button._edge(True)
    assert got == [(True, -1.0), (False, 5.0), (True, None)]
    triggers, fired = Triggers(), []
    triggers.when_triggered = lambda name: fired.append((name, None))
    triggers._fire("holster", 1.0)
    triggers.when_triggered_at = lambda name, t: fired.append((name, t))
    triggers._fire("taser", 2.0)
    assert fired == [("holster", None), ("taser", 2.0)]


class TickFactory(MockFactory):
    """gpiozero's mock pins, with ticks a test sets: the interrupt's time of each change."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 100.0

    def ticks(self) -> float:
        return self.now

    @staticmethod
    def ticks_diff(later: float, earlier: float) -> float:
        return later - earlier


@pytest.fixture
def factory() -> Iterator[TickFactory]:
    made = TickFactory()
    previous = Device.pin_factory
    Device.pin_factory = made
    yield made
    made.close()
    Device.pin_factory = previous


def test_a_pi_edge_is_stamped_with_its_gpio_tick_not_the_callback_time(factory) -> None:
    clock = SimClock()
    clock.advance(10)
    device = DigitalInputDevice(5, pull_up=False, pin_factory=factory)
    got: list[tuple[bool, float | None]] = []
    button = PiButton("record", device, clock.monotonic)
    button.when_edge = lambda pressed, t: got.append((pressed, t))

    original = device._fire_events

    def late_fire(ticks: float, active: bool) -> None:
        factory.now = ticks + 0.4  # the callback thread runs 0.4 s after the interrupt
        clock.advance(0.4)
        original(ticks, active)

    device._fire_events = late_fire  # type: ignore[method-assign]
    device.pin.drive_high()
    device.pin.drive_low()
    assert got == [(True, pytest.approx(10.0)), (False, pytest.approx(10.4))]
    assert edge_time(device, None) is None
    device._fire_events = original  # type: ignore[method-assign]
    factory.now = device._last_changed - 5  # a tick ahead of now: skew, not a negative age
    assert edge_time(device, clock.monotonic) == pytest.approx(clock.monotonic())
    triggers, fired = TriggerInputs({"holster": DigitalInputDevice(6, pin_factory=factory)},
                                    clock.monotonic), []
    triggers.when_triggered_at = lambda name, t: fired.append((name, t))
    factory.now = 0.0  # ticks behind the change: a negative age counts as none
    triggers["holster"].pin.drive_high()
    assert fired == [("holster", pytest.approx(clock.monotonic()))]


def audit(sim: Simulator) -> list[dict]:
    return [json.loads(line) for line in
            (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()]


@pytest.fixture
def threaded(tmp_path) -> Iterator[Simulator]:
    from sim.encoder import FakeEncoder
    sim = Simulator(tiny_config(), tmp_path / "data", encoder=FakeEncoder)
    sim.power_on()
    sim.advance(1)
    sim.daemon.start()  # the state machine on a thread of its own, as on the camera
    yield sim
    sim.daemon.exit_requested.set()
    sim.shutdown()


def test_gestures_are_read_as_pressed_while_the_daemon_thread_is_held_back(threaded) -> None:
    sim, clock = threaded, threaded.clock
    assert isinstance(clock, SimClock) and sim.mode == "buffering"
    gate, busy = threading.Event(), threading.Event()

    def slow(event: Event) -> None:  # a handler that takes far longer than any gesture
        busy.set()
        gate.wait(timeout=30)

    sim.daemon.handlers["slow"] = slow
    sim.daemon.post("slow")
    assert busy.wait(timeout=10)
    record, function = sim.button("record"), sim.button("function")
    record.double_press()  # start
    clock.advance(2)
    function.hold(3.2)  # mute
    clock.advance(4)
    # tap, then hold: a hold (stop), delivered by a clock thread running each edge late
    start = clock.monotonic()
    for offset, pressed in [(0, True), (0.1, False), (0.3, True), (3.5, False)]:
        clock.advance_to(start + offset + LATE * 0.8)
        record._edge(pressed, start + offset)
    clock.advance(2)
    assert sim.mode == "buffering"  # nothing handled yet: the daemon is still held back
    gate.set()
    sim.daemon.sync()
    gestures = [(e["data"]["button"], e["data"]["gesture"]) for e in audit(sim)
                if e["event"] == "gesture"]
    assert gestures == [("record", "double"), ("function", "hold"), ("record", "hold")]
    modes = [e["data"]["dest"] for e in audit(sim) if e["event"] == "mode"]
    assert modes[-2:] == ["recording", "buffering"]


class StampedPin(MockPWMPin):
    """gpiozero's mock pin, its changes timed on the test's clock (the interrupt's tick), with
    a way to deliver one late: the callback thread gets to it after the moment it happened."""

    def _change_state(self, value: bool) -> bool:
        if self._state == value:
            return False
        t = self._factory.ticks()
        self.states.append(PinState(t - self._last_change, value))
        self._state, self._last_change = value, t
        return True

    def late_edge(self, value: bool, at: float) -> None:
        """The GPIO saw ``value`` at ``at``; its callback runs now."""
        if self._state != value:
            self._state, self._last_change = value, at
            if self._when_changed is not None:
                self._call_when_changed()


class ClockFactory(MockFactory):
    def __init__(self, clock: SimClock) -> None:
        super().__init__(pin_class=StampedPin)
        self.clock = clock

    def ticks(self) -> float:  # type: ignore[override]
        return self.clock.monotonic()


def test_pi_pin_gestures_are_read_as_pressed_with_late_callbacks_and_a_held_back_daemon(
        tmp_path, config) -> None:
    clock = SimClock()
    factory = ClockFactory(clock)
    cam = config.camera
    hw = pi_hardware(config, tmp_path / "data", pin_factory=factory, clock=clock,
                     camera=(camera := SimCamera(clock, cam.width, cam.height, cam.fps)),
                     microphone=SimMicrophone(clock, config.audio.rate, config.audio.channels,
                                              camera=camera),
                     power_supply=tmp_path)
    daemon = Daemon(hw, config, tmp_path / "data")
    daemon.post("power_on", reason="test")
    daemon.sync()
    clock.advance(1.0)
    daemon.sync()
    assert daemon.state == "buffering"
    gate, busy = threading.Event(), threading.Event()
    daemon.handlers["slow"] = lambda event: (busy.set(), gate.wait(timeout=30))
    daemon.start()
    try:
        daemon.post("slow")
        assert busy.wait(timeout=10)
        record = factory.pin(5)
        assert isinstance(record, StampedPin)
        t0 = clock.monotonic()
        # a double press whose edges reach gpiozero's callback late, by varying amounts: on
        # arrival the second press came 0.64 s after the first release (past the 0.6 s window)
        for at, low, arrives in ((0, True, 0.14), (0.1, False, 0.15), (0.65, True, 0.79),
                                 (0.75, False, 0.8)):
            clock.advance_to(t0 + arrives)
            record.late_edge(not low, t0 + at)
        clock.advance(2)
        # a 3 s hold whose release comes late
        t1 = clock.monotonic()
        clock.advance(0.1)
        record.late_edge(False, t1)
        clock.advance(3.5)
        record.late_edge(True, t1 + 3.3)
        clock.advance(1)
        gate.set()
        daemon.sync()
    finally:
        gate.set()
        daemon.post("power_off", reason="test")
        daemon.sync()
        daemon.exit_requested.set()
        hw.close()
    entries = audit_of(tmp_path / "data")
    gestures = [(e["data"]["button"], e["data"]["gesture"]) for e in entries
                if e["event"] == "gesture"]
    assert gestures == [("record", "double"), ("record", "hold")]
    modes = [e["data"]["dest"] for e in entries if e["event"] == "mode"]
    assert "recording" in modes and modes[modes.index("recording") + 1] == "buffering"


def audit_of(data_dir) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "audit" / "audit.jsonl").read_text()
            .splitlines()]
