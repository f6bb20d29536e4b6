"""Backends as plug-ins: found by name through the ``bodycam.backends`` entry points, an unknown
name one line listing those installed, and a third party's backend (registered directly, or
installed with its own entry point and configuration section) building the hardware the
daemon runs on, with nothing of it named in the firmware."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from device import control
from device.config import Config
from device.notify import Notifier
from device.runner import build_hardware, run
from hal import backend as plugins
from hal.backend import GROUP, Backend, BackendError, Setup, find, opt
from hal.clock import SystemClock
from hal.hardware import Hardware
from hal.inputs import BUTTON_NAMES, Triggers
from hal.pi.pins import PinsSection
from sim import devices as simulated
from sim.backend import SimulatorSection
from sim.camera import SimCamera
from tests.conftest import CLEAR_TOML
from tests.pi_rig import mock_factory
from tests.simproc import BODYCAM


def test_the_installed_backends_are_found_by_name_through_their_entry_points() -> None:
    declared = {point.name: point.value for point in entry_points(group=GROUP)}
    assert declared == {"pi": "hal.pi.backend:backend", "sim": "sim.backend:backend"}
    pi, sim = find("pi"), find("sim")
    assert isinstance(pi, Backend) and isinstance(sim, Backend)
    assert (pi.name, pi.section, pi.schema) == ("pi", "pins", PinsSection)
    assert (sim.name, sim.section, sim.schema) == ("sim", "simulator", SimulatorSection)
    # the configuration's sections of those names are the backends' schemas, defaults and all
    assert Config().pins == PinsSection() and Config().simulator == SimulatorSection()


def test_an_unknown_backend_is_one_line_listing_the_installed_ones() -> None:
    with pytest.raises(BackendError) as err:
        find("pdp11")
    assert str(err.value) == "no backend 'pdp11' (installed: pi, sim)"


def test_bodycam_run_with_an_unknown_backend_says_which_exist(tmp_path: Path) -> None:
    done = subprocess.run([*BODYCAM, "run", "--backend", "pdp11", "--data-dir",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "bodycam run: error: no backend 'pdp11' (installed: pi, sim)\n"
    assert not (tmp_path / "d").exists()  # nothing was built


def test_the_pi_backend_builds_from_its_section_on_mock_pins(tmp_path: Path) -> None:
    """The plug-in gets its own section and the camera's mode, nothing else of the config."""
    factory = mock_factory()
    setup = Setup(tmp_path / "d", 320, 240, 30, SystemClock())
    pins = PinsSection(trigger_taser=0, dock=0)
    hw = find("pi").build(pins, setup, pin_factory=factory,
                          camera=SimCamera(setup.clock, 320, 240, 30), power_supply=tmp_path)
    try:
        assert hw.name == "pi" and sorted(hw.triggers.names()) == ["holster", "lightbar"]
        fired: list[str] = []
        hw.triggers.when_triggered = fired.append
        factory.pin(pins.trigger_holster).drive_low()  # closes to ground: active
        assert fired == ["holster"] and hw.triggers.active() == ["holster"]
        assert not hw.dock.is_docked  # not fitted
    finally:
        hw.close()


def test_a_backend_refuses_a_part_it_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="the sim backend takes no part pin_factory"):
        find("sim").build(None, Setup(tmp_path, 64, 48, 5), pin_factory=mock_factory())


def test_the_simulator_has_no_trigger_inputs(tmp_path: Path) -> None:
    hw = build_hardware(find("sim"), Config(), tmp_path)
    try:
        assert type(hw.triggers) is Triggers
        assert hw.triggers.names() == [] and hw.triggers.active() == []
    finally:
        hw.close()


# -- a third party's board -----------------------------------------------------------------------
class DoorTriggers(Triggers):
    """One trigger input, a door contact, that a test opens."""

    def names(self) -> list[str]:
        return ["door"]

    def open(self) -> None:
        self._fire("door")


class ToyBackend:
    """A backend the firmware has never heard of, built from HAL parts only."""

    name = "toy"
    section = None
    schema = None

    def __init__(self) -> None:
        self.built: list[Hardware] = []
        self.closed = threading.Event()

    def check(self, section: Any, source: str) -> None:
        raise AssertionError("a backend without a section is not asked to check one")

    def build(self, section: Any, setup: Setup, **parts: Any) -> Hardware:
        assert section is None and not parts
        clock = setup.clock or SystemClock()
        backend = self

        class ToyHardware(Hardware):
            def close(self) -> None:
                super().close()
                backend.closed.set()

        hw = ToyHardware(
            name="toy", clock=clock, camera=SimCamera(clock, setup.width, setup.height,
                                                      setup.fps),
            led=simulated.SimLed(clock), buzzer=simulated.SimBuzzer(clock),
            vibration=simulated.SimVibration(clock),
            buttons={n: simulated.SimButton(n, clock) for n in BUTTON_NAMES},
            dock=simulated.SimDock(), battery=simulated.SimBattery(80.0),
            storage=simulated.SimStorage(str(setup.data_dir)), triggers=DoorTriggers())
        self.built.append(hw)
        return hw


@pytest.fixture
def toy() -> Any:
    backend = ToyBackend()
    plugins.register(backend)
    yield backend
    plugins.unregister("toy")
    assert "toy" not in plugins.backends()


def test_a_registered_third_party_backend_runs_the_daemon(tmp_path: Path, config: Config,
                                                          toy: ToyBackend) -> None:
    data = tmp_path / "d"
    result: list[int] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify.sock"))
        notify.settimeout(30)
        runner = threading.Thread(target=lambda: result.append(run(
            config, data, backend="toy",
            notifier=Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}))))
        runner.start()
        try:
            assert notify.recv(4096) == b"READY=1\nSTATUS=mode buffering"
            _drive_the_toy(data, toy)
        finally:
            control.request(data, {"cmd": "shutdown"})
            runner.join(timeout=30)
    assert result == [0] and toy.closed.is_set()  # the hardware was released
    assert "auto-activation: door" in (data / "audit" / "audit.jsonl").read_text()


def _drive_the_toy(data: Path, toy: ToyBackend) -> None:
    status = control.request(data, {"cmd": "status"})["status"]
    assert (status["mode"], status["battery_percent"]) == ("buffering", 80.0)
    assert control.request(data, {"cmd": "version"})["backend"] == "toy"
    # the daemon wired the backend's trigger inputs: the door opens a recording (a marker
    # queued behind the trigger's event is answered once that event is handled)
    [hw] = toy.built
    assert isinstance(hw.triggers, DoorTriggers)
    hw.triggers.open()
    control.request(data, {"cmd": "marker", "note": "queued behind the trigger"})
    status = control.request(data, {"cmd": "status"})["status"]
    assert status["recording"]["reason"] == "trigger:door"


#: A third party's distribution, as pip installs one: a module and its dist-info with the
#: entry point. Its section, [toyboard], is checked by the loader like the firmware's own.
TOYBOARD = '''
from dataclasses import dataclass
from hal.backend import SectionError, opt
from hal.clock import SystemClock
from hal.hardware import Hardware
from hal.inputs import BUTTON_NAMES
from sim.camera import SimCamera
from sim.devices import (SimBattery, SimButton, SimBuzzer, SimDock, SimLed, SimStorage,
                         SimVibration)

@dataclass(frozen=True)
class ToySection:
    battery_pct: float = opt(55.0, "The toy battery's charge, %.", 0.0, 100.0)
    low_pct: float = opt(10.0, "Below this the toy says it is low, %.", 0.0, 100.0)

class Toy:
    name = "toyboard"
    section = "toyboard"
    schema = ToySection

    def check(self, section, source):
        if section.low_pct > section.battery_pct:
            raise SectionError(f"{source}: toyboard.low_pct must not exceed "
                               f"toyboard.battery_pct")

    def build(self, section, setup, **parts):
        clock = setup.clock or SystemClock()
        return Hardware(
            name="toyboard", clock=clock,
            camera=SimCamera(clock, setup.width, setup.height, setup.fps),
            led=SimLed(clock), buzzer=SimBuzzer(clock), vibration=SimVibration(clock),
            buttons={n: SimButton(n, clock) for n in BUTTON_NAMES}, dock=SimDock(),
            battery=SimBattery(section.battery_pct), storage=SimStorage(str(setup.data_dir)))

backend = Toy()
'''


def _install_toyboard(site: Path) -> dict[str, str]:
    site.mkdir()
    (site / "toyboard.py").write_text(TOYBOARD)
    info = site / "toyboard-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyboard\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\ntoyboard = toyboard:backend\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}


def test_an_installed_third_party_backend_brings_its_section_and_runs(tmp_path: Path) -> None:
    env = _install_toyboard(tmp_path / "site")

    def bodycam(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BODYCAM, *args], capture_output=True, text=True, timeout=60,
                              env=env)

    described = bodycam("config").stdout
    assert "\n[toyboard]\n# The toy battery's charge, %.\nbattery_pct = 55\n" in described
    assert described.index("[triggers]") < described.index("[toyboard]") < described.index(
        "[upload]")
    bad = tmp_path / "bad.toml"
    bad.write_text("[toyboard]\nbattery_pct = 5\n")
    done = bodycam("config", "--check", str(bad))
    assert (done.returncode, done.stderr) == (1, f"bodycam config: error: {bad}: "
                                                 f"toyboard.low_pct must not exceed "
                                                 f"toyboard.battery_pct\n")
    bad.write_text("[toyboard]\nbattery_pct = 500\n")
    assert "toyboard.battery_pct: 500 is out of range 0 to 100" in bodycam(
        "config", "--check", str(bad)).stderr
    listed = bodycam("run", "--backend", "nope", "--data-dir", str(tmp_path / "x")).stderr
    assert listed == "bodycam run: error: no backend 'nope' (installed: pi, sim, toyboard)\n"

    good = tmp_path / "bodycam.toml"
    good.write_text("[toyboard]\nbattery_pct = 42\n[camera]\nwidth = 64\nheight = 48\n"
                    "fps = 5\n[encoder]\npreset = \"ultrafast\"\n" + CLEAR_TOML)
    data = tmp_path / "d"
    proc = subprocess.Popen([*BODYCAM, "run", "--backend", "toyboard", "--config", str(good),
                             "--data-dir", str(data)], stderr=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stderr is not None
    try:
        lines = []
        for line in proc.stderr:  # the run says when its control socket is up
            lines.append(line)
            if "control socket" in line:
                break
        assert lines[-1].startswith("INFO bodycam: mode buffering; control socket "), lines
        status = control.request(data, {"cmd": "status"})["status"]
        assert (status["mode"], status["battery_percent"]) == ("buffering", 42.0)
        assert control.request(data, {"cmd": "version"})["backend"] == "toyboard"
        control.request(data, {"cmd": "shutdown"})
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"INFO bodycam: camera off; footage in {data / 'recordings'}" in rest


def test_registering_something_that_is_no_backend_is_refused() -> None:
    with pytest.raises(BackendError, match=r"^backend '\?' is not a backend named '\?'$"):
        plugins.register(object())  # type: ignore[arg-type]
    assert "?" not in plugins.backends()


def test_opt_refuses_a_number_without_its_range() -> None:
    with pytest.raises(TypeError, match="a number key needs its range"):
        @dataclass(frozen=True)
        class Bad:
            size: int = opt(3, "no range")


def test_bodycam_sim_and_store_find_their_front_ends_by_entry_point() -> None:
    """The command line names no simulator or store module: ``bodycam sim`` and ``bodycam
    store`` load theirs by name."""
    import sim.app
    import store.cli
    from device.runner import FRONTENDS, FrontendError, frontend

    assert sorted(p.value for p in entry_points(group=FRONTENDS)) == ["sim.app:frontend",
                                                                     "store.cli:main"]
    assert frontend("sim") is sim.app.frontend
    assert frontend("store") is store.cli.main
    with pytest.raises(FrontendError, match=r"^no 'vr' front end is installed \(the "):
        frontend("vr")


def test_a_broken_plug_in_stops_only_itself(tmp_path: Path) -> None:
    """A backend that does not load leaves every command working, in one line of warning;
    asking for it by name is its error, in one line."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "notaboard.py").write_text(
        "backend = object()\n"
        "class NoSchema:\n    name, section, schema = 'bare', 'bare', dict\n"
        "    def check(self, s, src): pass\n    def build(self, s, setup): pass\n"
        "bare = NoSchema()\n")
    info = site / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nbroken = nosuchmodule:backend\n"
                                           f"odd = notaboard:backend\n"
                                           f"bare = notaboard:bare\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}

    def bodycam(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BODYCAM, *args], capture_output=True, text=True, timeout=60,
                              env=env)

    described = bodycam("config")
    assert described.returncode == 0 and "[pins]" in described.stdout
    assert described.stderr.splitlines() == [
        "backend 'broken' (nosuchmodule:backend) does not load: ModuleNotFoundError: No "
        "module named 'nosuchmodule'",
        "backend 'odd' (notaboard:backend) is not a backend named 'odd'",
        "backend 'bare' (notaboard:bare) gives no schema for [bare] (a dataclass of opt() "
        "keys)"]
    done = bodycam("run", "--backend", "odd", "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == ("bodycam run: error: backend 'odd' "
                                            "(notaboard:backend) is not a backend named 'odd'")


def test_loading_the_configuration_loads_no_driver() -> None:
    """The loader asks every backend for its schema; that must not import gpiozero, the
    camera stack or numpy (``bodycam status`` would pay for them on every call)."""
    code = ("import sys, device.config\n"
            "print(sorted(m for m in ('numpy', 'gpiozero', 'av', 'cv2', 'picamera2') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout == "[]\n"
