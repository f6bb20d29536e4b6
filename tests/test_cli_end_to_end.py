"""The whole product as a newcomer uses it: ``bodycam sim`` in a subprocess, driven by the CLI.

The simulator runs on a virtual clock (``--virtual-clock``) that ``bodycam advance`` moves, so the
test records "a few seconds" without waiting for them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLEAR_TOML, have
from tests.media import decode, segments
from tests.simproc import bodycam, start_sim

CONFIG = """
[camera]
width = 320
height = 240
fps = 30
[encoder]
preset = "ultrafast"
[recording]
pre_event_s = 2
""" + CLEAR_TOML


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[str]]]:
    data_dir = tmp_path / "d"
    config = tmp_path / "bodycam.toml"
    config.write_text(CONFIG)
    proc = start_sim(data_dir, config)
    yield data_dir, config, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_record_stop_shutdown_verify(daemon, tmp_path: Path) -> None:
    data_dir, config, proc = daemon
    run = lambda *a: bodycam(*a, "--config", str(config), data_dir=data_dir)  # noqa: E731
    run("advance", "1")
    run("press", "record", "--double")
    run("advance", "1")
    status = json.loads(run("status", "--json").stdout)
    assert status["mode"] == "recording"
    assert status["led"]["colour"] == "red" and status["led"]["off_s"] > 0
    run("advance", "3")
    run("press", "record", "--hold", "3")
    run("advance", "3.5")
    assert json.loads(run("status", "--json").stdout)["mode"] == "buffering"
    assert "camera is off" in run("shutdown").stdout
    log = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0
    assert "LED blinking red" in log and "tones 880 Hz" in log and "tones 440 Hz 1 s" in log

    files = segments(data_dir)
    assert len(files) == 1
    decoded = decode(files[0])
    assert (decoded.codec, decoded.width, decoded.height) == ("h264", 320, 240)
    # from 1 s of pre-event before the press to the hold recognised 3 s after it was pressed
    expected = (1.0 + 0.35 + 1.0 - 0.35 + 3.0 + 3.0) * 30
    assert abs(len(decoded.frame_times) - expected) <= 30  # within one keyframe interval

    result = bodycam("verify", str(data_dir))
    assert "OK" in result.stdout and "all intact" in result.stdout

    # flipping one byte of the MP4, or of the manifest, makes verify fail
    for victim in (files[0], Path(str(files[0]) + ".json")):
        original = victim.read_bytes()
        damaged = bytearray(original)
        damaged[len(damaged) // 3] ^= 0x20
        victim.write_bytes(bytes(damaged))
        failed = bodycam("verify", str(data_dir), check=False)
        assert failed.returncode == 1 and "TAMPERED" in failed.stdout, failed.stdout
        victim.write_bytes(original)
    assert bodycam("verify", str(files[0])).returncode == 0


@pytest.mark.skipif(not have("openssl"), reason="openssl CLI not installed")
def test_openssl_alone_verifies_a_segment(daemon) -> None:
    data_dir, config, proc = daemon
    run = lambda *a: bodycam(*a, "--config", str(config), data_dir=data_dir)  # noqa: E731
    run("press", "record", "--double")
    run("advance", "2")
    run("shutdown")
    proc.wait(timeout=30)
    mp4 = segments(data_dir)[0]
    manifest = Path(str(mp4) + ".json")
    assert json.loads(manifest.read_text())["sha256"] == subprocess.run(
        ["sha256sum", str(mp4)], capture_output=True, text=True, check=True).stdout.split()[0]
    verify = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
              str(data_dir / "device.pub.pem"), "-rawin", "-in", str(manifest),
              "-sigfile", str(manifest) + ".sig"]
    ok = subprocess.run(verify, capture_output=True, text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout
    manifest.write_bytes(manifest.read_bytes().replace(b'"last": true', b'"last": false'))
    assert subprocess.run(verify, capture_output=True, text=True).returncode != 0


def test_the_private_key_is_readable_by_its_owner_only(daemon) -> None:
    data_dir, _, _ = daemon
    assert os.stat(data_dir / "keys" / "device.key").st_mode & 0o777 == 0o600


def test_bad_input_gets_one_line_errors(daemon, tmp_path: Path) -> None:
    data_dir, _, _ = daemon
    unknown = bodycam("press", "elbow", data_dir=data_dir, check=False)
    assert unknown.returncode == 2 and "invalid choice: 'elbow'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    hold = bodycam("press", "record", "--hold", "-1", data_dir=data_dir, check=False)
    assert hold.returncode == 2 and "more than 0 and at most 30" in hold.stderr  # as "abc"

    nobody = bodycam("status", data_dir=tmp_path / "empty", check=False)
    assert nobody.returncode == 1 and "no daemon running" in nobody.stderr
    assert "Traceback" not in nobody.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\nfps = 'fast'\n")
    result = bodycam("sim", "--headless", "--config", str(bad), data_dir=tmp_path / "x",
                     check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"bodycam sim: error: {bad}: camera.fps: expected a " \
                                     f'number, got "fast"'

    missing = bodycam("verify", str(tmp_path / "nothing-here"), check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_triggers_dock_and_simulated_faults_from_the_command_line(daemon) -> None:
    data_dir, config, proc = daemon
    run = lambda *a: bodycam(*a, "--config", str(config), data_dir=data_dir)  # noqa: E731
    assert "recording started" in run("trigger", "holster").stdout
    assert "no action" in run("trigger", "taser").stdout  # already recording: never stops
    run("dock")
    status = json.loads(run("status", "--json").stdout)
    assert status["mode"] == "recording" and status["flags"]["dock_pending"]
    assert status["recording"]["reason"] == "trigger:holster"
    run("press", "record", "--hold", "3")
    run("advance", "3.5")
    assert json.loads(run("status", "--json").stdout)["mode"] == "docked"
    run("undock")
    run("camera", "unplug")
    status = json.loads(run("status", "--json").stdout)
    assert status["mode"] == "fault" and "camera" in status["fault"]
    run("camera", "replug")
    run("battery", "5")
    status = json.loads(run("status", "--json").stdout)
    assert status["mode"] == "buffering" and status["flags"]["low_battery"]
    bad = bodycam("trigger", "banana", data_dir=data_dir, check=False)
    assert bad.returncode == 1 and 'unknown trigger "banana"' in bad.stderr
    run("shutdown")
    assert proc.wait(timeout=30) == 0
    result = bodycam("verify", str(data_dir))
    assert "audit log:" in result.stdout and "all intact" in result.stdout


def test_location_from_the_command_line(daemon) -> None:
    """``bodycam location``: pin the officer, lose the sky, regain it; the status and the audit
    log follow; bad positions are one-line usage errors."""
    data_dir, config, proc = daemon
    run = lambda *a: bodycam(*a, "--config", str(config), data_dir=data_dir)  # noqa: E731
    moved = run("location", "move", "51.5007,-0.1246").stdout
    assert "receiver on" in moved and "fix 51.500700,-0.124600" in moved
    status = json.loads(run("status", "--json").stdout)
    assert status["location"]["fix"]["lat"] == 51.5007
    assert "no fix" in run("location", "lose").stdout
    run("advance", "6")  # past location.max_age_s
    assert json.loads(run("status", "--json").stdout)["location"]["fix"] is None
    assert "fix 51.500700" in run("location", "regain").stdout
    assert "receiver on" in run("location", "walk").stdout
    for bad in (["move", "91,0"], ["move", "51.5"], ["move", "x,y"], ["move"],
                ["lose", "51.5,0"], ["fly"]):
        result = bodycam("location", *bad, "--config", str(config), data_dir=data_dir,
                         check=False)
        assert result.returncode == 2, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    run("shutdown")
    assert proc.wait(timeout=30) == 0
