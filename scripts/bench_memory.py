"""The daemon's resident memory at 1080p30 with sound (issue 19: under 200 MiB, flat): at boot,
over N minutes buffering and N minutes recording (``--minutes N``, default 10), and where it
goes: each library's mappings (``/proc/self/smaps``), the heap and anonymous memory, and in
it the frame queue, the preview's frame and the pre-event buffer (their sizes as the daemon
holds them) and the encoder (by difference, in a process of its own).

The daemon runs in a child process (``--child``) that imports only what the daemon does, on the
simulated clock (as fast as the encoder goes: a simulated minute takes about a minute here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench_pipeline import Row

#: ``--minutes``: simulated minutes buffering, then as many recording
MINUTES = 10.0
#: Simulated minutes recording (``--record-minutes``); None: as many as buffering.
RECORD_MINUTES: float | None = None
WIDTH, HEIGHT = 1920, 1080


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _owner(path: str) -> str:
    """Which part of the program a mapping belongs to, by its file."""
    if not path or path.startswith("[heap]") or path.startswith("[anon"):
        return "heap and anonymous"
    if path.startswith("["):
        return "stacks and kernel"
    lowered = path.lower()
    for needle, name in (("opencv", "OpenCV"), ("/cv2/", "OpenCV"), ("av.libs", "FFmpeg+x264"),
                         ("/av/", "PyAV"), ("numpy", "NumPy"), ("cryptography", "cryptography"),
                         ("python3", "Python"), ("libpython", "Python")):
        if needle in lowered:
            return name
    return "other libraries" if ".so" in lowered else "other files"


def smaps_mib() -> dict[str, float]:
    """Resident MiB of this process's mappings, grouped by :func:`_owner`."""
    totals: dict[str, float] = defaultdict(float)
    owner = "heap and anonymous"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:
            owner = _owner(fields[5] if len(fields) > 5 else "")
        elif fields and fields[0] == "Rss:":
            totals[owner] += int(fields[1]) / 1024
    return dict(totals)


def _encoder_child() -> dict[str, float]:
    """RSS of the libraries alone, then with a 1080p libx264 open and warm (60 frames)."""
    from hal.encoder import EncoderSettings, LibavEncoder
    from sim.camera import SimCamera
    from sim.clock import SimClock

    frames = [SimCamera(SimClock(), WIDTH, HEIGHT, 30).render(i, i / 30) for i in range(4)]
    before = rss_mib()
    encoder = LibavEncoder(EncoderSettings(WIDTH, HEIGHT, 30))
    for i in range(60):
        encoder.encode(frames[i % 4], i / 30, 0.0)
    return {"libraries": before, "encoder": rss_mib() - before}


def _daemon_child(minutes: float, record_minutes: float) -> dict[str, Any]:
    from device.config import Config
    from sim.simulator import Simulator

    libraries = rss_mib()
    config = Config().replace(camera={"width": WIDTH, "height": HEIGHT, "fps": 30},
                              encryption={"enabled": False})  # no force key here
    result: dict[str, Any] = {"libraries": libraries, "buffering": [], "recording": []}
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(config, Path(tmp) / "d")
        sim.power_on()
        result["boot"] = rss_mib()
        pipeline = sim.daemon.pipeline
        assert pipeline is not None and pipeline.audio is not None, "the bench records sound"
        for _ in range(max(1, round(minutes * 6))):
            sim.advance(10)
            result["buffering"].append(rss_mib())
        ring = pipeline.recorder.pre_event.ring
        result["pre_event"] = {"mib": ring.bytes / 2**20, "seconds": ring.duration_s}
        sim.button("record").double_press()
        for _ in range(max(1, round(record_minutes * 6))):
            sim.advance(10)
            result["recording"].append(rss_mib())
        frame = WIDTH * HEIGHT * 3 // 2
        result["frame_queue"] = {"mib_max": pipeline.frames.maxsize * frame / 2**20,
                                 "frames_max": pipeline.frames.maxsize}
        result["preview_mib"] = frame / 2**20
        result["smaps"] = smaps_mib()
        result["state"] = sim.daemon.state
        sim.shutdown()
    return result


def _child(kind: str, minutes: float, record_minutes: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(minutes),
                          str(record_minutes)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def resident_memory_1080p(seconds: float) -> list[Row]:
    """Resident memory of the daemon at 1080p30 with sound, buffering then recording."""
    minutes = MINUTES
    recorded = minutes if RECORD_MINUTES is None else RECORD_MINUTES
    enc = _child("encoder", minutes, recorded)
    run = _child("daemon", minutes, recorded)
    buffering, recording = run["buffering"], run["recording"]
    end = recording[-1]
    warm = recording[len(recording) // 2:] or recording
    # a sample every ten simulated seconds: one a minute, or one every five over a long run
    every = 6 if recorded <= 15 else 30
    per_minute = recording[every - 1::every] or recording[-1:]
    rows = [
        Row("daemon RSS 1080p30 + sound: libraries imported", f"{run['libraries']:.0f} MiB",
            "Python, NumPy, OpenCV, PyAV/FFmpeg, cryptography, the firmware"),
        Row("  at boot (buffering, encoder open)", f"{run['boot']:.0f} MiB"),
        Row(f"  after {minutes:g} min buffering", f"{buffering[-1]:.0f} MiB",
            f"min {min(buffering):.0f}, max {max(buffering):.0f} over the minutes"),
        Row(f"  after {recorded:g} min recording", f"{end:.0f} MiB",
            f"min {min(recording):.0f}, max {max(recording):.0f}; second half rose "
            f"{max(warm) - warm[0]:+.1f} MiB above its start; target < 200 MiB, flat"),
        Row("  recording, " + ("each simulated minute" if every == 6
                               else "every 5 simulated minutes"),
            " ".join(f"{m:.0f}" for m in per_minute),
            "MiB"),
    ]
    smaps = run["smaps"]
    for owner, mib in sorted(smaps.items(), key=lambda kv: -kv[1]):
        if mib >= 0.5:
            rows.append(Row(f"  where (smaps, recording): {owner}", f"{mib:.1f} MiB"))
    queue = run["frame_queue"]
    rows += [
        Row("  in the anonymous memory: the encoder (libx264 1080p, by difference)",
            f"{enc['encoder']:.0f} MiB", "its own process: open, 60 frames encoded"),
        Row("  the frame queue, full (I420 frames)", f"{queue['mib_max']:.1f} MiB",
            f"{queue['frames_max']} frames of {WIDTH}x{HEIGHT}x1.5 bytes; BGR was twice this"),
        Row("  the preview's newest frame", f"{run['preview_mib']:.1f} MiB", "a reference"),
        Row("  the pre-event buffer", f"{run['pre_event']['mib']:.1f} MiB",
            f"{run['pre_event']['seconds']:.0f} s of packets (picture and sound)"),
    ]
    return rows


BENCHMARKS = {"memory": resident_memory_1080p}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=("encoder", "daemon"), required=True)
    parser.add_argument("minutes", type=float)
    parser.add_argument("record_minutes", type=float)
    args = parser.parse_args()
    found = (_encoder_child() if args.child == "encoder"
             else _daemon_child(args.minutes, args.record_minutes))
    print(json.dumps(found))
