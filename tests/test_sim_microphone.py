"""The simulated microphone: paced by the camera's clock, a tone burst at every flash frame."""

from __future__ import annotations

import itertools

import numpy as np

from hal.camera import Frame
from hal.microphone import AudioBlock
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.microphone import BLOCK, NOISE_LEVEL, TONE_S, SimMicrophone


def _run(seconds: float) -> tuple[list[Frame], list[AudioBlock]]:
    clock = SimClock()
    camera = SimCamera(clock, 64, 48, 30)
    mic = SimMicrophone(clock, 48000, 1, camera=camera)
    frames: list[Frame] = []
    blocks: list[AudioBlock] = []
    camera.start(frames.append)
    mic.start(blocks.append)
    clock.advance(seconds)
    camera.stop()
    mic.stop()
    return frames, blocks


def test_blocks_are_contiguous_on_the_capture_clock() -> None:
    _, blocks = _run(3.0)
    assert len(blocks) == 90  # one a frame, at the camera's moments
    assert sum(len(b.samples) for b in blocks) == 3 * 48000
    for a, b in itertools.pairwise(blocks):
        assert abs(a.t_mono + a.duration_s - b.t_mono) < 1e-9
    assert blocks[0].samples.dtype == np.int16 and blocks[0].samples.shape == (1600, 1)


def test_without_a_camera_blocks_are_one_aac_frame() -> None:
    clock = SimClock()
    mic = SimMicrophone(clock, 48000, 2)
    blocks: list[AudioBlock] = []
    mic.start(blocks.append)
    clock.advance(1.0)
    mic.stop()
    assert {b.samples.shape for b in blocks} == {(BLOCK, 2)}


def test_a_tone_burst_starts_at_every_flash_frame() -> None:
    frames, blocks = _run(3.5)
    flashes = [f.t_mono for f in frames if f.index % 30 == 0]
    assert len(flashes) == 3
    assert all(f.luma.mean() > 220 for f in frames if f.index % 30 == 0)
    assert all(f.luma.mean() < 200 for f in frames if f.index % 30)
    pcm = np.concatenate([b.samples[:, 0] for b in blocks]).astype(float)
    t = blocks[0].t_mono + np.arange(len(pcm)) / 48000
    loud = np.abs(pcm) > 20 * NOISE_LEVEL
    onsets = [t[i] for i in np.flatnonzero(loud) if not loud[max(0, i - 480):i].any()]
    assert len(onsets) == len(flashes)
    for onset, flash in zip(onsets, flashes, strict=True):
        assert abs(onset - flash) < 2 / 48000
    quiet = np.ones(len(pcm), bool)
    for flash in flashes:
        quiet &= ~((t >= flash) & (t < flash + TONE_S))
    assert np.abs(pcm[quiet]).max() < 10 * NOISE_LEVEL
