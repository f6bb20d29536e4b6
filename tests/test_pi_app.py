"""``bodycam run``: the Pi run loop under a systemd-like notify socket, and its errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from gpiozero import DigitalInputDevice

from device import control
from device.config import Config
from device.notify import Notifier
from device.pipeline.encoder import encoder_settings
from device.runner import run
from hal.backend import Setup, find
from hal.clock import SystemClock
from hal.encoder import EncoderError, codec_for
from hal.pi.encoder import PiEncoderFactory, choose_encoder
from sim.camera import SimCamera
from sim.microphone import SimMicrophone
from tests.pi_rig import mock_factory


def test_run_loop_reports_ready_pings_the_watchdog_and_stops_cleanly(
        tmp_path: Path, config: Config) -> None:
    data = tmp_path / "d"
    factory, clock = mock_factory(), SystemClock()
    cam = config.camera
    result: list[int] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify.sock"))
        notify.settimeout(20)
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
                             "WATCHDOG_USEC": "200000"})
        runner = threading.Thread(target=lambda: result.append(run(
            config, data, codec="libx264", pin_factory=factory, clock=clock,
            camera=SimCamera(clock, cam.width, cam.height, cam.fps),
            microphone=SimMicrophone(clock, 48000, 1), notifier=notifier,
            power_supply=tmp_path)))
        runner.start()
        try:
            assert notify.recv(4096) == b"READY=1\nSTATUS=mode buffering"
            assert notify.recv(4096) == b"STATUS=mode buffering\nWATCHDOG=1"
            status = control.request(data, {"cmd": "status"})["status"]
            assert (status["mode"], status["led"]["colour"]) == ("buffering", "green")
            assert status["battery_percent"] == 100.0
            # the holster contact closes: the edge (delivered on this thread by the mock pin)
            # posts a trigger; a marker queued behind it only lands if the recording started
            factory.pin(config.pins.trigger_holster).drive_low()
            control.request(data, {"cmd": "marker", "note": "after the holster trigger"})
            status = control.request(data, {"cmd": "status"})["status"]
            assert status["recording"]["reason"] == "trigger:holster"
        finally:
            control.request(data, {"cmd": "shutdown"})
            runner.join(timeout=30)
        while b"WATCHDOG=1" in (last := notify.recv(4096)):
            pass  # pings until the camera is off
        assert last == b"STOPPING=1\nSTATUS=powering off"
    assert result == [0]
    assert not (data / "control.sock").exists()
    DigitalInputDevice(5, pin_factory=factory).close()  # the record button's pin was released


def test_auto_codec_respects_a_configured_one() -> None:
    default, configured = Config().encoder.codec, "h264_v4l2m2m"
    assert PiEncoderFactory("auto").resolve(default) == choose_encoder()
    assert PiEncoderFactory("auto").resolve(configured) == configured
    assert PiEncoderFactory("libx264").resolve(configured) == "libx264"


def test_the_pi_backend_hands_its_factory_and_the_simulator_libav(tmp_path: Path) -> None:
    """``--codec`` reaches the backend through its setup; the bundle's factory is what the
    pipeline calls (the simulator's opens what it is told, or the configuration's)."""
    pi = find("pi").build(Config().pins, Setup(tmp_path, 320, 240, 30, codec="libx264"),
                          pin_factory=mock_factory(), camera=SimCamera(SystemClock(), 320,
                                                                       240, 30))
    try:
        assert isinstance(pi.encoder, PiEncoderFactory) and pi.encoder.codec == "libx264"
        assert codec_for(pi.encoder, "h264_v4l2m2m") == "libx264"
    finally:
        pi.close()
    sim = find("sim").build(None, Setup(tmp_path, 64, 48, 10, codec="libx264"))
    try:
        assert codec_for(sim.encoder, "h264_v4l2m2m") == "h264_v4l2m2m"  # it does not choose
        assert sim.encoder(encoder_settings(Config())).codec_name == "libx264"
    finally:
        sim.close()


def test_the_pi_factory_opens_the_codec_it_resolved(config: Config) -> None:
    """The factory is what the pipeline calls: the encoder it makes runs the chosen codec, and
    ``auto`` asks the board once however many pipelines are made."""
    asked: list[str] = []

    def choose() -> str:
        asked.append("asked")
        return "libx264"

    factory = PiEncoderFactory("auto", choose)
    settings = encoder_settings(config)
    encoders = [factory(settings), factory(settings)]
    assert [e.codec_name for e in encoders] == ["libx264", "libx264"] and asked == ["asked"]
    packets = encoders[0].encode(np.zeros((240, 320, 3), np.uint8), 0.0, 0.0)
    assert packets and packets[0].keyframe
    with pytest.raises(EncoderError, match=r"encoder\.codec 'no_such_codec' is not available"):
        PiEncoderFactory("no_such_codec")(settings)


@pytest.mark.parametrize("toml, env, words", [
    ("[pins]\nprogram = 5\n", {}, "pins.program uses BCM 5, already taken by pins.record"),
    ("", {"GPIOZERO_PIN_FACTORY": "mock"},
     "pins.buzzer (BCM 12): this GPIO cannot do PWM"),
])
def test_bodycam_run_fails_with_one_line(tmp_path: Path, toml: str, env: dict[str, str],
                                         words: str) -> None:
    config = tmp_path / "bodycam.toml"
    config.write_text(toml)
    done = subprocess.run(
        [sys.executable, "-m", "device.cli", "run", "--config", str(config), "--data-dir",
         str(tmp_path / "d"), "--codec", "libx264"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "GPIOZERO_MOCK_PIN_CLASS": "mockpin", **env})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("bodycam run: error: ") and words in last


def test_a_second_daemon_is_refused_and_leaves_the_pins_free(tmp_path: Path,
                                                              config: Config) -> None:
    data = tmp_path / "d"
    data.mkdir()
    factory, clock = mock_factory(), SystemClock()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as first:
        first.bind(str(data / "control.sock"))
        first.listen()
        with pytest.raises(control.ControlError, match="a daemon is already running"):
            run(config, data, codec="libx264", pin_factory=factory, clock=clock,
                   camera=SimCamera(clock, 320, 240, 30), notifier=Notifier({}),
                   power_supply=tmp_path)
    DigitalInputDevice(5, pin_factory=factory).close()
