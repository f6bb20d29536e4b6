"""Shared fixtures: a small simulated camera on a clock the test moves."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from device.config import Config, ConfigError, load_config
from hal.encoder import EncoderFactory, LibavEncoder
from sim.encoder import FakeEncoder
from sim.simulator import Simulator

if not entry_points(group="bodycam.backends"):  # an install older than pyproject.toml's
    pytest.exit("the backends' entry points are not installed (pyproject.toml changed since "
                "the last install): run make .venv/.installed", returncode=4)

#: The store's engines (PostgreSQL, Ceph RGW) for every test that asks for them.
pytest_plugins = ["tests.engines"]

logging.getLogger("transitions").setLevel(logging.WARNING)

#: Small frames keep encoding cheap; 30 fps and a 1 s GOP match the defaults' timing.
SMALL = {"width": 320, "height": 240, "fps": 30}
#: Tiny frames at 5 fps for behaviour tests that run simulated minutes.
TINY = {"width": 64, "height": 48, "fps": 5}
#: Narrowband sound for the same tests: real AAC, a sixth of the encoding of 48 kHz (the
#: sound's own tests, tests/test_audio*.py, record at the defaults).
NARROW = {"rate": 8000, "bitrate_kbps": 16}
#: Encryption at rest is on by default (issue 15): a camera without a force key faults at boot.
#: Tests about other things record in the clear, and say so here, in one place: every shared
#: configuration below (and the helpers in tests/ that build their own) takes this section.
#: Tests about encryption turn it on (tests/test_encryption.py and its neighbours).
CLEAR = {"enabled": False}
#: The same for a configuration file (the ``bodycam`` command line's tests append it).
CLEAR_TOML = "[encryption]\nenabled = false\n"


def clear_config(**sections: dict) -> Config:
    """``Config()`` with encryption off (:data:`CLEAR`); ``sections`` as ``Config.replace``."""
    return Config().replace(**{"encryption": CLEAR, **sections})


def power_cut(sim: Simulator, to: Path) -> Path:
    """The card as the power going now leaves it: once the daemon's queues have drained (so
    the cut falls at a known point), a copy of its data directory at ``to``; the simulator is
    then shut down (its own directory closes normally, the copy stays cut)."""
    sim.daemon.sync()
    shutil.copytree(sim.data_dir, to, ignore=shutil.ignore_patterns("control.sock"))
    sim.shutdown()
    return to


def tiny_config(**sections: dict) -> Config:
    """Tiny frames and short segments; ``sections`` override (merged per section)."""
    base: dict[str, dict] = {"camera": TINY, "recording": {"pre_event_s": 2.0, "segment_s": 4.0},
                             "encoder": {"preset": "ultrafast"}, "audio": NARROW,
                             "encryption": CLEAR}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return Config().replace(**base)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_encoder: the simulators of this test run libx264 "
                            "(tests about the media itself), not the fake encoder")


@pytest.fixture
def encoder(request: pytest.FixtureRequest) -> EncoderFactory:
    """The encoder the ``sim`` and ``make_sim`` simulators run: the fake (``sim/encoder.py``)
    for behaviour tests, libx264 for those marked ``real_encoder``."""
    return LibavEncoder if request.node.get_closest_marker("real_encoder") else FakeEncoder


@pytest.fixture
def make_sim(tmp_path: Path, encoder: EncoderFactory) -> Iterator:
    made: list[Simulator] = []

    def make(config: Config | None = None) -> Simulator:
        sim = Simulator(config or tiny_config(), tmp_path / f"data{len(made)}", encoder=encoder)
        made.append(sim)
        sim.power_on()
        return sim

    yield make
    for sim in made:
        sim.shutdown()




@pytest.fixture
def config() -> Config:
    return clear_config(camera=SMALL, recording={"pre_event_s": 2.0, "segment_s": 4.0},
                        encoder={"preset": "ultrafast"}, audio=NARROW)


@pytest.fixture
def sim(tmp_path: Path, config: Config, encoder: EncoderFactory) -> Iterator[Simulator]:
    simulator = Simulator(config, tmp_path / "data", encoder=encoder)
    simulator.power_on()
    yield simulator
    if simulator.mode != "off":
        simulator.shutdown()


def config_error(tmp_path: Path, text: str) -> str:
    """Load ``text`` as a configuration file: the error, which must be one line naming the file."""
    path = tmp_path / "bodycam.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    return message


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
