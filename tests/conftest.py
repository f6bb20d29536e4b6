"""Shared fixtures: a small simulated camera on a clock the test moves."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.config import Config
from sim.simulator import Simulator

logging.getLogger("transitions").setLevel(logging.WARNING)

#: Small frames keep encoding cheap; 30 fps and a 1 s GOP match the defaults' timing.
SMALL = {"width": 320, "height": 240, "fps": 30}


@pytest.fixture
def config() -> Config:
    return Config().replace(camera=SMALL, recording={"pre_event_s": 2.0, "segment_s": 4.0},
                            encoder={"preset": "ultrafast"})


@pytest.fixture
def sim(tmp_path: Path, config: Config) -> Iterator[Simulator]:
    simulator = Simulator(config, tmp_path / "data")
    simulator.power_on()
    yield simulator
    if simulator.mode != "off":
        simulator.shutdown()


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
