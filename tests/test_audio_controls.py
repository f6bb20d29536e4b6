"""The simulated microphone's controls: "speak" into it and pull its cable, through the one
command path every front end uses (the control socket's ``microphone`` command, the serial
console's ``microphone`` line, ``bodycam microphone`` and the browser panel), and their bad
input, each a one-line error that changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from device import console_protocol as protocol
from device.control import Controller
from sim.simulator import Simulator
from sim.web.hub import Hub
from sim.web.panel import Panel
from tests.conftest import tiny_config


def controller(sim: Simulator) -> Controller:
    return Controller(sim.daemon, extra=sim.commands())


def level(sim: Simulator) -> float:
    audio = sim.daemon.status().audio
    assert audio is not None
    return float(audio["level_dbfs"])


def test_speak_raises_the_level_for_as_long_as_it_says_then_the_room_is_quiet(
        make_sim) -> None:
    sim = make_sim(tiny_config(recording={"pre_event_audio": True}))
    ctl = controller(sim)
    # the meter shows the last block (0.2 s at 5 fps); reading it half-way between two of the
    # camera's flashes (one a second) keeps their tone bursts out of it
    sim.advance(1.5)
    quiet = level(sim)
    assert quiet < -40  # the simulated room's noise floor
    reply = ctl.handle({"cmd": "microphone", "action": "speak", "seconds": 1.5})
    assert reply["ok"] and reply["action"] == "speak", reply
    sim.advance(1.0)
    assert level(sim) > quiet + 30  # a voice
    sim.advance(1.0)
    assert level(sim) < -40  # it stopped when it said it would (at 3.0 s)
    assert ctl.handle({"cmd": "microphone", "action": "speak"})["ok"]  # 2 s by default
    sim.advance(1.9)
    assert level(sim) > quiet + 30  # 5.4 s
    sim.advance(0.4)
    assert level(sim) < -40  # 5.8 s: the voice ended at 5.5 s


def test_unplug_and_replug_are_a_microphone_fault_and_its_return_in_the_audit_log(
        make_sim) -> None:
    sim = make_sim()
    ctl = controller(sim)
    assert ctl.handle({"cmd": "microphone", "action": "unplug"})["ok"]
    sim.advance(1.0)
    assert ctl.handle({"cmd": "microphone", "action": "replug"})["ok"]
    sim.advance(1.0)
    entries = _audit(sim)
    assert [e["data"]["lost"] for e in entries] == [True, False]
    assert sim.mode == "buffering"  # a microphone fault never stops the camera


def _audit(sim: Simulator) -> list[dict[str, Any]]:
    import json
    return [e for e in (json.loads(line) for line in
                        (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines())
            if e["event"] == "microphone"]


@pytest.mark.parametrize(("request_", "error"), [
    ({"cmd": "microphone"}, "microphone takes action speak, unplug or replug, got null"),
    ({"cmd": "microphone", "action": "shout"}, 'got "shout"'),
    ({"cmd": "microphone", "action": ["speak"]}, "microphone takes action"),
    ({"cmd": "microphone", "action": "speak", "seconds": -1},
     "microphone takes seconds from 0 to 60, got -1"),
    ({"cmd": "microphone", "action": "speak", "seconds": 61}, "got 61"),
    ({"cmd": "microphone", "action": "speak", "seconds": "long"}, 'got "long"'),
    ({"cmd": "microphone", "action": "speak", "seconds": True}, "got true"),
    ({"cmd": "microphone", "action": "speak", "seconds": float("nan")}, "from 0 to 60"),
    ({"cmd": "microphone", "action": "unplug", "seconds": 2},
     "microphone unplug takes no seconds"),
    ({"cmd": "microphone", "action": "speak", "volume": 11}, 'got "volume"'),
])
def test_bad_microphone_requests_are_one_line_errors_that_change_nothing(
        make_sim, request_: dict, error: str) -> None:
    sim = make_sim()
    before = level(sim)
    reply = controller(sim).handle(request_)
    assert not reply["ok"] and error in reply["error"], reply
    assert "\n" not in reply["error"]
    sim.advance(0.5)
    assert sim.microphone is not None and sim.microphone.plugged
    assert level(sim) < -40 and before < -40  # nobody spoke


def test_a_camera_without_a_microphone_says_so(make_sim) -> None:
    sim = make_sim(tiny_config(audio={"enabled": False}))
    reply = controller(sim).handle({"cmd": "microphone", "action": "speak"})
    assert not reply["ok"]
    assert reply["error"].endswith("this camera has no microphone (audio.enabled = false)")


SIM = {"status", "version", "press", "marker", "trigger", "events", "shutdown", "advance",
       "microphone"}


@pytest.mark.parametrize(("line", "request_"), [
    ("microphone speak", {"cmd": "microphone", "action": "speak"}),
    ("microphone speak 3.5", {"cmd": "microphone", "action": "speak", "seconds": 3.5}),
    ("#m microphone unplug", {"cmd": "microphone", "action": "unplug"}),
])
def test_console_lines_become_microphone_requests(line: str, request_: dict) -> None:
    assert protocol.parse(line, SIM)[2] == request_


@pytest.mark.parametrize(("line", "error"), [
    ("microphone", "microphone takes 1-2 argument(s), got 0"),
    ("microphone speak 1 2", "got 3"),
    ("microphone speak soon", 'microphone: SECONDS must be a number, got "soon"'),
    ("microphone speak inf", "SECONDS must be a finite number"),
])
def test_bad_console_microphone_lines_are_named(line: str, error: str) -> None:
    with pytest.raises(protocol.BadLine) as bad:
        protocol.parse(line, SIM)
    assert error in str(bad.value)


def test_a_board_refuses_the_simulators_microphone_by_name() -> None:
    board = {"status", "version", "press", "marker", "trigger", "events", "shutdown"}
    with pytest.raises(protocol.BadLine, match='not available on this camera: "microphone"'):
        protocol.parse("microphone speak", board)


@pytest.mark.parametrize(("args", "error"), [
    (["microphone", "unplug", "--seconds", "2"], "microphone unplug takes no --seconds"),
    (["microphone", "speak", "--seconds", "99"], 'expected seconds from 0 to 60, got "99"'),
    (["microphone", "shout"], "invalid choice"),
])
def test_the_command_line_refuses_bad_microphone_arguments_in_one_line(
        tmp_path: Path, args: list[str], error: str) -> None:
    result = subprocess.run([sys.executable, "-m", "device.cli", *args, "--data-dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert error in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


class _Daemon:
    """The panel's daemon process, answering every request (what it forwards is the test)."""

    state = "running"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        return {"mode": "buffering"}


def test_the_panel_forwards_speak_and_keeps_an_unplugged_microphone_across_a_power_cut(
        tmp_path: Path) -> None:
    daemon = _Daemon()
    panel = Panel(daemon, Hub(daemon, tmp_path, {}))  # type: ignore[arg-type]
    panel.command({"cmd": "microphone", "action": "unplug"})
    panel.command({"cmd": "microphone", "action": "speak", "seconds": 1})
    assert daemon.requests[-1] == {"cmd": "microphone", "action": "speak", "seconds": 1}
    assert panel.world["microphone"] == {"cmd": "microphone", "action": "unplug"}
    panel.command({"cmd": "microphone", "action": "replug"})
    assert "microphone" not in panel.world
