"""The audio configuration keys: defaults, and one-line errors for what cannot be recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import Config, ConfigError, describe_defaults, load_config


def test_defaults() -> None:
    config = Config()
    assert (config.audio.enabled, config.audio.codec, config.audio.rate, config.audio.channels,
            config.audio.bitrate_kbps, config.audio.mute_allowed) == (True, "aac", 48000, 1, 64,
                                                                      True)
    assert config.recording.pre_event_audio is False


def test_defaults_print_and_load_back(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(describe_defaults())
    assert "[audio]" in path.read_text()
    assert load_config(path) == Config()


@pytest.mark.parametrize(("text", "says"), [
    ('[audio]\ncodec = "mp3"\n', "audio.codec"),
    ("[audio]\nrate = 44000\n", "audio.rate 44000 is not a sample rate"),
    ("[audio]\nrate = 0\n", "audio.rate"),
    ("[audio]\nchannels = 3\n", "audio.channels"),
    ('[audio]\nmute_allowed = "no"\n', "audio.mute_allowed"),
    ("[recording]\npre_event_audio = 1\n", "recording.pre_event_audio"),
])
def test_bad_values_are_one_line_errors(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert says in str(err.value) and "\n" not in str(err.value)
