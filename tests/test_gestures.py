"""The gesture recogniser on the injected clock: no sleeping."""

from __future__ import annotations

import pytest

from device.config import GestureSection
from device.gestures import GestureRecognizer
from sim.clock import SimClock


@pytest.fixture
def rig() -> tuple[SimClock, GestureRecognizer, list[tuple[str, str, float]]]:
    clock = SimClock()
    seen: list[tuple[str, str, float]] = []
    recognizer = GestureRecognizer(clock, GestureSection(),
                                   lambda b, g, t: seen.append((b, g, t)))
    return clock, recognizer, seen


def edges(clock: SimClock, rec: GestureRecognizer, button: str,
          script: list[tuple[float, bool]]) -> None:
    start = clock.monotonic()
    for offset, pressed in script:
        clock.advance_to(start + offset)
        rec.edge(button, pressed)


def test_double_press_is_recognised_at_the_second_release(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "record", [(0, True), (0.1, False), (0.3, True), (0.4, False)])
    assert seen == [("record", "double", pytest.approx(0.4))]


def test_single_press_of_record_waits_out_the_double_window(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "record", [(0, True), (0.1, False)])
    clock.advance(0.59)
    assert seen == []
    clock.advance(0.02)
    assert seen == [("record", "press", pytest.approx(0.7))]


def test_hold_fires_after_exactly_hold_s_and_release_adds_nothing(rig) -> None:
    clock, rec, seen = rig
    rec.edge("record", True)
    clock.advance(2.99)
    assert seen == []
    clock.advance(0.02)
    assert seen == [("record", "hold", pytest.approx(3.0))]
    clock.advance(1)
    rec.edge("record", False)
    clock.advance(1)
    assert len(seen) == 1


def test_contact_bounce_is_not_a_double_press(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "record", [(0, True), (0.005, False), (0.01, True), (0.1, False)])
    clock.advance(1)
    assert seen == [("record", "press", pytest.approx(0.7))]


def test_buttons_without_a_double_gesture_report_a_press_at_release(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "function", [(0, True), (0.1, False)])
    assert seen == [("function", "press", pytest.approx(0.1))]


def test_slow_second_press_is_two_presses(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "record", [(0, True), (0.1, False), (1.0, True), (1.1, False)])
    clock.advance(1)
    assert [g for _, g, _ in seen] == ["press", "press"]


def test_two_buttons_down_together_produce_nothing(rig) -> None:
    clock, rec, seen = rig
    rec.edge("record", True)
    clock.advance(0.5)
    rec.edge("function", True)  # a bump: both held for 4 s
    clock.advance(4)
    rec.edge("record", False)
    rec.edge("function", False)
    clock.advance(2)
    assert seen == []
    edges(clock, rec, "record", [(0, True), (0.1, False), (0.3, True), (0.4, False)])
    assert [g for _, g, _ in seen] == ["double"]  # each button starts afresh afterwards


def test_a_tap_then_a_hold_is_a_hold(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "record", [(0, True), (0.1, False), (0.3, True)])
    clock.advance(3.1)
    rec.edge("record", False)
    clock.advance(1)
    assert [g for _, g, _ in seen] == ["hold"]


def test_a_triple_press_is_a_double_then_a_press(rig) -> None:
    clock, rec, seen = rig
    edges(clock, rec, "record", [(0, True), (0.1, False), (0.3, True), (0.4, False),
                                 (0.6, True), (0.7, False)])
    clock.advance(1)
    assert [g for _, g, _ in seen] == ["double", "press"]


def test_a_release_exactly_at_the_hold_time_is_a_hold(rig) -> None:
    clock, rec, seen = rig
    # the release is due at the same moment as the hold timer, and fires first
    clock.call_at(3.0, lambda: rec.edge("record", False))
    rec.edge("record", True)
    clock.advance(4)
    assert [g for _, g, _ in seen] == ["hold"]


def test_a_release_inside_the_debounce_time_is_not_lost(rig) -> None:
    clock, rec, seen = rig
    rec.edge("function", True)
    clock.advance(0.01)
    rec.edge("function", False)  # a 10 ms click: faster than the debounce time
    clock.advance(5)
    assert [g for _, g, _ in seen] == ["press"]  # a press, never a phantom hold


def test_bounce_that_settles_pressed_stays_pressed(rig) -> None:
    clock, rec, seen = rig
    rec.edge("record", True)
    clock.advance(0.005)
    rec.edge("record", False)
    clock.advance(0.005)
    rec.edge("record", True)  # chatter, then held
    clock.advance(3.5)
    assert [g for _, g, _ in seen] == ["hold"]


def test_the_configuration_refines_the_gesture_table() -> None:
    from device.gestures import GESTURES, action_for

    plain = GestureSection()
    assert all(action_for(plain, b, g) == action for (b, g), action in GESTURES.items())
    assert action_for(plain, "record", "press") is None
    confirming = GestureSection(confirm_stop=True)
    assert action_for(confirming, "record", "hold") == "request_stop"
    assert action_for(confirming, "record", "press") is None  # no stop is waiting
    assert action_for(confirming, "record", "press", stop_pending=True) == "confirm_stop"
    standby = GestureSection(program_hold="standby")
    assert action_for(standby, "program", "hold") == "toggle_standby"
    assert action_for(standby, "record", "hold") == "stop_recording"
