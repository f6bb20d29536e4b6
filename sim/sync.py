"""Measuring sound against picture in a recorded file: the simulated camera's flashes
(``sim/camera.py``) against its microphone's tone bursts (``sim/microphone.py``). Tests and
the audio benchmark use it; it needs only PyAV and NumPy."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

#: A decoded sample this loud is the simulator's tone, not its noise floor.
TONE_THRESHOLD = 0.1


def flashes(mp4: Path) -> list[float]:
    """Presentation times (s) of the white frames (``sim/camera.py``'s flashes)."""
    times = []
    with av.open(str(mp4)) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray")
            if luma.mean() > 200:
                times.append(float(frame.pts * frame.time_base))
    return times


def samples(mp4: Path) -> tuple[np.ndarray, np.ndarray]:
    """(presentation times, samples of the first channel as floats in [-1, 1])."""
    times, values = [], []
    with av.open(str(mp4)) as container:
        for frame in container.decode(audio=0):
            data = frame.to_ndarray()[0]
            start = float(frame.pts * frame.time_base)
            times.append(start + np.arange(len(data)) / frame.sample_rate)
            values.append(data.astype(float))
    if not times:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(times), np.concatenate(values)


def onsets(mp4: Path, quiet_s: float = 0.2) -> list[float]:
    """Times (s) where a tone starts after at least ``quiet_s`` of quiet."""
    t, x = samples(mp4)
    loud = np.flatnonzero(np.abs(x) > TONE_THRESHOLD)
    found: list[float] = []
    last = -1e9
    for i in loud:
        if t[i] - last > quiet_s:
            found.append(float(t[i]))
        last = t[i]
    return found


def offsets(mp4: Path) -> list[float]:
    """For each flash, its tone's onset minus the flash's time (s); a flash without a tone in
    the same second counts as an infinite offset."""
    tones = onsets(mp4)
    result = []
    for flash in flashes(mp4):
        near = [o - flash for o in tones if abs(o - flash) < 0.5]
        result.append(min(near, key=abs) if near else float("inf"))
    return result
