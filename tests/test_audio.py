"""Sound end to end, on the injected clock: two tracks in every segment, in sync through the
pre-event seam and every cut, mute as digital silence listed in the manifest, pre-event audio
off or on, and a microphone gap as a gap in the sound's timestamps only.

The picture is real H.264 (libx264) so the simulator's flash frames can be found in the file;
the sound is real AAC-LC. Frames are small and short, so each test takes a couple of seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from device.config import Config
from evidence.utc import utc_seconds
from hal.encoder import LibavEncoder
from sim.simulator import Simulator
from sim.sync import flashes, offsets, onsets, samples
from tests.conftest import clear_config
from tests.evidence import record

pytestmark = pytest.mark.real_encoder

FPS = 30
FRAME = 1 / FPS


def config(**sections: dict) -> Config:
    base: dict[str, dict] = {"camera": {"width": 160, "height": 120, "fps": FPS},
                             "recording": {"pre_event_s": 2.0, "segment_s": 4.0},
                             "encoder": {"preset": "ultrafast"}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return clear_config(**base)


def run(tmp_path: Path, cfg: Config, script: object = None, seconds: float = 9.0) -> Simulator:
    """Buffer 3 s, then record ``seconds`` (``script(sim)`` runs first, if given), stop."""
    sim = Simulator(cfg, tmp_path / "data", encoder=LibavEncoder)
    sim.power_on()
    sim.advance(3.0)
    if callable(script):
        sim.button("record").double_press()
        script(sim)
        sim.button("record").hold(3.2)
        sim.advance(3.5)
    else:
        record(sim, seconds)
    sim.shutdown()
    return sim


def mp4s(sim: Simulator) -> list[Path]:
    return sorted(sim.data_dir.glob("recordings/*/*.mp4"))


def manifest(mp4: Path) -> dict:
    return json.loads(mp4.with_name(mp4.name + ".json").read_text())


def audit(sim: Simulator) -> list[dict]:
    return [json.loads(line) for line in
            (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pre_event_on(tmp_path_factory: pytest.TempPathFactory) -> Simulator:
    return run(tmp_path_factory.mktemp("on"), config(recording={"pre_event_audio": True}))


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_every_segment_has_one_h264_and_one_aac_stream_that_decode(pre_event_on) -> None:
    files = mp4s(pre_event_on)
    assert len(files) >= 3
    for mp4 in files:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                "stream=codec_type,codec_name,sample_rate,channels",
                                "-of", "json", str(mp4)], capture_output=True, text=True,
                               check=True)
        streams = json.loads(probe.stdout)["streams"]
        assert sorted((s["codec_type"], s["codec_name"]) for s in streams) == [
            ("audio", "aac"), ("video", "h264")], mp4.name
        (sound,) = (s for s in streams if s["codec_type"] == "audio")
        assert (sound["sample_rate"], sound["channels"]) == ("48000", 1)
        errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(mp4), "-f", "null", "-"],
                                capture_output=True, text=True, check=True).stderr
        assert errors == "", f"{mp4.name}: {errors}"
        fields = manifest(mp4)["audio"]
        assert (fields["codec"], fields["rate"], fields["channels"],
                fields["bitrate_kbps"]) == ("aac", 48000, 1, 64)
        assert fields["packets"] > 0 and fields["gaps"] == []


def test_sound_and_picture_in_sync_in_every_segment_and_across_the_seam(pre_event_on) -> None:
    files = mp4s(pre_event_on)
    first = manifest(files[0])
    assert first["pre_event_s"] > 1.0  # the seam is inside the first segment
    measured = 0
    for mp4 in files:
        found = offsets(mp4)
        # a flash in the last frame interval of a segment may have its tone in the next one
        duration = manifest(mp4)["duration_s"]
        found = [o for o, f in zip(found, flashes(mp4), strict=True) if f < duration - 0.05]
        assert found, mp4.name
        assert all(abs(o) <= FRAME for o in found), (mp4.name, found)
        measured += len(found)
    assert measured >= 10
    seam = first["pre_event_s"]
    early = [f for f in flashes(files[0]) if f < seam]
    late = [f for f in flashes(files[0]) if f > seam]
    assert early and late  # the sync holds on both sides of the pre-event seam


def test_pre_event_audio_off_silent_before_the_press_sound_after(tmp_path: Path) -> None:
    sim = run(tmp_path, config())
    first = mp4s(sim)[0]
    fields = manifest(first)["audio"]
    seam = manifest(first)["pre_event_s"]
    assert fields["sound_from_s"] == pytest.approx(seam, abs=0.002)
    t, x = samples(first)
    assert np.abs(x[t < seam - 0.03]).max() == 0.0  # digital silence, not quiet
    after = [f for f in flashes(first) if f > seam]
    before = [f for f in flashes(first) if f < seam]
    assert before and after
    tones = onsets(first)
    assert all(any(abs(o - f) <= FRAME for o in tones) for f in after)
    assert not any(o < seam for o in tones)
    assert all("sound_from_s" not in manifest(m)["audio"] for m in mp4s(sim)[1:])


def test_pre_event_audio_on_sound_throughout(pre_event_on) -> None:
    first = mp4s(pre_event_on)[0]
    assert "sound_from_s" not in manifest(first)["audio"]
    tones = onsets(first)
    assert all(any(abs(o - f) <= FRAME for o in tones) for f in flashes(first)
               if f < manifest(first)["duration_s"] - 0.05)
    t, x = samples(first)
    assert np.abs(x[(t > 0.1) & (t < 0.5)]).max() > 0  # the noise floor before the press


def _mute_script(sim: Simulator) -> None:
    sim.advance(2.0)
    sim.button("function").hold(3.2)  # muted 3 s into the press
    sim.advance(4.5)
    sim.button("function").hold(3.2)  # unmuted
    sim.advance(4.0)


def test_mute_is_digital_silence_exactly_between_the_audited_mute_and_unmute(
        tmp_path: Path) -> None:
    sim = run(tmp_path, config(recording={"pre_event_audio": True}), _mute_script)
    flags = [e for e in audit(sim) if e["event"] == "flag" and e["data"]["flag"] == "muted"]
    assert [e["data"]["value"] for e in flags] == [True, False]
    spans = []
    for mp4 in mp4s(sim):
        for span in manifest(mp4)["audio"]["muted"]:
            spans.append((mp4, span))
            # a span still open when its segment closed has no end yet: the next says it
            assert span["from_utc"] == flags[0]["utc"]
            assert span["to_utc"] in (flags[1]["utc"], None)
            if span["to_utc"] is None:
                assert span["to_s"] == pytest.approx(manifest(mp4)["duration_s"], abs=0.04)
    assert spans, "the manifests list the muted span"
    assert spans[-1][1]["to_utc"] == flags[1]["utc"]
    muted_s = 0.0
    for mp4 in mp4s(sim):
        t, x = samples(mp4)
        inside = np.zeros(len(t), bool)
        for span in manifest(mp4)["audio"]["muted"]:
            inside |= (t >= span["from_s"]) & (t < span["to_s"])
            # AAC frames overlap by 1024 samples: the edges are a frame wide
            core = (t >= span["from_s"] + 0.022) & (t < span["to_s"] - 0.022)
            assert np.abs(x[core]).max(initial=0) == 0.0, mp4.name
            muted_s += span["to_s"] - span["from_s"]
        outside = ~inside
        # the noise floor is never silent for a whole AAC frame outside the muted spans
        edges = np.zeros(len(t), bool)
        for span in manifest(mp4)["audio"]["muted"]:
            edges |= np.abs(t - span["from_s"]) < 0.05
            edges |= np.abs(t - span["to_s"]) < 0.05
        keep = outside & ~edges & (t > 0.05)
        chunks = np.array_split(np.abs(x[keep]), max(1, keep.sum() // 1024))
        assert all(c.max() > 0 for c in chunks if len(c)), mp4.name
    mono = [e["mono"] for e in flags]
    assert muted_s == pytest.approx(mono[1] - mono[0], abs=0.01)


def test_mute_not_allowed_the_hold_is_refused_and_audited(tmp_path: Path) -> None:
    sim = run(tmp_path, config(audio={"mute_allowed": False}), _mute_script)
    entries = audit(sim)
    assert not [e for e in entries if e["event"] == "flag" and e["data"]["flag"] == "muted"]
    refused = [e for e in entries if e["event"] == "mute_refused"]
    assert len(refused) == 2 and "audio.mute_allowed" in refused[0]["reason"]
    assert not sim.daemon.flags["muted"]
    for mp4 in mp4s(sim):
        assert manifest(mp4)["audio"]["muted"] == []
        t, x = samples(mp4)  # the microphone was heard all along: never a frame of zeros
        start = manifest(mp4)["audio"].get("sound_from_s", 0.0) + 0.03
        kept = np.abs(x[(t > start) & (t < t[-1] - 0.05)])
        chunks = np.array_split(kept, max(1, len(kept) // 1024))
        assert len(kept) > 4800 and all(c.max() > 0 for c in chunks), mp4.name


def test_a_microphone_gap_is_a_gap_in_the_sound_only(tmp_path: Path) -> None:
    def script(sim: Simulator) -> None:
        sim.advance(1.5)
        assert sim.microphone is not None
        sim.microphone.unplug()
        sim.advance(1.0)
        sim.microphone.replug()
        sim.advance(4.0)

    sim = run(tmp_path, config(recording={"pre_event_audio": True}), script)
    entries = audit(sim)
    assert [e["data"]["lost"] for e in entries if e["event"] == "microphone"] == [True, False]
    gaps = [(mp4, g) for mp4 in mp4s(sim) for g in manifest(mp4)["audio"]["gaps"]]
    assert gaps
    assert sum(g["to_s"] - g["from_s"] for _, g in gaps) == pytest.approx(1.0, abs=0.05)
    assert all(manifest(m)["gaps"] == [] for m in mp4s(sim))  # the picture has none
    for mp4 in mp4s(sim):  # where there is sound, it is where it was captured
        heard = [o for o in offsets(mp4) if o != float("inf")]
        assert all(abs(o) <= FRAME for o in heard), (mp4.name, heard)


def test_no_microphone_records_picture_only(tmp_path: Path) -> None:
    sim = run(tmp_path, config(audio={"enabled": False}))
    for mp4 in mp4s(sim):
        assert "audio" not in manifest(mp4)
        import av
        with av.open(str(mp4)) as container:
            assert [s.type for s in container.streams] == ["video"]


def test_verify_reports_each_segments_tracks(pre_event_on) -> None:
    from evidence.verify import verify

    findings = [f for f in verify([pre_event_on.data_dir]) if f.kind == "segment"]
    assert findings and all(f.ok for f in findings)
    assert all("tracks: h264 video, aac audio 48000 Hz 1 ch" in f.detail for f in findings)


def test_a_manifest_whose_audio_is_not_an_object_is_a_one_line_error(pre_event_on) -> None:
    from evidence.manifest import Manifest, ManifestError

    raw = json.loads(mp4s(pre_event_on)[0].with_name(mp4s(pre_event_on)[0].name + ".json")
                     .read_text())
    assert Manifest.from_bytes(json.dumps(raw).encode()).audio == raw["audio"]
    for bad in ("aac", [1], 3):
        with pytest.raises(ManifestError, match="audio is not a JSON object"):
            Manifest.from_bytes(json.dumps({**raw, "audio": bad}).encode())


def test_the_stores_concatenated_export_keeps_the_sound_in_sync(pre_event_on,
                                                                tmp_path: Path) -> None:
    from store.export import remux

    out = tmp_path / "all.mp4"
    starts = remux(mp4s(pre_event_on), out)
    assert len(starts) == len(mp4s(pre_event_on))
    import av
    with av.open(str(out)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    found = offsets(out)
    assert len(found) >= 10
    assert all(abs(o) <= FRAME for o in found[:-1]), found  # the last flash may end the file


def test_sync_holds_after_a_camera_unplug_and_replug(tmp_path: Path) -> None:
    def script(sim: Simulator) -> None:
        sim.advance(2.5)
        sim.camera.unplug()
        sim.advance(1.5)
        sim.camera.replug()
        sim.advance(5.0)

    sim = run(tmp_path, config(recording={"pre_event_audio": True}), script)
    files = mp4s(sim)
    assert any(manifest(m)["gaps"] for m in files)  # the picture's gap, as before
    after = next(m for m in files if manifest(m)["gaps"])
    found = [o for o, f in zip(offsets(after), flashes(after), strict=True)
             if f < manifest(after)["duration_s"] - 0.05]
    assert found and all(abs(o) <= FRAME for o in found), found


def test_other_rates_and_stereo_are_recorded_as_configured(tmp_path: Path) -> None:
    import av

    sim = run(tmp_path, config(audio={"rate": 44100, "channels": 2, "bitrate_kbps": 96},
                               recording={"pre_event_audio": True}), seconds=4.0)
    for mp4 in mp4s(sim):
        fields = manifest(mp4)["audio"]
        assert (fields["rate"], fields["channels"], fields["bitrate_kbps"]) == (44100, 2, 96)
        with av.open(str(mp4)) as container:
            sound = container.streams.audio[0]
            assert (sound.rate, sound.channels) == (44100, 2)
        found = [o for o, f in zip(offsets(mp4), flashes(mp4), strict=True)
                 if f < manifest(mp4)["duration_s"] - 0.05]
        assert all(abs(o) <= FRAME for o in found), found


def test_status_gives_the_level_for_the_panels_meter_and_silence_when_muted(
        tmp_path: Path) -> None:
    sim = Simulator(config(recording={"pre_event_audio": True}), tmp_path / "d",
                    encoder=LibavEncoder)
    sim.power_on()
    try:
        sim.advance(1.0)
        assert sim.microphone is not None
        sim.microphone.speak(2.0)
        sim.advance(0.5)
        loud = sim.daemon.status().to_json()["audio"]
        assert -30 < loud["level_dbfs"] < 0 and loud["blocks_dropped"] == 0
        sim.advance(2.0)
        quiet = sim.daemon.status().audio
        assert quiet is not None and -80 < quiet["level_dbfs"] < -40  # the noise floor
        sim.button("function").hold(3.2)
        sim.advance(4.0)
        muted = sim.daemon.status().audio
        assert muted is not None and muted["level_dbfs"] == -120.0
    finally:
        sim.shutdown()
    off = Simulator(config(audio={"enabled": False}), tmp_path / "e", encoder=LibavEncoder)
    off.power_on()
    try:
        assert off.daemon.status().to_json()["audio"] is None
    finally:
        off.shutdown()


@pytest.mark.parametrize("fps", [5, 30])
def test_the_last_segment_has_its_sound_to_the_stop_and_no_false_gap(
        tmp_path: Path, fps: int) -> None:
    """The microphone's block still being heard at the stop (a fifth of a second at 5 fps)
    belongs to the recording: the stop waits for it, and the manifest lists no gap, which
    would say the microphone failed."""
    cfg = config(camera={"width": 64, "height": 48, "fps": fps},
                 recording={"pre_event_audio": True})
    for n, wait in enumerate((0.0, 0.07, 0.13)):  # the stop at different phases of a block
        sim = Simulator(cfg, tmp_path / f"d{n}", encoder=LibavEncoder)
        sim.power_on()
        sim.advance(1.0 + wait)
        record(sim, 5.0)
        sim.shutdown()
        files = mp4s(sim)
        for mp4 in files:
            assert manifest(mp4)["audio"]["gaps"] == [], (fps, wait, mp4.name)
        last = manifest(files[-1])
        sound = last["audio"]
        heard_to = sound["first_s"] + sound["duration_s"]
        (stop,) = (e for e in audit(sim) if e["event"] == "recording_stop")
        stop_s = utc_seconds(stop["utc"]) - utc_seconds(last["start_utc"])
        # every sample captured before the stop is in the file (the block the microphone
        # was still filling at the stop included), and no more than an AAC frame after it
        assert stop_s - 0.001 <= heard_to <= stop_s + 1024 / 48000 + 0.001, (
            fps, wait, heard_to, stop_s)
        assert heard_to <= last["duration_s"] + 0.001


def test_a_stop_into_the_dock_closes_the_recording_though_the_microphone_stops_with_it(
        tmp_path: Path) -> None:
    """The camera and microphone go off as the camera docks: the stop does not wait for a
    block that will never come, and the recording is closed and signed before the upload."""
    cfg = config(camera={"width": 64, "height": 48, "fps": 5},
                 recording={"pre_event_audio": True})
    sim = Simulator(cfg, tmp_path / "d", encoder=LibavEncoder)
    sim.power_on()
    try:
        sim.advance(1.07)  # the stop falls inside a microphone block
        sim.button("record").double_press()
        sim.advance(3.0)
        sim.dock.dock()  # docked mid-recording: it docks when the recording stops
        sim.advance(0.5)
        sim.button("record").hold(3.2)
        sim.advance(3.5)
        assert sim.mode == "docked"
        files = mp4s(sim)
        assert files and manifest(files[-1])["last"] is True
        assert not list(sim.data_dir.glob("recordings/*/*.part"))
        assert manifest(files[-1])["audio"]["gaps"] == []
    finally:
        sim.shutdown()


def test_an_unmute_at_a_segment_cut_is_in_the_next_segments_manifest() -> None:
    """The unmute landing on the cut's first frame (after the segment before was signed with
    its span still open): the next segment lists the span's end, zero long at its start."""
    from device.pipeline.audio import AudioSettings
    from device.pipeline.segments import audio_fields

    mutes = [[5.35, "2026-01-01T00:00:05.350Z", 12.4, "2026-01-01T00:00:12.400Z"]]
    before = audio_fields(AudioSettings(), 8.4, 12.4, mutes, None)["muted"]
    after = audio_fields(AudioSettings(), 12.4, 16.4, mutes, None)["muted"]
    later = audio_fields(AudioSettings(), 16.4, 20.4, mutes, None)["muted"]
    assert before == [{"from_s": 0.0, "to_s": 4.0, "from_utc": mutes[0][1],
                       "to_utc": mutes[0][3]}]
    assert after == [{"from_s": 0.0, "to_s": 0.0, "from_utc": mutes[0][1],
                      "to_utc": mutes[0][3]}]
    assert later == []
