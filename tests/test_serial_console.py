"""The serial console on real ports: a pseudo-terminal, TCP, and a pyserial URL the daemon
reaches out to. Answers, events, request ids, and bad input answered without disturbing the
camera. The client is the HIL suite's (tests/hil/console.py)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from device.config import Config
from device.control import Controller
from device.notify import Notifier
from device.runner import run
from device.serial_console import SerialConsole
from device.service import power_on
from hal.clock import SystemClock
from sim.camera import SimCamera
from sim.encoder import FakeEncoder
from sim.microphone import SimMicrophone
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.hil.console import Console, Event
from tests.hil.device import in_order
from tests.pi_rig import mock_factory


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[Simulator]:
    """A simulated camera on a virtual clock, its daemon on its own thread as in service."""
    sim = Simulator(tiny_config(), tmp_path / "data", encoder=FakeEncoder)
    power_on(sim.daemon)
    yield sim
    sim.shutdown()


def greeted(stream: BinaryIO) -> dict:
    """The console's greeting, the first line of a session: from then on it reads."""
    line = stream.readline()
    assert line.startswith(b"event 0 ") and b" console " in line, line
    return json.loads(line.split(b" ", 4)[4])


@contextmanager
def reached(listener: socket.socket) -> Iterator[tuple[BinaryIO, dict]]:
    """The console that connected out to ``listener``: its stream, and its greeting."""
    link, _ = listener.accept()
    with link, link.makefile("rwb") as stream:
        yield stream, greeted(stream)


def exchange(stream: BinaryIO, requests: bytes, count: int) -> list[bytes]:
    """Send ``requests``, then read until ``count`` answer lines; events are passed over."""
    stream.write(requests)
    stream.flush()
    found: list[bytes] = []
    while len(found) < count:
        line = stream.readline()
        assert line.endswith(b"\r\n"), f"the line ended early: {line!r}"
        if not line.startswith(b"event "):
            found.append(line)
    return found


def serve(sim: Simulator, spec: str) -> SerialConsole:
    console = SerialConsole(Controller(sim.daemon, sim.commands()), sim.daemon.bus, spec)
    console.start()
    return console


@pytest.fixture
def pty(camera: Simulator) -> Iterator[Console]:
    """A client on the pseudo-terminal the camera serves its console on."""
    served = serve(camera, "pty")
    client = Console(served.url, timeout=10)
    yield client
    client.close()
    served.stop()


def test_answers_and_the_events_a_command_caused_on_a_pty(camera: Simulator,
                                                          pty: Console) -> None:
    assert pty.url.startswith("/dev/")
    info = pty.ask("version")
    assert (info["backend"], info["clock"]) == ("sim", "virtual")
    assert "advance" in info["commands"]
    pending = pty.ask("double record")
    assert pending["pending_until"] > 0 and camera.mode == "buffering"
    mark = pty.mark()
    assert pty.ask("advance 1") == {"monotonic": 1.0}
    caused = pty.since(mark)  # all on the line before the answer
    in_order(caused, ("gesture", {"button": "record", "gesture": "double"}),
             ("mode", {"source": "buffering", "dest": "recording"}),
             ("led", {"colour": "red", "on_s": 0.5, "off_s": 0.5}))
    seqs = [e.seq for e in caused]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(e.t == pytest.approx(pending["pending_until"]) for e in caused[:2])
    assert pty.ask("status")["status"]["mode"] == camera.mode == "recording"
    kept = [Event.from_dict(e) for e in pty.ask(f"events {seqs[0] - 1}")["events"]]
    assert [e.seq for e in kept[:len(seqs)]] == seqs


def test_pipelined_requests_get_their_ids_back_in_order(camera: Simulator,
                                                        pty: Console) -> None:
    pty.write(b"#a status\n#b.2 trigger holster\r\n#c:3 marker at the door\rversion\n")
    answers = [pty.answer() for _ in range(4)]
    assert [a.split(" ", 2)[:2] for a in answers[:3]] == [["ok", "#a"], ["ok", "#b.2"],
                                                         ["ok", "#c:3"]]
    assert answers[3].startswith("ok {")
    pty.write(b"sta")  # a line may arrive in pieces
    pty.write(b"tus\n")
    assert pty.answer().startswith('ok {"status": {"mode": "recording"')
    assert camera.daemon.recording is not None and camera.daemon.recording.markers == 1


#: (bytes sent, what the one error line must say)
BAD_LINES = [
    (b"\xff\xfe status\n", "line is not valid UTF-8 (byte 0xff at offset 0)"),
    (b"A" * 100_000 + b"\n", "line longer than 1024 bytes: ignored up to its end"),
    (b"status\x00\n", "line contains control character 0x00 at offset 6"),
    (b"\x1b[A\n", "control character 0x1b at offset 0"),
    (b"frobnicate now\n", 'unknown command: "frobnicate"'),
    (b"press\n", "press takes 1 argument(s), got 0 (usage: press BUTTON)"),
    (b"press elbow\n", 'press: unknown button "elbow" (expected one of: record, function,'),
    (b"hold record 99\n", "hold: hold seconds must be a number more than 0 and at most 30, "
                          "got 99.0"),
    (b"advance soon\n", 'advance: SECONDS must be a number, got "soon"'),
    (b"advance nan\n", 'advance: SECONDS must be a finite number, got "nan"'),
    (b"advance -5\n", "advance: advance takes seconds from 0 to 3600, got -5.0"),
    (b"events -1\n", 'events: SINCE must be a whole number >= 0, got "-1"'),
    (b"#bad!id status\n", 'request id "#bad!id" must be # and 1-32 letters'),
    (b"#7\n", "#7 no command after the request id"),
    (b"#8 trigger banana\n", '#8 trigger: unknown trigger "banana" (configured: holster,'),
    (b"marker " + b"x" * 300 + b"\n", "marker: marker note must be a string of at most 200"),
    (b"camera explode\n", 'camera: camera takes action unplug or replug, got "explode"'),
]


def test_bad_input_gets_one_error_line_each_and_leaves_the_camera_alone(
        camera: Simulator, pty: Console) -> None:
    pty.ask("double record")
    pty.ask("advance 1")
    before = pty.ask("status")["status"]
    garbage = bytes(random.Random(6).choice([*range(0, 10), *range(14, 256)])
                    for _ in range(700))
    for line, words in [*BAD_LINES, (garbage + b"\n", "")]:
        pty.write(line)
        answer = pty.answer()
        assert answer.startswith("error ") and words in answer, (line[:40], answer)
        assert answer.isascii() and len(answer) <= 260
    pty.write(b"\n\r\n  \t \nok #1 {}\nevent 3 1.0 mode {}\nerror whatever\n")  # no answers
    after = pty.ask("status")["status"]
    assert (after["mode"], after["flags"], after["audit_entries"]) == (
        "recording", before["flags"], before["audit_entries"])
    assert camera.daemon._thread is not None and camera.daemon._thread.is_alive()
    pty.ask("hold record")
    pty.ask("advance 4")
    assert camera.mode == "buffering" and camera.daemon.last_recording is not None


def test_tcp_serves_several_clients_and_outlives_one_that_vanishes(camera: Simulator) -> None:
    served = serve(camera, "tcp:127.0.0.1:0")
    try:
        first, second = Console(served.url, 10), Console(served.url, 10)
        assert second.ask("version")["backend"] == "sim"  # both attached before the trigger
        assert first.ask("trigger taser")["started"] is True
        second.ask("status")  # the event reached the other client too, before this answer
        # the greeting may be flushed; the daemon's notes come in between
        kinds = [e.kind for e in second.events if e.seq and e.kind != "note"]
        assert kinds[:2] == ["trigger", "recording_start"]
        first.port.close()  # gone without a word
        assert second.ask("status")["status"]["recording"]["reason"] == "trigger:taser"
        second.close()
    finally:
        served.stop()


def test_the_console_reaches_out_to_a_pyserial_url(camera: Simulator) -> None:
    """A vehicle controller (here a TCP server) sends a trigger over a socket:// URL."""
    with socket.create_server(("127.0.0.1", 0)) as controller:
        controller.settimeout(10)
        served = serve(camera, f"socket://127.0.0.1:{controller.getsockname()[1]}")
        try:
            with reached(controller) as (stream, hello):
                assert hello["mode"] == "buffering"
                reply = exchange(stream, b"#v1 trigger lightbar\n", 1)
        finally:
            served.stop()
    assert reply == [b'ok #v1 {"started": true, "mode": "recording"}\r\n']
    assert camera.daemon.recording is not None
    assert camera.daemon.recording.reason == "trigger:lightbar"


def test_the_pi_backend_reports_its_led_and_tones_on_the_console(tmp_path: Path,
                                                                 config: Config) -> None:
    """What the daemon told the Pi's LED and buzzer is on the console, as on the simulator."""
    factory, clock = mock_factory(), SystemClock()
    camera = SimCamera(clock, 320, 240, 30)  # and its microphone: the machine has no ALSA card
    result: list[int] = []
    with socket.create_server(("127.0.0.1", 0)) as bench:
        bench.settimeout(30)
        runner = threading.Thread(target=lambda: result.append(run(
            config, tmp_path / "d", codec="libx264", pin_factory=factory, clock=clock,
            camera=camera, microphone=SimMicrophone(clock, config.audio.rate,
                                                    config.audio.channels, camera=camera),
            notifier=Notifier({}),
            power_supply=tmp_path, serial=f"socket://127.0.0.1:{bench.getsockname()[1]}")),
            daemon=True)
        runner.start()
        with reached(bench) as (stream, hello):
            assert hello["backend"] == "pi"
            replies = exchange(stream, b"events\nshutdown\n", 2)
        runner.join(timeout=30)
    assert replies[0].startswith(b"ok {") and replies[1] == b'ok {"mode": "off"}\r\n'
    kept = [Event.from_dict(e) for e in json.loads(replies[0][3:])["events"]]
    in_order(kept, ("led", {"colour": "red"}), ("tones", {"signal": "boot_done"}),
             ("led", {"colour": "green", "on_s": 0.5}))
    assert result == [0]


def test_a_serial_port_that_cannot_be_served_is_one_line(tmp_path: Path) -> None:
    def sim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "device.cli", "sim", "--headless",
                               "--data-dir", str(tmp_path / "d"), *args],
                              capture_output=True, text=True, timeout=60)

    bad = sim("--serial", "tcp:http")
    assert (bad.returncode, bad.stderr) == (1, "bodycam sim: error: serial console: expected "
                                               "tcp:PORT or tcp:HOST:PORT with PORT 0-65535, "
                                               "got 'tcp:http'\n")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = sim("--serial", f"tcp:127.0.0.1:{taken.getsockname()[1]}")
    assert busy.returncode == 1 and "cannot listen on 127.0.0.1:" in busy.stderr
    config = tmp_path / "bodycam.toml"
    config.write_text('[serial]\nport = "ttyUSB0"\n')
    wrong = sim("--config", str(config))
    assert wrong.returncode == 1 and wrong.stderr.startswith(
        f"bodycam sim: error: {config}: serial.port: expected off, pty, tcp:PORT")
    assert not (tmp_path / "d" / "control.sock").exists()
