"""The browser panel's HTTP side, without a browser: real HTTP on loopback against ``bodycam
sim``. Events are pushed as they happen, recordings are served with ranges, and every bad
request gets a clear error without disturbing the camera."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.panel_harness import EventStream, RunningPanel, record_marked, running_panel


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPanel]:
    with running_panel(tmp_path_factory.mktemp("panel"), "--virtual-clock") as running:
        yield running


def record_and_stop(panel: RunningPanel, stream: EventStream) -> list[dict[str, Any]]:
    """A recording started by a trigger and stopped by a hold; the list once it verifies."""
    panel.ok({"cmd": "trigger", "name": "taser"})
    stream.until("status", lambda m: m["status"]["mode"] == "recording"
                 and m["status"]["led"]["colour"] == "red")
    panel.ok({"cmd": "advance", "seconds": 2})
    panel.ok({"cmd": "press", "button": "record", "gesture": "hold", "seconds": 3.2})
    panel.ok({"cmd": "advance", "seconds": 4})
    return stream.until("recordings", lambda items: items and items[0]["status"] == "verified")


def test_events_are_pushed_as_they_happen(panel: RunningPanel) -> None:
    stream = EventStream(panel)
    try:
        kind, snapshot = stream.next()
        assert kind == "snapshot"
        assert snapshot["daemon"]["state"] == "running"
        assert snapshot["panel"]["virtual_clock"] is True
        logged = {e["event"] for e in snapshot["audit"]}
        while not {"power", "mode"} <= logged:  # the boot's entries, if not read yet
            logged |= {e["event"] for e in stream.until("audit")}
        items = record_and_stop(panel, stream)
        assert items[0]["reason"] == "trigger:taser" and items[0]["segments"]
    finally:
        stream.close()
    # and the audit entries came too, as the daemon wrote them
    audit = json.loads(panel.http("GET", "/api/state")[2])["audit"]
    assert any(e["reason"] == "auto-activation: taser" for e in audit)


@pytest.fixture(scope="module")
def segment(panel: RunningPanel) -> tuple[str, Path]:
    """A verified segment: its URL on the panel and its file."""
    stream = EventStream(panel)
    try:
        recording = record_and_stop(panel, stream)[0]
    finally:
        stream.close()
    first = recording["segments"][0]
    return first["url"], panel.data_dir / "recordings" / recording["id"] / first["file"]


def test_recordings_are_served_with_byte_ranges(panel: RunningPanel,
                                                segment: tuple[str, Path]) -> None:
    url, file = segment
    data = file.read_bytes()
    status, headers, body = panel.http("GET", url)
    assert (status, headers["Content-Type"], headers["Accept-Ranges"]) == (200, "video/mp4",
                                                                           "bytes")
    assert body == data
    status, headers, body = panel.http("GET", url, headers={"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    status, _, body = panel.http("GET", url, headers={"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]
    status, _, body = panel.http("GET", url, headers={"Range": f"bytes={len(data) - 5}-"})
    assert status == 206 and body == data[-5:]
    status, headers, _ = panel.http("GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, headers, body = panel.http("GET", url + ".json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["file"] == file.name


@pytest.mark.parametrize("path", [
    "/media/../../keys/device.key", "/media/%2e%2e/keys/device.key",
    "/media/x/..%2F..%2Fkeys%2Fdevice.key", "/media/R000001/R000001-S0000.mp4.part",
    "/media/.hidden/a.mp4", "/static/../server.py", "/static/%2e%2e/server.py",
    "/static/panel.js/../../server.py", "/media/nope/nope.mp4", "/nothing",
])
def test_nothing_outside_the_page_and_the_recordings_is_served(panel: RunningPanel,
                                                                path: str) -> None:
    status, headers, body = panel.http("GET", path)
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["ok"] is False


@pytest.mark.parametrize(("payload", "status", "error"), [
    ({"cmd": "edge", "button": "elbow", "pressed": True}, 400, 'unknown button "elbow"'),
    ({"cmd": "edge", "button": "record", "pressed": "yes"}, 400, "edge takes pressed"),
    ({"cmd": "battery", "percent": 150}, 400, "battery takes percent from 0 to 100, got 150"),
    ({"cmd": "battery", "percent": True}, 400, "got true"),
    ({"cmd": "advance", "seconds": -1}, 400, "advance takes seconds from 0 to 3600"),
    ({"cmd": "trigger", "name": "banana"}, 400, 'unknown trigger "banana"'),
    ({"cmd": "shutdown"}, 400, "unknown command 'shutdown'"),
    (["edge"], 400, 'a command is a JSON object with a "cmd" string'),
    (b"{not json", 400, "command is not JSON"),
    (b"x" * 5000, 413, "a command is at most 4096 bytes"),
])
def test_bad_commands_get_clear_errors(panel: RunningPanel, payload: Any, status: int,
                                       error: str) -> None:
    got, reply = panel.command(payload)
    assert got == status and reply["ok"] is False and error in reply["error"], reply
    assert panel.ok({"cmd": "status"})["status"]["mode"] != "off"  # the camera carries on


def test_commands_from_other_sites_are_refused(panel: RunningPanel) -> None:
    body = json.dumps({"cmd": "trigger", "name": "holster"}).encode()
    status, _, data = panel.http("POST", "/api/command", body, {"Content-Type": "text/plain"})
    assert status == 415 and "Content-Type: application/json" in json.loads(data)["error"]
    got, reply = panel.command({"cmd": "status"}, {"Origin": "http://evil.example"})
    assert got == 403 and "refused" in reply["error"]
    # DNS rebinding: a page that reaches us under another name gets nothing at all
    status, _, data = panel.http("GET", "/api/state", headers={"Host": "evil.example"})
    assert status == 403 and "answers only to" in json.loads(data)["error"]
    got, reply = panel.command({"cmd": "status"}, {"Origin": f"http://{panel.host}"})
    assert got == 200 and reply["ok"]


def test_the_page_and_its_files_are_served(panel: RunningPanel) -> None:
    for path, ctype, needle in (("/", "text/html", b"id=\"led\""),
                                ("/static/panel.js", "text/javascript", b"EventSource"),
                                ("/static/panel.css", "text/css", b".led")):
        status, headers, body = panel.http("GET", path)
        assert status == 200 and headers["Content-Type"].startswith(ctype) and needle in body


def test_a_second_simulator_on_the_same_data_is_refused(panel: RunningPanel,
                                                        tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "device.cli", "sim", "--web-port", "0", "--data-dir",
         str(panel.data_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "a daemon is already running" in result.stderr
    flags = subprocess.run(
        [sys.executable, "-m", "device.cli", "sim", "--headless", "--web-port", "0",
         "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert flags.returncode == 2 and "are for the browser panel" in flags.stderr


def test_a_power_cut_kills_the_daemon_and_the_world_is_as_it_was_after_the_reboot(
        panel: RunningPanel) -> None:
    panel.ok({"cmd": "battery", "percent": 42})
    panel.ok({"cmd": "dock"})
    stream = EventStream(panel)
    try:
        stream.next()  # the snapshot
        assert panel.ok({"cmd": "power_cut"})["daemon"] == "booting"
        cut = stream.until("daemon", lambda d: d["state"] == "power_cut")
        killed = re.search(r"daemon process (\d+) killed \(SIGKILL\)", cut["detail"])
        assert killed is not None, cut
        with pytest.raises(ProcessLookupError):  # gone, and reaped
            os.kill(int(killed.group(1)), 0)
        stream.until("daemon", lambda d: d["state"] == "running")
        status = stream.until("status", lambda m: m["status"]["docked"] and abs(
            m["status"]["battery_percent"] - 42) <= 1)["status"]  # restored one by one
        assert status["mode"] == "docked"
    finally:
        stream.close()
    panel.ok({"cmd": "undock"})


def test_each_recording_lists_its_timeline(panel: RunningPanel) -> None:
    """Pre-event, the start, markers with their notes and a gap, from the signed manifests of
    a recording the simulator made, at their places in playing time."""
    stream = EventStream(panel)
    try:
        made = record_marked(panel, stream)
    finally:
        stream.close()
    status, _, body = panel.http("GET", "/api/state")
    assert status == 200
    (item,) = [r for r in json.loads(body)["recordings"] if r["id"] == made.id]
    timeline = item["timeline"]
    segments = timeline["segments"]
    assert [s["url"] for s in segments] == [s["url"] for s in item["segments"]]
    assert all(s["status"] == "ok" for s in segments)
    marks = timeline["marks"]
    assert [m["kind"] for m in marks] == ["pre_event", "press", "marker", "marker", "gap"]
    pre, press, first, second, gap = marks
    assert pre["at_s"] == 0 and pre["to_s"] == press["at_s"]
    assert 1.0 <= press["at_s"] <= 3.0  # 2 s asked for, from the keyframe before it
    assert press["reason"] == "trigger:holster"
    for mark, (when, note) in zip((first, second), made.markers, strict=True):
        assert mark["note"] == note and mark["verified"]
        # before the gap, a place in playing time is device time since the press, plus
        # the pre-event footage before it (to within a frame at 10 fps)
        assert mark["at_s"] == pytest.approx(press["at_s"] + when - made.started, abs=0.101)
        seg = segments[mark["segment"]]
        assert mark["at_s"] == pytest.approx(seg["start_s"] + mark["segment_s"], abs=0.002)
    assert first["segment"] == 0 and second["segment"] == 1
    assert "door kicked in" in first["label"]
    assert gap["segment_s"] == 0 and gap["at_s"] == segments[gap["segment"]]["start_s"]
    assert gap["missing_s"] == pytest.approx(made.replugged - made.unplugged, abs=0.101)
    assert timeline["duration_s"] == segments[-1]["end_s"]


def test_the_page_drives_the_simulated_receiver(panel: RunningPanel) -> None:
    """The page's location buttons reach the daemon through the panel; its answer says what
    the receiver sees."""
    status, _, page = panel.http("GET", "/")
    assert status == 200 and b'"cmd":"location","action":"lose"' in page
    lost = panel.ok({"cmd": "location", "action": "lose"})
    assert lost["location"]["receiver"] == "on" and lost["location"]["fix"] is None
    back = panel.ok({"cmd": "location", "action": "regain"})
    assert back["location"]["fix"] is not None
