"""Every key of the configuration against values a person (or a store's settings) could give it:
not a number, NaN, infinity, out of range, a bool for a number, a float for a whole number, huge
integers, control characters, malformed store URLs. Each is one line naming the file and the key;
none is a traceback, none is called valid (issue 11 item 12; issue 13 item 10)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from device.config import Config, ConfigError, load_config
from tests.conftest import config_error


def keys(kind: type) -> list[tuple[str, str, dataclasses.Field[Any]]]:
    """(section, key, field) for every key whose default is of ``kind`` (bools not numbers)."""
    found = []
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            default = f.default
            if isinstance(default, bool) == (kind is bool) and isinstance(default, kind):
                found.append((section.name, f.name, f))
    return found


NUMBERS = keys(float) + keys(int)
WHOLE = [k for k in NUMBERS if type(k[2].default) is int]


def test_the_key_lists_are_what_they_claim() -> None:
    assert len(NUMBERS) > 45 and len(WHOLE) >= 20
    assert ("gestures", "hold_s") in [(s, k) for s, k, _ in NUMBERS]


@pytest.mark.parametrize("section, key, f", NUMBERS, ids=[f"{s}.{k}" for s, k, _ in NUMBERS])
def test_nan_and_infinity_are_refused_for_every_number(tmp_path: Path, section: str, key: str,
                                                       f: Any) -> None:
    for value in ("nan", "+nan", "-nan", "inf", "+inf", "-inf"):
        message = config_error(tmp_path, f"[{section}]\n{key} = {value}\n")
        assert f"{section}.{key}: expected a finite number from" in message
        assert message.endswith(value.lstrip("+").replace("-nan", "nan"))  # as TOML spells it


@pytest.mark.parametrize("section, key, f", NUMBERS, ids=[f"{s}.{k}" for s, k, _ in NUMBERS])
def test_every_number_has_a_range_and_keeps_to_it(tmp_path: Path, section: str, key: str,
                                                  f: Any) -> None:
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    assert lo is not None and hi is not None and lo <= f.default <= hi
    step = 1 if type(f.default) is int else 0.5
    for value in (lo - step, hi + step):
        text = str(int(value)) if step == 1 else repr(float(value))
        message = config_error(tmp_path, f"[{section}]\n{key} = {text}\n")
        assert f"{section}.{key}: {text} is out of range {lo:g} to {hi:g}" in message
    huge = "9" * 400  # TOML itself sets no bound on an integer's digits
    assert "is out of range" in config_error(tmp_path, f"[{section}]\n{key} = {huge}\n")


@pytest.mark.parametrize("section, key, f", NUMBERS, ids=[f"{s}.{k}" for s, k, _ in NUMBERS])
def test_a_bool_or_a_string_is_not_a_number(tmp_path: Path, section: str, key: str,
                                            f: Any) -> None:
    assert f"{section}.{key}: expected a number, got true" in config_error(
        tmp_path, f"[{section}]\n{key} = true\n")
    assert f'{section}.{key}: expected a number, got "3"' in config_error(
        tmp_path, f"[{section}]\n{key} = '3'\n")
    assert f"{section}.{key}: expected a number, got [1]" in config_error(
        tmp_path, f"[{section}]\n{key} = [1]\n")


@pytest.mark.parametrize("section, key, f", WHOLE, ids=[f"{s}.{k}" for s, k, _ in WHOLE])
def test_a_whole_number_key_takes_no_fraction(tmp_path: Path, section: str, key: str,
                                              f: Any) -> None:
    value = f"{f.default}.0"
    assert f"{section}.{key}: expected a whole number, got {float(f.default)!r}" in (
        config_error(tmp_path, f"[{section}]\n{key} = {value}\n"))


@pytest.mark.parametrize("section, key, f", keys(bool), ids=[f"{s}.{k}" for s, k, _ in keys(bool)])
def test_a_switch_takes_true_or_false_only(tmp_path: Path, section: str, key: str,
                                           f: Any) -> None:
    for value, spelled in (("1", "1"), ("0", "0"), ("'true'", '"true"'), ("nan", "nan")):
        message = config_error(tmp_path, f"[{section}]\n{key} = {value}\n")
        assert f"{section}.{key}: expected true or false, got {spelled}" in message


def test_the_reported_cases(tmp_path: Path) -> None:
    """The issue's own: a NaN hold time, a NaN battery threshold, NaN and infinity in integer
    keys, a malformed store URL, and an integer too long for Python to read."""
    assert "gestures.hold_s: expected a finite number" in config_error(
        tmp_path, "[gestures]\nhold_s = nan\n")
    assert "power.critical_battery_pct: expected a finite number" in config_error(
        tmp_path, "[power]\ncritical_battery_pct = nan\n")
    assert "camera.width: expected a finite number" in config_error(
        tmp_path, "[camera]\nwidth = nan\n")
    assert "camera.fps: expected a finite number" in config_error(
        tmp_path, "[camera]\nfps = inf\n")
    assert "upload.store_url" in config_error(tmp_path, "[upload]\nstore_url = 'http://[::1'\n")
    assert "not valid TOML: a number has too many digits" in config_error(
        tmp_path, f"[camera]\nfps = 1{'0' * 5000}\n")


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bodycam.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return subprocess.run([sys.executable, "-m", "device.cli", "config", "--check", str(path)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text", [
    "[gestures]\nhold_s = nan\n",
    "[power]\ncritical_battery_pct = nan\n",
    "[camera]\nwidth = inf\n",
    "[upload]\nstore_url = 'http://[::1'\n",
    f"[camera]\nfps = 1{'0' * 5000}\n",
    "x = " + "[" * 3000 + "]" * 3000 + "\n",
])
def test_config_check_calls_none_of_them_valid(tmp_path: Path, text: str) -> None:
    done = check(tmp_path, text)
    assert done.returncode == 1 and done.stdout == "", done
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bodycam config: error: "), done.stderr
    assert "Traceback" not in done.stderr and "valid" not in done.stdout


@pytest.mark.parametrize("url, why", [
    ("http://[::1", "the host is not a valid address"),
    ("http://[::zz]:8443", "the host is not a valid address"),
    ("http://host:99999", "the port is not a number from 1 to 65535"),
    ("http://host:0", "the port is not a number from 1 to 65535"),
    ("http://host:-1", "the port is not a number from 1 to 65535"),
    ("http://host:port", "the port is not a number from 1 to 65535"),
    ("http://host:", "the port is not a number from 1 to 65535"),
    ("ftp://host", "must start with http:// or https://"),
    ("host:8443", "must start with http:// or https://"),
    ("http:host", "must start with http:// or https://"),
    ("http://", "names no host"),
    ("http://:8443", "names no host"),
    ("http://user:pw@host", "user name or password"),
    ("http://host/evidence", "path, query or fragment"),
    ("http://host?x=1", "path, query or fragment"),
    ("http://host#top", "path, query or fragment"),
    ("http://ho st", "space or a control character"),
    ("http://host\u00a0", "space or a control character"),
    ("http://-host-", "not a valid name or address"),
    ("http://ho_st", "not a valid name or address"),
    ("http://" + "a" * 64 + ".example", "not a valid name or address"),
])
def test_a_malformed_store_url_says_what_is_wrong(tmp_path: Path, url: str, why: str) -> None:
    message = config_error(tmp_path, f"[upload]\nstore_url = {json.dumps(url)}\n")
    assert "upload.store_url" in message and "is not http(s)://HOST[:PORT]" in message
    assert why in message, message


@pytest.mark.parametrize("url", ["http://127.0.0.1:8443", "https://store.example:443/",
                                 "http://[::1]:8443", "http://localhost", "HTTP://Store.Example"])
def test_good_store_urls_still_load(tmp_path: Path, url: str) -> None:
    path = tmp_path / "bodycam.toml"
    path.write_text(f"[upload]\nstore_url = {url!r}\n")
    assert load_config(path).upload.store_url == url


@pytest.mark.parametrize("text, words", [
    ('[device]\nserial = "SIM\\n2"\n', "device.serial: contains control character 0x0a"),
    ('[device]\nmodel = "BWV\\u0000"\n', "device.model: contains control character 0x00"),
    ("[device]\nmodel = 'Kamera\u00e4'\n", "device.model: expected at most 64 printable ASCII"),
    ("[device]\nserial = '" + "S" * 65 + "'\n", "device.serial: expected at most 64 printable"),
    ("[device]\nserial = ''\n", 'device.serial: expected a non-empty string, got ""'),
    ('[storage]\ndata_dir = "data\\u0000dir"\n', "storage.data_dir: contains control character"),
    ("[storage]\ndata_dir = 7\n", "storage.data_dir: expected a non-empty string, got 7"),
    ('[upload]\nstore_url = "https://h"\ntls_cert = "a\\nb"\n',
     "upload.tls_cert: contains control character 0x0a"),
    ("[storage]\ndata_dir = '" + "d" * 5000 + "'\n", "storage.data_dir: longer than 4096"),
    ("[encoder]\ncodec = 'lib x264'\n", "encoder.codec: expected an FFmpeg encoder name"),
    ("[indicators]\nmute_colour = 'purple'\n", 'indicators.mute_colour: "purple" is not one of'),
    ("[indicators]\ndocked_colour = true\n", "indicators.docked_colour: expected a non-empty "
                                             "string, got true"),
    ("[triggers]\nnames = ['holster', 'holster']\n", 'triggers.names: "holster" is listed'),
    ("[triggers]\nnames = ['a b']\n", "triggers.names: expected a list of at most 64 names"),
    ("[triggers]\nnames = 'holster'\n", "triggers.names: expected a list"),
    ("[indicators]\nstart_tones = [[880, nan]]\n", "indicators.start_tones: step [880, nan] is "
                                                   "out of range"),
    ("[indicators]\nstop_tones = [[440, inf]]\n", "indicators.stop_tones: step [440, inf]"),
    ("[indicators]\nstop_tones = [[-440, 1]]\n", "indicators.stop_tones: step [-440, 1]"),
    ("[indicators]\nstop_tones = [[440, 3600]]\n", "(hz 0 to 20000, seconds 0 to 10)"),
    ("[indicators]\nstart_vibration = [[true, 0.1]]\n", "indicators.start_vibration: expected "
                                                        "a list of 1 to 32"),
    ("[indicators]\nstop_tones = []\n", "indicators.stop_tones: expected a list of 1 to 32"),
    ("[indicators]\nstop_tones = [" + "[440, 0.1], " * 33 + "]\n", "expected a list of 1 to 32"),
    ("[indicators]\nlow_battery_tones = [[2000, 10], [0, 10], [2000, 10]]\n",
     "indicators.low_battery_tones plays for 30 s, longer than indicators.low_battery_interval_s"),
    ("[gestures]\ndebounce_s = 0.4\ndouble_press_window_s = 0.3\n",
     "gestures.debounce_s (0.4) must be below gestures.double_press_window_s (0.3)"),
    ("[gestures]\nhold_s = -3\n", "gestures.hold_s: -3 is out of range 0.5 to 10"),
    ("[recording]\nfsync_interval_s = 0\n", "recording.fsync_interval_s: 0 is out of range"),
    ("[camera]\nfps = 0\n", "camera.fps: 0 is out of range 1 to 120"),
    ("[serial]\nbaudrate = 0\n", "serial.baudrate: 0 is out of range"),
    ("[gestures]\nhold_s = 1979-05-27\n", "gestures.hold_s: expected a number, got 1979-05-27"),
    ("[gestures]\nhold_s = {s = 3}\n", "gestures.hold_s: expected a number, got {s = 3}"),
    ("[[camera]]\nwidth = 3\n", "[camera] must be a table"),
    ("[camera]\nwidth = 640\n[camera.extra]\nx = 1\n", "unknown key camera.extra"),
])
def test_neighbours_name_the_key(tmp_path: Path, text: str, words: str) -> None:
    assert words in config_error(tmp_path, text)


def test_unreadable_files_are_one_plain_line(tmp_path: Path) -> None:
    path = tmp_path / "bodycam.toml"
    path.write_bytes(b"[camera]\nwidth = 640\n# \xff\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xff at offset 23\)$"):
        load_config(path)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)  # a directory
    assert "cannot read: Is a directory" in str(err.value) and "Errno" not in str(err.value)
    path.write_bytes(b"#" * ((1 << 20) + 1))
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(path)


def test_store_settings_take_the_same_checks() -> None:
    """Settings pushed by a store arrive as JSON (where Python reads NaN and Infinity): the
    same checks refuse them, in the same words."""
    for value in (float("nan"), float("inf"), 10 ** 5000, True, "3", None, [3.0]):
        with pytest.raises(ConfigError) as err:
            Config().replace("settings from the store", gestures={"hold_s": value})
        message = str(err.value)
        assert message.startswith("settings from the store: gestures.hold_s: "), message
        assert len(message) < 200 and "\n" not in message
    with pytest.raises(ConfigError, match=r"camera.fps: expected a whole number, got 30.5"):
        Config().replace(camera={"fps": 30.5})
    with pytest.raises(ConfigError, match="a number of more than 50 digits is out of range"):
        Config().replace(camera={"fps": 10 ** 5000})



def test_overrides_that_are_not_tables_are_named() -> None:
    """``Config.replace`` (the store's settings come through it) with a section that is not a
    table, or not a section: one ConfigError, not a TypeError or an AttributeError."""
    with pytest.raises(ConfigError, match=r"^override: \[gestures\] must be a table of keys$"):
        Config().replace(gestures=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^override: unknown section \[bogus\]"):
        Config().replace(bogus={"a": 1})
    with pytest.raises(ConfigError, match=r"^override: unknown key camera.3 "):
        Config().replace(camera={3: 1})  # type: ignore[dict-item]
