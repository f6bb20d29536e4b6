"""The [pins] section: BCM numbers, required pins, conflicts, each a one-line error."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.config import Config, load_config
from hal.pi.pins import REQUIRED_PINS, PinsSection, pin_keys
from tests.conftest import config_error


def test_default_pin_map_is_complete_and_conflict_free() -> None:
    fitted = pin_keys(Config().pins)
    assert set(REQUIRED_PINS) <= fitted.keys()
    assert len(set(fitted.values())) == len(fitted)
    # UART (14, 15) stays free for the serial console, I2C (2, 3) for a battery gauge HAT.
    assert not {2, 3, 14, 15} & set(fitted.values())


@pytest.mark.parametrize("text, words", [
    ("[pins]\nfunction = 5\n", "pins.function uses BCM 5, already taken by pins.record"),
    ("[pins]\ntrigger_taser = 17\n", "pins.trigger_taser uses BCM 17, already taken by "
                                     "pins.led_red"),
    ("[pins]\nrecord = 0\n", "pins.record is required, got 0"),
    ("[pins]\nled_red = -1\n", "pins.led_red is required, got -1"),
    ("[pins]\npower = 40\n", "pins.power: 40 is out of range -1 to 27"),
    ("[pins]\nbuzzer = 'GPIO12'\n", "pins.buzzer: expected a number"),
    ("[pins]\nled_active_high = 1\n", "pins.led_active_high: expected true or false"),
    ("[pins]\ngnss_port = 'COM3x'\n", "pins.gnss_port must be a device such as /dev/ttyUSB0"),
    ("[pins]\ngnss_baudrate = 7\n", "pins.gnss_baudrate: 7 is out of range"),
])
def test_bad_pin_map_names_the_key(tmp_path: Path, text: str, words: str) -> None:
    assert words in config_error(tmp_path, text)


def test_unfitted_optional_pins_may_share_zero(tmp_path: Path) -> None:
    path = tmp_path / "bodycam.toml"
    path.write_text("[pins]\nvibration = 0\ndock = 0\ntrigger_holster = -1\nbuzzer = -1\n")
    fitted = pin_keys(load_config(path).pins)
    assert not {"vibration", "dock", "trigger_holster", "buzzer"} & fitted.keys()
    assert fitted["record"] == 5


def test_header_pins_named_in_the_docs_match_the_bcm_numbers() -> None:
    board = MockFactory().board_info  # the 40-pin header every Pi since the B+ shares
    documented = 0
    for f in dataclasses.fields(PinsSection):
        found = re.search(r"header pin (\d+)", f.metadata["doc"])
        if found:
            [(_header, pin)] = board.find_pin(f"GPIO{f.default}")
            assert (f.name, pin.number) == (f.name, int(found.group(1)))
            documented += 1
    assert documented == len(pin_keys(PinsSection()))
