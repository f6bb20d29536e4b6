"""The camera's sound as seen on its serial console and in its files: every segment has a
picture and a sound track, the meter moves, mute is digital silence exactly between the audited
mute and unmute (or, where the camera forbids muting, the hold is refused and audited), stealth
never mutes, and pre-event sound is silent or kept as the camera is configured. Runs on the
simulator and, unchanged, on a board; the checks that need the simulator's own inputs (a voice,
the microphone's cable) skip on a board and say why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from sim.sync import samples
from tests.hil.conftest import verify
from tests.hil.console import Event
from tests.hil.device import Device, in_order

#: AAC frames overlap by 1024 samples: a mute's edges are this wide in the decoded sound.
EDGE_S = 0.025


def manifests(data_dir: Path, recording: str, names: list[str]) -> list[dict[str, Any]]:
    folder = data_dir / "recordings" / recording
    return [json.loads((folder / f"{name}.json").read_text()) for name in names]


def audit(data_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in
            (data_dir / "audit" / "audit.jsonl").read_text().splitlines()]


def record(device: Device, seconds: float, during: Any = None) -> tuple[str, list[str]]:
    """A recording of about ``seconds`` (``during(device)`` runs inside it): its id and the
    files of its segments, once it is closed."""
    mark = device.mark()
    device.gesture("double", "record")
    recording = device.status()["recording"]["id"]
    device.elapse(1)
    if during is not None:
        during(device)
    device.elapse(seconds)
    device.gesture("hold", "record")
    return recording, list(closed_event(device, mark, recording).data["segments"])


def closed_event(device: Device, mark: int, recording: str) -> Event:
    """The recording's ``recording_closed``: a pipeline report, which may come after the
    answer that caused it (docs/SERIAL.md), so on a virtual clock a little more time is let
    pass (a few times at most) rather than read only what has arrived."""
    for _ in range(10):
        try:
            return device.wait_for("recording_closed", mark, recording_id=recording)
        except AssertionError:
            if not device.virtual:
                raise  # on a board wait_for has waited its timeout already
            device.elapse(0.5)
    return device.wait_for("recording_closed", mark, recording_id=recording)


def not_silent(x: np.ndarray, block: int = 1024) -> bool:
    """A live microphone is never digital zero for a whole AAC frame (but for the last two of
    a recording: the encoder's drain pads its partial frame with zeros)."""
    x = x[:max(0, len(x) - 2 * block)]
    chunks = [x[i:i + block] for i in range(0, len(x) - block + 1, block)]
    return bool(chunks) and all(np.abs(c).max() > 0 for c in chunks)


def test_every_segment_has_a_picture_and_a_sound_track_and_verify_names_both(
        device: Device, data_dir: Path, media: Callable[[Path], Path]) -> None:
    status = device.status()
    assert status["audio"] is not None, "the camera records no sound (audio.enabled = false?)"
    recording, files = record(device, 6)
    assert len(files) >= 2
    folder = data_dir / "recordings" / recording
    for name, manifest in zip(files, manifests(data_dir, recording, files), strict=True):
        with av.open(str(media(folder / name))) as container:
            kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        sound = manifest["audio"]
        assert kinds == [("audio", sound["codec"]), ("video", "h264")], name
        assert sound["packets"] > 0 and sound["gaps"] == [] and sound["muted"] == []
    result = verify(folder)
    assert result.returncode == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if " segment " in line]
    assert len(lines) == len(files)
    assert all(f"tracks: h264 video, {sound['codec']} audio {sound['rate']} Hz "
               f"{sound['channels']} ch" in line for line in lines), result.stdout


def test_pre_event_sound_is_silent_or_kept_as_configured(
        device: Device, data_dir: Path, media: Callable[[Path], Path]) -> None:
    device.elapse(3)  # the pre-event buffer fills
    recording, files = record(device, 2)
    first = manifests(data_dir, recording, files)[0]
    t, x = samples(media(data_dir / "recordings" / recording / files[0]))
    assert first["pre_event_s"] > 1.0
    sound_from = first["audio"].get("sound_from_s")
    if sound_from is None:  # recording.pre_event_audio = true: sound throughout
        assert not_silent(x[t > 0.05]), "the pre-event part has no sound"
        return
    assert sound_from == pytest.approx(first["pre_event_s"], abs=0.05)  # the press
    assert np.abs(x[t < sound_from - EDGE_S]).max() == 0.0  # digital silence before it
    assert not_silent(x[t > sound_from + EDGE_S]), "no sound after the press"


def _mute_twice(device: Device) -> None:
    device.gesture("hold", "function")
    device.elapse(3)
    device.gesture("hold", "function")


def test_mute_is_digital_silence_exactly_between_the_audited_mute_and_unmute(
        device: Device, data_dir: Path, media: Callable[[Path], Path]) -> None:
    mark = device.mark()
    recording, files = record(device, 2, _mute_twice)
    if [e for e in device.since(mark) if e.kind == "mute_refused"]:
        # this camera forbids muting (audio.mute_allowed = false): the holds did nothing
        refused = [e for e in device.since(mark) if e.kind == "mute_refused"]
        assert len(refused) == 2 and "audio.mute_allowed" in refused[0].data["reason"]
        assert not [e for e in device.since(mark) if e.matches("flag", flag="muted")]
        assert all(m["audio"]["muted"] == [] for m in manifests(data_dir, recording, files))
        return
    flags = [e for e in device.since(mark) if e.matches("flag", flag="muted")]
    assert [e.data["value"] for e in flags] == [True, False]
    in_order(device.since(mark), ("flag", {"flag": "muted", "value": True}),
             ("led", {"alt": "blue"}))  # the LED says so
    entries = [e for e in audit(data_dir) if e["event"] == "flag"
               and e["data"]["flag"] == "muted" and e["mono"] >= flags[0].t - 0.001]
    muted_on, muted_off = entries[0], entries[1]
    spans: list[dict[str, Any]] = []
    total = 0.0
    heard_outside = 0
    folder = data_dir / "recordings" / recording
    for name, manifest in zip(files, manifests(data_dir, recording, files), strict=True):
        t, x = samples(media(folder / name))
        inside = np.zeros(len(t), bool)
        for span in manifest["audio"]["muted"]:
            spans.append(span)
            assert span["from_utc"] == muted_on["utc"]  # the audit log's moment
            assert span["to_utc"] in (muted_off["utc"], None)
            core = (t >= span["from_s"] + EDGE_S) & (t < span["to_s"] - EDGE_S)
            if span["to_s"] - span["from_s"] > 4 * EDGE_S:  # (an unmute at the cut: 0 long)
                assert core.any() and np.abs(x[core]).max() == 0.0, f"{name}: sound while muted"
            inside |= (t >= span["from_s"] - EDGE_S) & (t < span["to_s"] + EDGE_S)
            total += span["to_s"] - span["from_s"]
        start = manifest["audio"].get("sound_from_s", 0.0) + EDGE_S
        outside = x[~inside & (t > start)]
        if len(outside) > 3 * 1024:  # a segment muted all through has nothing outside
            assert not_silent(outside), f"{name}: silence outside the mute"
            heard_outside += 1
    assert spans and spans[-1]["to_utc"] == muted_off["utc"], (
        files, sorted(p.name for p in folder.iterdir()), audit(data_dir)[-12:])
    assert heard_outside >= 1  # sound before the mute or after the unmute was checked
    assert total == pytest.approx(muted_off["mono"] - muted_on["mono"], abs=0.02)


def test_stealth_never_mutes(device: Device, data_dir: Path,
                             media: Callable[[Path], Path]) -> None:
    mark = device.mark()
    device.gesture("hold", "program")
    device.wait_for("flag", mark, flag="stealth", value=True)

    def check(device: Device) -> None:
        status = device.status()
        assert status["flags"]["stealth"] and not status["flags"]["muted"]
        assert status["audio"]["level_dbfs"] > -120.0  # the microphone is heard

    recording, files = record(device, 3, check)
    device.gesture("hold", "program")
    assert not [e for e in device.since(mark) if e.matches("flag", flag="muted")]
    folder = data_dir / "recordings" / recording
    for name, manifest in zip(files, manifests(data_dir, recording, files), strict=True):
        assert manifest["audio"]["muted"] == []
        t, x = samples(media(folder / name))
        start = manifest["audio"].get("sound_from_s", 0.0) + EDGE_S
        assert not_silent(x[t > start]), f"{name}: silence in stealth"


def test_the_meter_follows_a_voice(device: Device) -> None:
    if not device.has("microphone"):
        pytest.skip("no microphone command: a board's microphone hears its room (speak to it "
                    "and watch status audio.level_dbfs)")
    device.gesture("double", "record")  # the meter shows what is kept: sound while recording
    assert device.status()["audio"]["blocks_dropped"] == 0
    device.ask("microphone speak 2")
    loud = _levels(device, 5)
    device.ask("microphone speak 0")  # the voice stops now
    device.elapse(0.5)
    quiet = _levels(device, 6)
    device.gesture("hold", "record")
    # a flash's tone burst may be in a block; the voice is in every one
    assert min(loud) > -30 and min(quiet) < -40, (loud, quiet)
    assert device.status()["audio"]["blocks_dropped"] == 0


def _levels(device: Device, count: int) -> list[float]:
    found = []
    for _ in range(count):
        device.elapse(0.2)
        found.append(device.status()["audio"]["level_dbfs"])
    return found


def test_a_microphone_unplugged_mid_recording_is_a_gap_in_the_sound_only(
        device: Device, data_dir: Path) -> None:
    if not device.has("microphone"):
        pytest.skip("no microphone command: a board's microphone cable needs a rig")
    mark = device.mark()

    def pull(device: Device) -> None:
        device.ask("microphone unplug")
        device.elapse(1.0)
        device.ask("microphone replug")

    recording, files = record(device, 3, pull)
    in_order(device.since(mark), ("microphone", {"lost": True}),
             ("microphone", {"lost": False}))
    assert device.status()["mode"] == "buffering"
    found = manifests(data_dir, recording, files)
    gaps = [g for m in found for g in m["audio"]["gaps"]]
    assert sum(g["to_s"] - g["from_s"] for g in gaps) == pytest.approx(1.0, abs=0.25)
    assert all(m["gaps"] == [] for m in found)  # the picture has none
    result = verify(data_dir / "recordings" / recording)
    assert result.returncode == 0, result.stdout
