"""The Pi's ALSA microphone, through its seam (an opener giving sample blocks): capture times
from the monotonic clock, never libav's wall-clock stamps; a device that cannot be opened is
a boot fault naming ``audio.device``.

The real ALSA path is tested against the kernel's ``snd-aloop`` loopback where the machine has
one (a tone played into its playback side is captured from its capture side); elsewhere (a
container has no /proc/asound and cannot load the module) that test skips with the reason,
and the libav path is exercised as far as opening: a name ALSA does not know is refused with a
one-line reason."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

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


def loopback_missing() -> str | None:
    """Why this machine cannot offer the real ALSA path (the kernel's ``snd-aloop`` loopback),
    or None when it can."""
    import av

    if "alsa" not in av.formats_available:
        return "PyAV's libav was built without ALSA (no 'alsa' format)"
    asound = Path("/proc/asound")
    if not asound.exists():
        return ("no ALSA in this kernel or container (/proc/asound is missing); on a machine "
                "with sound run: sudo modprobe snd-aloop")
    cards = (asound / "cards").read_text() if (asound / "cards").exists() else ""
    if "Loopback" not in cards:
        return "no ALSA loopback card in /proc/asound/cards: sudo modprobe snd-aloop"
    return None


def _play_tone(device: str, seconds: float, done: threading.Event) -> None:
    """A 1 kHz tone into the loopback's playback side, through libav's ALSA output."""
    import av

    with av.open(device, "w", format="alsa") as out:
        stream = out.add_stream("pcm_s16le", rate=48000, layout="mono")
        t = np.arange(int(48000 * seconds)) / 48000
        pcm = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="s16",
                                               layout="mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):
                out.mux(packet)
            if done.is_set():
                break


def test_capture_from_a_real_alsa_loopback_where_one_exists() -> None:
    reason = loopback_missing()
    if reason is not None:
        pytest.skip(f"the real ALSA path is not tested here: {reason} (the seam tests above "
                    f"ran)")
    clock = SystemClock()
    got: list[AudioBlock] = []
    enough = threading.Event()

    def sink(block: AudioBlock) -> None:
        got.append(block)
        if sum(len(b.samples) for b in got) >= 48000:
            enough.set()

    stop = threading.Event()
    player = threading.Thread(target=_play_tone, args=("hw:Loopback,0,0", 3.0, stop),
                              daemon=True)
    player.start()
    mic = open_microphone(clock, "hw:Loopback,1,0", 48000, 1)
    assert isinstance(mic, AlsaMicrophone), mic.self_test()
    mic.start(sink)
    try:
        assert enough.wait(10), "no second of sound from the loopback within 10 s"
    finally:
        mic.stop()
        stop.set()
        player.join(timeout=10)
        clock.close()
    for a, b in itertools.pairwise(got):  # on the monotonic clock, in order
        assert b.t_mono >= a.t_mono + a.duration_s - 0.05
    pcm = np.concatenate([b.samples[:, 0] for b in got]).astype(float)
    spectrum = np.abs(np.fft.rfft(pcm))
    peak = np.fft.rfftfreq(len(pcm), 1 / 48000)[spectrum[1:].argmax() + 1]
    assert abs(peak - 1000) < 5, peak

