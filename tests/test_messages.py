"""Messages in plain words (issue 13 item 10): values spelled as TOML or JSON spell them, OS
errors without ``[Errno N]``, a bad number on the command line a usage error (exit 2) like any
other, whatever is wrong with it, and grammar that fits the count."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from device.cli import main
from evidence.chain import check_recording
from evidence.messages import plain, show
from evidence.store_client import StoreConnection, StoreHttpError


def bodycam(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "device.cli", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args, words", [
    (["press", "record", "--hold", "0"], 'expected seconds more than 0 and at most 30, got "0"'),
    (["press", "record", "--hold", "abc"], 'more than 0 and at most 30, got "abc"'),
    (["press", "record", "--hold", "-1"], 'got "-1"'),
    (["press", "record", "--hold", "30.5"], 'got "30.5"'),
    (["press", "record", "--hold", "nan"], 'got "nan"'),
    (["press", "record", "--hold", "inf"], 'got "inf"'),
    (["battery", "abc"], 'expected a percentage from 0 to 100, got "abc"'),
    (["battery", "101"], 'expected a percentage from 0 to 100, got "101"'),
    (["battery", "nan"], 'got "nan"'),
    (["advance", "-1"], 'expected seconds from 0 to 3600, got "-1"'),
    (["advance", "1e999"], 'got "1e999"'),
    (["advance", "soon"], 'got "soon"'),
    (["storage", "lots"], 'expected a number of MiB >= 0 or "real", got "lots"'),
    (["storage", "-5"], 'got "-5"'),
    (["storage", "nan"], 'got "nan"'),
    (["sim", "--web-port", "http"], 'expected a port from 0 to 65535 (0: any free one), '
                                    'got "http"'),
])
def test_a_bad_number_on_the_command_line_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    """``--hold 0`` once said "must be from 0 to 30" and exited 1 where ``--hold abc`` exited
    2 with Python's "invalid float value": now both are usage errors, in the same words, and
    neither reaches the daemon (there is none here)."""
    try:
        code = main([*args, "--data-dir", str(tmp_path)])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and words in lines[0], err
    assert "invalid float value" not in err and "no daemon running" not in err


def test_a_good_hold_still_reaches_the_daemon(tmp_path: Path) -> None:
    done = bodycam("press", "record", "--hold", "30", "--data-dir", str(tmp_path))
    assert done.returncode == 1 and "no daemon running" in done.stderr


def test_config_errors_spell_values_as_toml(tmp_path: Path) -> None:
    path = tmp_path / "bodycam.toml"
    path.write_text("[gestures]\nhold_s = true\nconfirm_stop = 1\n")
    done = bodycam("config", "--check", str(path))
    assert done.returncode == 1
    assert done.stderr.endswith("gestures.hold_s: expected a number, got true\n"), done.stderr
    assert "True" not in done.stderr


def test_os_errors_are_their_plain_words(tmp_path: Path) -> None:
    assert plain(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"
    assert plain(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "/x: No such file or directory")
    assert plain(TimeoutError()) == "timed out"
    assert plain(ValueError("bad\nsecond line")) == "bad"
    refused = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] ...")
    refused.verify_message, refused.reason = "self-signed certificate", "CERTIFICATE_VERIFY_FAILED"
    assert plain(refused) == ("certificate not trusted: self-signed certificate "
                              "(CERTIFICATE_VERIFY_FAILED)")
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreHttpError) as err:
        StoreConnection(f"http://127.0.0.1:{port}", timeout=5).request("GET", "/v1/health")
    assert str(err.value) == f"store at 127.0.0.1:{port} unreachable: Connection refused"


def test_values_are_spelled_as_json_or_toml_and_cut_short() -> None:
    assert [show(v) for v in (True, None, "x", 1.5, [1, "a"], {"a": False})] == [
        "true", "null", '"x"', "1.5", '[1, "a"]', '{"a": false}']
    assert [show(v, toml=True) for v in (False, float("nan"), float("-inf"), {"a": 1})] == [
        "false", "nan", "-inf", "{a = 1}"]
    assert show(float("inf")) == "Infinity"
    assert show(10 ** 5000) == "a number of more than 50 digits"
    assert len(show("x" * 10_000)) == 60 and show("x" * 10_000).endswith("...")


def test_one_failed_segment_failed_its_checks(tmp_path: Path) -> None:
    def detail(failed: list[str]) -> str:
        found = check_recording(tmp_path, "R000001-abc", [], failed)
        return next(f.detail for f in found if f.code == "segment_failed")

    assert detail(["R000001-abc-S0001.mp4"]).endswith(
        "R000001-abc-S0001.mp4 failed its checks; the chain is checked around it")
    assert detail(["R000001-abc-S0001.mp4", "R000001-abc-S0002.mp4"]).endswith(
        "failed their checks; the chain is checked around them")
