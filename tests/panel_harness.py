"""The browser panel as a newcomer starts it (``bodycam sim`` in a subprocess, which prints its
address), plain HTTP helpers, and Debian's Chromium driven by Playwright.

Nothing here sleeps: lines from the subprocess arrive through a queue that the test waits on
with a timeout, and the simulator runs on its virtual clock where a test needs time to pass.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import CLEAR_TOML

#: The panel's camera: small frames, short segments (encryption on, as ``make sim`` has it).
CAMERA = """
[camera]
width = 320
height = 240
fps = 10
[encoder]
preset = "ultrafast"
[recording]
pre_event_s = 2
segment_s = 4
"""
#: ... recording in the clear, for the panel's tests not about encryption.
CONFIG = CAMERA + CLEAR_TOML
ADDRESS = re.compile(r"bodycam panel: (http://\S+/)")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@dataclass
class RunningPanel:
    proc: subprocess.Popen[str]
    data_dir: Path
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The next line matching ``pattern``, as the process prints it."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; "
                                     f"output so far:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError(f"the panel exited ({self.proc.wait()}) before printing "
                                     f"{pattern!r}:\n" + "\n".join(self.lines))
            match = regex.search(line)
            if match:
                return match

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def command(self, payload: Any, headers: dict[str, str] | None = None
                ) -> tuple[int, dict[str, Any]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, data = self.http("POST", "/api/command", body, {
            "Content-Type": "application/json", **(headers or {})})
        return status, json.loads(data)

    def ok(self, payload: dict[str, Any]) -> dict[str, Any]:
        status, reply = self.command(payload)
        assert status == 200 and reply["ok"], reply
        return reply

    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@contextmanager
def running_panel(tmp: Path, *extra: str, settings: str = CONFIG) -> Iterator[RunningPanel]:
    """``bodycam sim --web-port 0`` until the camera has booted; powered off cleanly after.
    ``settings``: the configuration file's text."""
    config = tmp / "bodycam.toml"
    config.write_text(settings)
    data_dir = tmp / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "sim", "--web-port", "0", "--config", str(config),
         "--data-dir", str(data_dir), *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    panel = RunningPanel(proc, data_dir)
    threading.Thread(target=panel._pump, daemon=True).start()
    try:
        panel.url = panel.wait_for_line(ADDRESS.pattern).group(1)
        panel.wait_for_line(r"^control socket ")
        yield panel
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class EventStream:
    """The page's view: server-sent events read as they arrive (with a timeout, no polling)."""

    def __init__(self, panel: RunningPanel, timeout: float = 15.0) -> None:
        self.conn = http.client.HTTPConnection(panel.host, timeout=timeout)
        self.conn.request("GET", "/events")
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type") == "text/event-stream"

    def next(self) -> tuple[str, Any]:
        kind, data = "", ""
        while True:
            line = self.response.fp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: "):
                data = line[len("data: "):]
            elif line == "" and kind:
                return kind, json.loads(data)

    def until(self, kind: str, check: Any = lambda data: True) -> Any:
        while True:
            got, data = self.next()
            if got == kind and check(data):
                return data

    def close(self) -> None:
        self.conn.close()


@dataclass
class MarkedRecording:
    """A recording made through the panel with everything its timeline shows, and when each
    thing happened (device monotonic seconds on the virtual clock)."""

    id: str
    started: float
    markers: list[tuple[float, str]]
    unplugged: float
    replugged: float


def record_marked(panel: RunningPanel, stream: EventStream) -> MarkedRecording:
    """Pre-event footage, a trigger, a marker with a note, one without in the next segment
    (4 s segments), the sensor out for a second (a gap), a hold to stop; returns once the
    panel lists the recording as verified."""
    def now(seconds: float) -> float:
        return float(panel.ok({"cmd": "advance", "seconds": seconds})["monotonic"])

    started = now(3.0)  # the 2 s pre-event buffer is full
    panel.ok({"cmd": "trigger", "name": "holster"})
    recording_id = panel.ok({"cmd": "status"})["status"]["recording"]["id"]
    markers = []
    for wait, note in ((1.0, "door kicked in"), (4.0, "")):
        markers.append((now(wait), note))
        panel.ok({"cmd": "marker", "note": note})
    unplugged = now(0.5)
    panel.ok({"cmd": "camera", "action": "unplug"})
    replugged = now(1.0)
    panel.ok({"cmd": "camera", "action": "replug"})
    now(1.5)
    panel.ok({"cmd": "press", "button": "record", "gesture": "hold", "seconds": 3.2})
    now(4.0)
    stream.until("recordings", lambda items: any(
        r["id"] == recording_id and r["status"] == "verified" for r in items))
    return MarkedRecording(recording_id, started, markers, unplugged, replugged)


def chromium_path() -> str | None:
    chosen = os.environ.get("BODYCAM_CHROMIUM")
    if chosen:
        return chosen
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def launched_chromium(*extra_args: str) -> Iterator[Any]:
    """A headless Chromium driven by playwright (closed on leaving), or the test skipped with
    the reason none starts here."""
    import pytest  # the harness is also used outside pytest's fixtures
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set BODYCAM_CHROMIUM)")
    manager = playwright_api.sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=executable,
                                          args=[*CHROMIUM_FLAGS, *extra_args])
    except Exception as exc:  # any reason a browser cannot start here
        manager.stop()
        pytest.skip(f"Chromium at {executable} did not start: {str(exc).splitlines()[0]}")
    try:
        yield browser
    finally:
        browser.close()
        manager.stop()
