from pathlib import Path

import pytest

from device.config import Config, ConfigError, describe_defaults, load_config
from tests.conftest import config_error


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bodycam.toml"
    path.write_text(text)
    return path


def test_defaults_follow_the_field_reference() -> None:
    c = Config()
    assert c.recording.pre_event_s == 30.0
    assert c.gestures.hold_s == 3.0
    assert c.indicators.reminder_interval_s == 120.0
    assert c.encoder.codec == "libx264"


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    c = load_config(write(tmp_path, "[camera]\nwidth = 1920\nheight = 1080\n"))
    assert (c.camera.width, c.camera.height, c.camera.fps) == (1920, 1080, 30)


@pytest.mark.parametrize("text, words", [
    ("[camera]\nwidht = 3\n", "unknown key camera.widht"),
    ("[camra]\nwidth = 3\n", "unknown section [camra]"),
    ("[camera]\nwidth = 'wide'\n", "camera.width: expected a number"),
    ("[camera]\nwidth = 640.5\n", "camera.width: expected a whole number"),
    ("[recording]\npre_event_s = 500\n", "recording.pre_event_s: 500 is out of range 0 to 120"),
    ("[encoder]\npreset = 'glacial'\n", 'encoder.preset: "glacial" is not one of'),
    ("[indicators]\nstart_tones = [[880]]\n", "indicators.start_tones: expected a list"),
    ("[camera]\nwidth = 321\n", "must be even"),
    ("[camera\nwidth = 3\n", "not valid TOML"),
    ("camera = 3\n", "[camera] must be a table"),
])
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, words: str) -> None:
    assert words in config_error(tmp_path, text)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")


def test_printed_defaults_load_back_unchanged(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, describe_defaults())) == Config()
