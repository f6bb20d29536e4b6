"""The Pi's ALSA microphone, through its seam (an opener giving sample blocks): capture times
from the monotonic clock, never libav's wall-clock stamps; a device that cannot be opened is
a boot fault naming ``audio.device``.

This machine offers no ALSA capture device (no sound card; the kernel's ``snd-aloop`` cannot be
loaded in a container), so the real libav path is exercised only as far as opening: a name
ALSA does not know is refused with a one-line reason."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from device.config import Config
from hal.clock import SystemClock
from hal.microphone import AudioBlock
from hal.pi.microphone import (
    AlsaMicrophone,
    MicrophoneUnavailable,
    MissingMicrophone,
    Timeline,
    alsa_blocks,
    open_microphone,
)
from sim.clock import SimClock
from sim.simulator import Simulator
from tests.conftest import tiny_config


def test_an_unknown_alsa_device_is_unavailable_naming_the_key() -> None:
    try:
        alsa_blocks("hw:CARD=NoSuchCard", 48000, 1)
    except MicrophoneUnavailable as exc:
        message = str(exc)
    else:  # pragma: no cover - a machine with that card
        raise AssertionError("opened a card that does not exist")
    assert "audio.device 'hw:CARD=NoSuchCard'" in message and "\n" not in message
    mic = open_microphone(SimClock(), "hw:CARD=NoSuchCard", 48000, 1)
    assert isinstance(mic, MissingMicrophone) and mic.self_test() == message


def test_blocks_are_timed_by_the_sample_count_on_the_monotonic_clock() -> None:
    timeline = Timeline(48000)
    first = timeline.place(1024, 10.0)
    assert first == 10.0 - 1024 / 48000
    # jitter in when blocks arrive does not move their times: the count decides
    assert timeline.place(1024, 10.0 + 1024 / 48000 + 0.004) == first + 1024 / 48000
    assert timeline.place(1024, 10.0 + 2048 / 48000 - 0.003) == first + 2048 / 48000
    # an overrun (samples lost) re-anchors: a gap in the times, not a shift of what follows
    late = timeline.place(1024, 11.0)
    assert late == 11.0 - 1024 / 48000


def test_capture_runs_on_its_thread_and_a_read_error_is_a_fault() -> None:
    clock = SystemClock()
    got: list[AudioBlock] = []
    faults: list[str] = []
    done = threading.Event()

    def opener(device: str, rate: int, channels: int) -> Iterator[np.ndarray]:
        assert (device, rate, channels) == ("plughw:1", 48000, 1)

        def blocks() -> Iterator[np.ndarray]:
            for _ in range(3):
                yield np.ones((1024, 1), np.int16)
            raise OSError(5, "Input/output error")
        return blocks()

    mic = AlsaMicrophone(clock, "plughw:1", 48000, 1, opener)
    mic.on_fault = lambda why: (faults.append(why), done.set())
    mic.start(got.append)
    assert done.wait(5)
    mic.stop()
    clock.close()
    assert len(got) == 3 and all(b.samples.shape == (1024, 1) for b in got)
    assert faults and "microphone 'plughw:1' failed" in faults[0]


def test_a_missing_microphone_is_a_boot_fault(tmp_path: Path) -> None:
    sim = Simulator(tiny_config(), tmp_path / "d")
    sim.hw.microphone = MissingMicrophone("audio.device 'hw:1,0' cannot be opened: gone",
                                          48000, 1)
    sim.power_on()
    try:
        assert sim.mode == "fault"
        assert "audio.device" in str(sim.daemon.fault)
    finally:
        sim.shutdown()


def test_audio_off_opens_no_microphone(tmp_path: Path) -> None:
    sim = Simulator(tiny_config(audio={"enabled": False}), tmp_path / "d")
    assert sim.hw.microphone is None
    assert Config().audio.device == "default"
