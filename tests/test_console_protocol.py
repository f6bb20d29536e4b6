"""The console's grammar, its line splitter, its outbox and the event bus, without a port."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device import console_protocol as protocol
from device.bus import EventBus, Published
from device.serial_console import Outbox

EVERY = {"status", "version", "press", "marker", "trigger", "events", "shutdown", "advance",
         "dock", "undock", "battery", "storage", "camera", "button"}


@pytest.mark.parametrize("line, request_", [
    ("status", {"cmd": "status"}),
    ("double record", {"cmd": "press", "button": "record", "gesture": "double"}),
    ("hold record 3.5", {"cmd": "press", "button": "record", "gesture": "hold",
                         "seconds": 3.5}),
    ("  marker   suspect  left ", {"cmd": "marker", "note": "suspect  left"}),
    ("#m1 marker", {"cmd": "marker", "note": ""}),
    ("trigger peer", {"cmd": "trigger", "name": "peer"}),
    ("storage real", {"cmd": "storage", "free_mb": None}),
    ("storage 12", {"cmd": "storage", "free_mb": 12.0}),
    ("events 40", {"cmd": "events", "since": 40}),
    ("button record down", {"cmd": "button", "button": "record", "action": "down"}),
])
def test_lines_become_control_requests(line: str, request_: dict) -> None:
    assert protocol.parse(line, EVERY)[2] == request_


def test_a_board_refuses_simulator_commands_by_name() -> None:
    board = {"status", "version", "press", "marker", "trigger", "events", "shutdown"}
    with pytest.raises(protocol.BadLine, match='not available on this camera: "dock"') as bad:
        protocol.parse("#4 dock", board)
    assert bad.value.rid == "#4"
    assert "advance" not in " ".join(protocol.usage(board))


def test_answers_and_events_are_single_ascii_lines() -> None:
    assert protocol.ok("#1", {"note": "café"}) == b'ok #1 {"note": "caf\\u00e9"}\r\n'
    assert protocol.error(None, "two\nlines\r\n") == b"error two lines\r\n"
    assert len(protocol.error(None, "x" * 1000)) == protocol.MAX_REASON + len(b"error \r\n")
    assert protocol.event(Published(3, 1.23456, "mode", {"dest": "recording"})) == \
        b'event 3 1.235 mode {"dest": "recording"}\r\n'


@given(st.binary(max_size=300).filter(lambda b: b"\n" not in b and b"\r" not in b))
def test_any_line_is_a_request_or_one_clear_error(raw: bytes) -> None:
    try:
        protocol.parse(protocol.decode(raw), EVERY)
    except protocol.BadLine as exc:
        line = protocol.error(exc.rid, str(exc))
        assert line.endswith(b"\r\n") and line.count(b"\n") == 1 and line.isascii()
        assert len(line) < 300


@given(st.lists(st.binary(max_size=40), max_size=30), st.data())
def test_lines_do_not_depend_on_how_the_bytes_were_split(pieces: list[bytes],
                                                         data: st.DataObject) -> None:
    stream = b"".join(pieces)
    whole = protocol.LineSplitter(limit=64).feed(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    splitter, chunked = protocol.LineSplitter(limit=64), []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        chunked += splitter.feed(stream[start:end])
    assert chunked == whole


def test_an_overlong_line_is_refused_once_and_skipped_to_its_end() -> None:
    splitter = protocol.LineSplitter(limit=8)
    assert splitter.feed(b"status\r\n0123456789") == [b"status", None]
    assert splitter.feed(b"more junk") == []
    assert splitter.feed(b"\nversion\n") == [b"version"]


def test_the_outbox_drops_events_for_a_slow_line_but_never_answers() -> None:
    box = Outbox(limit=2)
    for n in range(5):
        box.put(b"event %d" % n, is_event=True)
    box.put(b"ok answer")
    box.close()
    assert [box.get(), box.get(), box.get(), box.get()] == [b"event 0", b"event 1",
                                                            b"ok answer", None]
    assert box.dropped == 3


def test_the_bus_delivers_in_order_keeps_recent_and_survives_a_broken_listener() -> None:
    bus = EventBus(lambda: 7.0, keep=3)
    seen: list[int] = []
    bus.subscribe(lambda e: 1 / 0)  # a broken listener is logged and passed over
    stop = bus.subscribe(lambda e: seen.append(e.seq))
    threads = [threading.Thread(target=lambda: [bus.publish("x", {}) for _ in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == list(range(1, 201))
    stop()
    bus.publish("after", {"n": 1})
    assert len(seen) == 200
    assert [e.seq for e in bus.recent()] == [199, 200, 201]
    assert bus.recent(200) == [Published(201, 7.0, "after", {"n": 1})]


@pytest.mark.parametrize("line, words", [
    ("events " + "9" * 5000, 'events: SINCE must be a whole number >= 0, got "9999'),
    ("events \u0661\u0662", "events: SINCE must be a whole number >= 0"),  # Arabic digits
    ("advance 1e999", 'advance: SECONDS must be a finite number, got "1e999"'),
    ("hold record " + "1" * 400, "hold: SECONDS must be a finite number"),
    ("battery -inf", 'battery: PERCENT must be a finite number, got "-inf"'),
])
def test_huge_numbers_are_refused_in_words(line: str, words: str) -> None:
    with pytest.raises(protocol.BadLine) as bad:
        protocol.parse(line, EVERY)
    assert words in str(bad.value) and len(str(bad.value)) < 200
