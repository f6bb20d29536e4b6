"""Power loss: interrupted segments are recovered, signed and playable; nothing is deleted."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.pipeline.recovery import complete_prefix
from evidence.verify import verify
from sim.simulator import Simulator
from tests.conftest import CLEAR_TOML, power_cut, tiny_config
from tests.media import decode, segments
from tests.simproc import BODYCAM, bodycam, start_sim

CAM = {"width": 160, "height": 120, "fps": 10}


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


#: When the power goes: the third segment is open with a few whole fragments behind its header
#: (a recording with sound cuts its first segment a little past ``segment_s``).
CUT_AT_S = 11.55


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory as a power cut leaves it: a recording with an open ``.part``."""
    root = tmp_path_factory.mktemp("cut")
    sim = Simulator(tiny_config(camera=CAM, recording={"segment_s": 4}), root / "data")
    sim.power_on()
    sim.button("record").double_press()
    sim.advance(CUT_AT_S)
    yield power_cut(sim, root / "snapshot")


def boot(data_dir: Path) -> Simulator:
    sim = Simulator(tiny_config(camera=CAM, recording={"segment_s": 4}), data_dir)
    sim.power_on()
    return sim


def part_of(data_dir: Path) -> Path:
    (part,) = data_dir.glob("recordings/*/*.mp4.part")
    return part


def tear(part: Path, at: int) -> None:
    """The card as a power cut ``at`` bytes into the ``.part`` leaves it: those bytes, and the
    fragment signatures of what had landed by then (each is written after its bytes)."""
    part.write_bytes(part.read_bytes()[:at])
    log = part.with_name(part.name + ".sigs")
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(line for line in lines if json.loads(line)["end"] <= at))


def test_complete_prefix_finds_the_last_whole_fragment(interrupted: Path) -> None:
    data = part_of(interrupted).read_bytes()
    end = complete_prefix(data)
    assert 0 < end <= len(data)
    assert complete_prefix(data[:end]) == end
    assert complete_prefix(data[:100]) == 0  # no moov yet: nothing playable


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.3, 1.0))
def test_a_torn_part_is_recovered_signed_and_playable(interrupted: Path, tmp_path: Path,
                                                      cut: float) -> None:
    data_dir = Path(tempfile.mkdtemp(dir=tmp_path)) / "d"
    shutil.copytree(interrupted, data_dir)
    part = part_of(data_dir)
    original = part.read_bytes()
    torn_at = max(complete_prefix(original[:1000]) + 1, int(len(original) * cut))
    tear(part, torn_at)  # the power went mid-write
    sim = boot(data_dir)
    try:
        status = sim.daemon.status()
        assert len(status.recovered) == 1 and status.recovered[0]["detail"] == ""
        assert any(e.value.every_led for e in sim.led.log.entries)  # "recovering" was shown
        mp4 = data_dir / "recordings" / part.parent.name / part.name[: -len(".part")]
        manifest = json.loads(Path(str(mp4) + ".json").read_text())
        assert manifest["recovered"] is True and manifest["last"] is True
        torn = mp4.with_name(mp4.name + ".torn")
        kept = mp4.read_bytes() + (torn.read_bytes() if torn.exists() else b"")
        assert kept == original[:torn_at]  # not a byte lost: cut tail is kept beside it
        assert len(decode(mp4).frame_times) == manifest["frame_count"]
        findings = verify([data_dir])
        assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]
        audit = (data_dir / "audit" / "audit.jsonl").read_text()
        assert '"event":"recovered"' in audit
    finally:
        sim.shutdown()


def test_recovery_loses_at_most_one_keyframe_interval(interrupted: Path, tmp_path: Path
                                                      ) -> None:
    data_dir = tmp_path / "d"
    shutil.copytree(interrupted, data_dir)
    sim = boot(data_dir)
    sim.shutdown()
    manifests = [json.loads(Path(str(p) + ".json").read_text()) for p in segments(data_dir)]
    recorded = sum(m["duration_s"] for m in manifests)
    # CUT_AT_S after the press, plus the 2 s pre-event buffer; minus at most one GOP
    expected = CUT_AT_S - 0.35 + manifests[0]["pre_event_s"]
    assert expected - 1.0 - 0.1 <= recorded <= expected + 0.1, (recorded, expected)


def test_a_part_with_no_header_is_kept_and_reported(tmp_path: Path) -> None:
    sim = boot(tmp_path / "d")
    sim.shutdown()
    broken = tmp_path / "d" / "recordings" / "R000009-aaaaaa" / "R000009-aaaaaa-S0000.mp4.part"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x00\x00\x00\x10garbage")
    sim = boot(tmp_path / "d")
    sim.shutdown()
    assert broken.exists() and broken.read_bytes() == b"\x00\x00\x00\x10garbage"
    assert "no usable pending record" in sim.daemon.recovered[0]["detail"]


# -- a real process, killed -------------------------------------------------------------------

CONFIG = """
[camera]
width = 160
height = 120
fps = 10
[encoder]
preset = "ultrafast"
[recording]
segment_s = 4
pre_event_s = 2
""" + CLEAR_TOML


def cli(data_dir: Path, *args: str) -> dict:
    out = bodycam(*args, data_dir=data_dir).stdout
    return json.loads(out) if args[0] == "status" else {}


def test_sigkill_at_random_moments_loses_at_most_about_a_second(tmp_path: Path) -> None:
    config = tmp_path / "bodycam.toml"
    config.write_text(CONFIG)
    data_dir = tmp_path / "d"
    rng = random.Random(20261121)
    kills = []
    for _ in range(3):
        proc = start_sim(data_dir, config)
        cli(data_dir, "press", "record", "--double")
        cli(data_dir, "advance", f"{rng.uniform(2.0, 9.0):.2f}")
        kills.append(cli(data_dir, "status", "--json")["utc"])
        os.kill(proc.pid, signal.SIGKILL)  # the power goes
        proc.wait()
    proc = start_sim(data_dir, config)  # the next boot recovers
    cli(data_dir, "shutdown")
    proc.wait(timeout=30)
    assert not list(data_dir.glob("recordings/*/*.part"))
    findings = verify([data_dir])
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]
    by_recording: dict[str, list[dict]] = {}
    for mp4 in segments(data_dir):
        m = json.loads(Path(str(mp4) + ".json").read_text())
        by_recording.setdefault(m["recording_id"], []).append(m)
        assert len(decode(mp4).frame_times) == m["frame_count"]
    assert len(by_recording) == 3
    for killed_at, recording in zip(kills, sorted(by_recording), strict=True):
        final = by_recording[recording][-1]
        assert final["recovered"] and final["last"]
        lost = wall(killed_at) - wall(final["end_utc"])
        assert 0 <= lost <= 1.0 + 0.15, lost  # at most the keyframe interval being built


def test_sigkill_mid_write_is_recovered(tmp_path: Path) -> None:
    """Killed while busy (a long advance in flight), so a fragment may be half written."""
    config = tmp_path / "bodycam.toml"
    config.write_text(CONFIG)
    data_dir = tmp_path / "d"
    proc = start_sim(data_dir, config)
    cli(data_dir, "press", "record", "--double")
    busy = subprocess.Popen([*BODYCAM, "advance", "600", "--data-dir", str(data_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the daemon to be deep in its work
        if "segment closed" in line and "-S0003" in line:
            break
    # Wherever the kill lands (mid-fragment, before the next .part exists, between two
    # segments), the next start closes the recording: recovered, or a recovered terminator.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    busy.wait(timeout=30)
    proc = start_sim(data_dir, config)
    status = cli(data_dir, "status", "--json")
    cli(data_dir, "shutdown")
    proc.wait(timeout=30)
    assert status["recovered"] and all(r["detail"] == "" for r in status["recovered"])
    findings = verify([data_dir])
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]


def test_power_lost_between_two_segments_closes_the_recording(interrupted: Path,
                                                              tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    shutil.copytree(interrupted, data_dir)
    part = part_of(data_dir)
    part.unlink()  # as if the power went after S0001 closed, before S0002 was opened
    part.with_name(part.name + ".json").unlink()
    sim = boot(data_dir)
    sim.shutdown()
    manifests = [json.loads(Path(str(p) + ".json").read_text()) for p in segments(data_dir)]
    final = manifests[-1]
    assert final["frame_count"] == 0 and final["last"] and final["recovered"]
    assert final["gaps"][0]["reason"] == "power lost between two segments"
    findings = verify([data_dir])
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]


def test_text_status_reports_what_was_recovered(interrupted: Path, tmp_path: Path) -> None:
    """After a power cut the README's plain ``bodycam status`` says what the boot recovered,
    as ``--json`` does, and a failed recovery with its reason."""
    config = tmp_path / "bodycam.toml"
    config.write_text(CONFIG)
    data_dir = tmp_path / "d"
    shutil.copytree(interrupted, data_dir)
    broken = data_dir / "recordings" / "R000009-aaaaaa" / "R000009-aaaaaa-S0000.mp4.part"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x00\x00\x00\x10garbage")
    proc = start_sim(data_dir, config)
    try:
        text = bodycam("status", data_dir=data_dir).stdout
        recovered = cli(data_dir, "status", "--json")["recovered"]
    finally:
        cli(data_dir, "shutdown")
        proc.wait(timeout=30)
    good = next(r for r in recovered if not r["detail"])
    bad = next(r for r in recovered if r["detail"])
    lines = [line for line in text.splitlines() if line.startswith("recovered")]
    assert len(lines) == 2, text
    assert any(good["file"] in line and f"{good['frames']} frames" in line for line in lines)
    assert any(bad["file"] in line and "FAILED" in line and bad["detail"] in line
               for line in lines), lines


def test_an_aborted_recording_opens_no_segment_over_the_one_it_left(tmp_path: Path) -> None:
    """After the recorder aborts (the process must die), what still reaches it (frames held
    for their sound, the microphone's last blocks) never opens the segment again: a new
    writer would truncate the ``.part`` footage and append a second fragment log to it."""
    sim = Simulator(tiny_config(camera=CAM, recording={"segment_s": 4}), tmp_path / "data")
    sim.power_on()
    sim.button("record").double_press()
    sim.advance(5.5)
    sim.daemon.sync()
    pipeline = sim.daemon.pipeline
    assert pipeline is not None
    pipeline.recorder.abort()
    (part,) = (tmp_path / "data" / "recordings").glob("*/*.mp4.part")
    left = part.read_bytes()
    assert left
    sim.advance(2.0)  # the camera still delivers frames, the microphone still blocks
    sim.daemon.sync()
    assert part.read_bytes() == left
    sim.shutdown()
