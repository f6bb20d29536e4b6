"""SIGKILL mid-recording: both tracks recovered up to the last whole fragment, playable, each
losing at most about a keyframe interval (the process is killed, as the power would go)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from evidence.verify import verify
from sim.sync import offsets, samples
from tests.conftest import CLEAR_TOML
from tests.simproc import bodycam, start_sim

pytestmark = pytest.mark.real_encoder

CONFIG = """
[camera]
width = 160
height = 120
fps = 30
[encoder]
preset = "ultrafast"
[recording]
segment_s = 4
pre_event_s = 2
pre_event_audio = true
""" + CLEAR_TOML


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_sigkill_recovers_both_tracks(tmp_path: Path) -> None:
    config = tmp_path / "bodycam.toml"
    config.write_text(CONFIG)
    data_dir = tmp_path / "d"
    proc = start_sim(data_dir, config)
    bodycam("press", "record", "--double", data_dir=data_dir)
    bodycam("advance", "6.6", data_dir=data_dir)
    killed_at = json.loads(bodycam("status", "--json", data_dir=data_dir).stdout)["utc"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(data_dir.glob("recordings/*/*.mp4.part"))
    proc = start_sim(data_dir, config)  # the next boot recovers
    bodycam("shutdown", data_dir=data_dir)
    proc.wait(timeout=30)
    assert not list(data_dir.glob("recordings/*/*.part"))
    findings = verify([data_dir])
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]
    mp4s = sorted(data_dir.glob("recordings/*/*.mp4"))
    final = json.loads(mp4s[-1].with_name(mp4s[-1].name + ".json").read_text())
    assert final["recovered"] and final["last"] and final["frame_count"] > 0
    for mp4 in mp4s:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                "stream=codec_type,codec_name", "-of", "json", str(mp4)],
                               capture_output=True, text=True, check=True)
        kinds = sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"])
        assert kinds == ["audio", "video"], mp4.name
        errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(mp4), "-f", "null", "-"],
                                capture_output=True, text=True, check=True).stderr
        assert errors == "", f"{mp4.name}: {errors}"
    sound = final["audio"]
    assert sound["packets"] > 0
    t, _ = samples(mp4s[-1])
    heard_to = wall(final["start_utc"]) + float(t[-1])
    assert 0 <= wall(killed_at) - heard_to <= 1.0 + 0.15  # at most the fragment being built
    assert abs(sound["duration_s"] + sound["first_s"] - final["duration_s"]) <= 0.05
    assert all(abs(o) <= 1 / 30 for o in offsets(mp4s[-1]) if o != float("inf"))
