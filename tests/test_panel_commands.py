"""The control commands the browser panel relies on, in process on the virtual clock: raw button
edges, the event journal with its long poll, the preview frame and the real-time clock."""

from __future__ import annotations

import base64
import threading

import cv2
import numpy as np
import pytest

from device.control import Controller
from sim.preview import frame_key
from sim.simulator import Simulator


def controller(sim: Simulator) -> Controller:
    return Controller(sim.daemon, extra=sim.commands())


def ok(ctl: Controller, **request: object) -> dict:
    reply = ctl.handle(request)
    assert reply["ok"], reply
    return reply


@pytest.mark.parametrize(("request_", "error"), [
    ({"cmd": "edge", "button": "elbow", "pressed": True}, "unknown button 'elbow'"),
    ({"cmd": "edge", "button": "record"}, "edge takes pressed: true (button down) or false"),
    ({"cmd": "edge", "button": "record", "pressed": 1}, "got 1"),
    ({"cmd": "journal", "since": -1}, "journal takes since from 0 to inf, got -1"),
    ({"cmd": "journal", "wait": 31}, "journal takes wait from 0 to 30, got 31"),
    ({"cmd": "journal", "wait": "soon"}, "got 'soon'"),
    ({"cmd": "clock", "set": "no"}, "clock takes set: true or false, got 'no'"),
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


def test_events_since_n_returns_what_happened_after_it_with_the_led_phase(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    first = ok(ctl, cmd="journal", since=0)
    kinds = [e["kind"] for e in first["events"]]
    assert kinds[:3] == ["led", "tones", "led"]  # solid red, boot tones, blinking green
    assert first["events"][-1]["led"]["text"].startswith("blinking green")
    assert first["status"]["mode"] == "buffering"
    cursor = first["next"]
    assert ok(ctl, cmd="journal", since=cursor)["events"] == []

    sim.advance(0.3)
    assert ok(ctl, cmd="journal", since=cursor)["led_phase_s"] == pytest.approx(0.3)
    sim.button("record").double_press()
    sim.advance(1)
    later = ok(ctl, cmd="journal", since=cursor)
    assert [e["kind"] for e in later["events"]] == ["tones", "vibration", "led"]
    assert later["events"][0]["tones"][0] == {"hz": 880.0, "seconds": 0.12}
    assert later["next"] == later["events"][-1]["seq"]
    assert later["boot"] == first["boot"] and not later["missed"]


def test_a_waiting_events_request_answers_the_moment_something_happens(make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    cursor = ok(ctl, cmd="journal", since=0)["next"]
    replies: list[dict] = []
    waiter = threading.Thread(target=lambda: replies.append(
        ctl.handle({"cmd": "journal", "since": cursor, "wait": 30})))
    waiter.start()
    sim.journal.add("note", text="something happened")
    waiter.join(timeout=10)  # far less than the 30 s it would wait for nothing
    assert not waiter.is_alive()
    assert [e["text"] for e in replies[0]["events"]] == ["something happened"]


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
    assert jpeg.shape == frame.image.shape
    # The picture is the camera's, with the watermark band burned in at the bottom.
    clean = sim.camera.render(frame.index, frame.t_mono)
    differs = np.abs(frame.image.astype(int) - clean.astype(int)).max(axis=(1, 2)) > 0
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
    tones = [[t["hz"] for t in e["tones"]] for e in ok(ctl, cmd="journal", since=0)["events"]
             if e["kind"] == "tones"]
    assert [2000.0, 0.0] * 4 + [2000.0] in tones[-2:]  # five quick beeps at boot
