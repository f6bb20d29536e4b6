"""The control commands the browser panel relies on, in process on the virtual clock: raw button
edges, the daemon's event bus as a long poll (``journal``), the preview frame and the real-time
clock."""

from __future__ import annotations

import base64
import threading

import cv2
import numpy as np
import pytest

from device.control import Controller
from hal.camera import Frame
from sim.preview import frame_key
from sim.simulator import Simulator
from sim.web.hub import feed_entry


def controller(sim: Simulator) -> Controller:
    return Controller(sim.daemon, extra=sim.commands())


def ok(ctl: Controller, **request: object) -> dict:
    reply = ctl.handle(request)
    assert reply["ok"], reply
    return reply


@pytest.mark.parametrize(("request_", "error"), [
    ({"cmd": "edge", "button": "elbow", "pressed": True}, 'unknown button "elbow"'),
    ({"cmd": "edge", "button": "record"}, "edge takes pressed: true (button down) or false"),
    ({"cmd": "edge", "button": "record", "pressed": 1}, "got 1"),
    ({"cmd": "journal", "since": -1}, "journal takes since from 0 to 1e+18, got -1"),
    ({"cmd": "journal", "wait": 31}, "journal takes wait from 0 to 30, got 31"),
    ({"cmd": "journal", "wait": "soon"}, 'got "soon"'),
    ({"cmd": "clock", "set": "no"}, 'clock takes set: true or false, got "no"'),
    ({"cmd": "location", "action": "fly"}, 'location takes action move, lose, regain or walk'),
    ({"cmd": "location", "action": "move", "lat": 91, "lon": 0}, "lat from -90 to 90, got 91"),
    ({"cmd": "location", "action": "move", "lat": 51.5}, "lon from -180 to 180, got null"),
    ({"cmd": "location", "action": "move", "lat": True, "lon": 0}, "got true"),
    ({"cmd": "location", "action": "lose", "lat": 1}, "location lose takes no lat or lon"),
    ({"cmd": "location", "action": "move", "lat": 1, "lon": 2, "alt": 3}, 'got "alt"'),
])
def test_bad_requests_get_one_line_errors(make_sim, request_: dict, error: str) -> None:
    reply = controller(make_sim()).handle(request_)
    assert not reply["ok"] and error in reply["error"]


def test_edges_make_gestures_with_the_timing_the_caller_gives_them(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    for pressed, after in ((True, 0.1), (False, 0.15), (True, 0.1), (False, 0.5)):
        ok(ctl, cmd="edge", button="record", pressed=pressed)
        sim.advance(after)
    assert sim.mode == "recording"
    ok(ctl, cmd="edge", button="record", pressed=True)
    sim.advance(2.9)
    assert sim.mode == "recording"  # not yet a hold
    sim.advance(0.2)
    assert sim.mode == "buffering"  # recognised while still held, as on the device
    ok(ctl, cmd="edge", button="record", pressed=False)
    sim.advance(1)
    assert sim.mode == "buffering"


def shown(reply: dict) -> list[dict]:
    """What the camera showed, sounded and felt, from a ``journal`` reply of bus events."""
    return [e for e in reply["events"] if e["kind"] in ("led", "tones", "vibration")]


def test_journal_since_n_returns_the_bus_events_after_it_with_the_led_phase(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    first = ok(ctl, cmd="journal", since=0)
    assert [e["seq"] for e in first["events"]] == list(range(1, sim.daemon.bus.seq + 1))
    kinds = [e["kind"] for e in shown(first)]
    assert kinds[:3] == ["led", "tones", "led"]  # solid red, boot tones, blinking green
    assert shown(first)[-1]["data"]["text"].startswith("blinking green")
    assert first["status"]["mode"] == "buffering"
    cursor = first["next"]
    assert ok(ctl, cmd="journal", since=cursor)["events"] == []

    sim.advance(0.3)
    assert ok(ctl, cmd="journal", since=cursor)["led_phase_s"] == pytest.approx(0.3)
    sim.button("record").double_press()
    sim.advance(1)
    later = ok(ctl, cmd="journal", since=cursor)
    assert [e["kind"] for e in shown(later)] == ["tones", "vibration", "led"]
    assert shown(later)[0]["data"]["tones"][0] == [880.0, 0.12]
    assert "gesture: record double -> start_recording" in [
        e["data"]["text"] for e in later["events"] if e["kind"] == "note"]
    assert later["next"] == later["events"][-1]["seq"]
    assert later["boot"] == first["boot"] == sim.daemon.bus.boot and not later["missed"]


def test_journal_says_what_was_missed_and_restarts_a_number_from_another_boot(
        make_sim) -> None:
    sim = make_sim()
    bus = sim.daemon.bus
    for n in range(300):  # more than the bus keeps
        bus.publish("note", {"text": str(n)})
    events, missed = bus.wait(0, 0)
    assert missed and events[-1].seq == bus.seq
    assert bus.wait(bus.seq - 1, 0) == ([events[-1]], False)
    events, missed = bus.wait(10**9, 0)  # a newer number than this process has: a new boot
    assert missed and events[-1].seq == bus.seq


def test_a_waiting_journal_request_answers_the_moment_something_happens(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    cursor = ok(ctl, cmd="journal", since=0)["next"]
    replies: list[dict] = []
    waiter = threading.Thread(target=lambda: replies.append(
        ctl.handle({"cmd": "journal", "since": cursor, "wait": 30})))
    waiter.start()
    sim.daemon.note("something happened")
    waiter.join(timeout=10)  # far less than the 30 s it would wait for nothing
    assert not waiter.is_alive()
    assert [e["data"]["text"] for e in replies[0]["events"]] == ["something happened"]


def test_the_hub_shows_bus_events_in_the_shapes_the_page_reads() -> None:
    def event(kind: str, **data: object) -> dict:
        return {"seq": 7, "t": 1.5, "kind": kind, "data": data}

    led = {"colour": "green", "on_s": 0.5, "off_s": 0.5, "alt": None, "every_led": False,
           "text": "blinking green"}
    assert feed_entry(event("led", **led)) == {"seq": 7, "t": 1.5, "kind": "led", "led": led}
    assert feed_entry(event("tones", signal="x", tones=[[880.0, 0.12]]))["tones"] == [
        {"hz": 880.0, "seconds": 0.12}]
    assert feed_entry(event("vibration", signal="x", pulses=[[0.2, 0.1]]))["pulses"] == [
        {"on_s": 0.2, "off_s": 0.1}]
    assert feed_entry(event("note", text="marker at now"))["text"] == "marker at now"
    assert feed_entry(event("gesture", reason="record press")) is None  # the audit pane's


def test_the_preview_is_the_watermarked_frame_and_is_sent_once(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    sim.advance(1)
    reply = ok(ctl, cmd="preview")
    latest = sim.preview.latest()
    assert latest is not None and reply["frame"] == latest[0] == frame_key(latest[1])
    jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(reply["jpeg"]), np.uint8),
                        cv2.IMREAD_COLOR)
    frame = latest[1]
    assert jpeg.shape == (frame.height, frame.width, 3)
    # The picture is the camera's, with the watermark band burned in at the bottom.
    clean = Frame(sim.camera.render(frame.index, frame.t_mono), 0.0, 0, frame.format).luma
    differs = np.abs(frame.luma.astype(int) - clean.astype(int)).max(axis=1) > 0
    assert not differs[: len(differs) // 2].any() and differs[-4:].all()
    assert ok(ctl, cmd="preview", after=reply["frame"]) == {"ok": True,
                                                             "frame": reply["frame"]}


def test_a_clock_that_lost_its_time_is_flagged_at_the_next_boot(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    ok(ctl, cmd="clock", set=False)
    assert not sim.daemon.flags["clock_not_set"]  # checked at boot, as the camera does
    ok(ctl, cmd="press", button="power", gesture="hold", seconds=3.2)
    sim.advance(4)
    assert sim.mode == "off"
    ok(ctl, cmd="press", button="power")
    sim.advance(1)
    status = ok(ctl, cmd="status")["status"]
    assert status["flags"]["clock_not_set"] and not status["clock_set"]
    tones = [[hz for hz, _ in e["data"]["tones"]]
             for e in ok(ctl, cmd="journal", since=0)["events"] if e["kind"] == "tones"]
    assert [2000.0, 0.0] * 4 + [2000.0] in tones[-2:]  # five quick beeps at boot


def test_the_test_pattern_says_its_time_is_the_capture_time(monkeypatch: pytest.MonkeyPatch,
                                                           make_sim) -> None:
    """The pattern's clock is the frame's capture time on the monotonic clock; it says so
    (the watermark under it is the wall time)."""
    import sim.camera
    drawn: list[str] = []
    real = sim.camera.cv2.putText
    monkeypatch.setattr(sim.camera.cv2, "putText",
                        lambda img, text, *a, **k: (drawn.append(text), real(img, text, *a, **k)))
    make_sim().camera.render(12, 388.5361)
    assert drawn == ["frame 0000012  capture t=388.536s"]
