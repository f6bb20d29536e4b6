"""The encoder adapts before a frame is lost (issue 19): the real-time watch on the injected
clock, a slow fake encoder, the manifest's intervals, the audit's summary, and a real libx264
switch mid-recording that decodes and verifies."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from device.config import Config, ConfigError, load_config
from device.pipeline.adapt import AdaptSettings, EncoderWatch, ladder, summary
from device.pipeline.preview import PreviewOutput
from evidence.manifest import Manifest, ManifestError
from evidence.verify import verify
from hal.camera import Frame
from hal.encoder import EncoderSettings, LibavEncoder, Tuning
from sim.encoder import FakeEncoder, slow_encoder
from sim.simulator import Simulator
from tests.conftest import power_cut, tiny_config
from tests.media import decode, ffprobe

FPS = 5  # tiny_config's: a frame interval of 0.2 s


def adapt_settings(**changes: object) -> AdaptSettings:
    return AdaptSettings.from_config(Config().replace(camera={"fps": FPS},
                                                      encoder=changes or {}))


def tuning(preset: str = "veryfast", codec: str = "libx264", kbps: int = 0) -> Tuning:
    return Tuning(codec, preset, 23, kbps)


def test_the_ladder_runs_from_the_configured_preset_to_the_floor() -> None:
    presets = [r.preset for r in ladder(tuning(), adapt_settings())]
    assert presets == ["veryfast", "superfast", "ultrafast"]
    floor = [r.preset for r in ladder(tuning("medium"), adapt_settings(adapt_floor="faster"))]
    assert floor == ["medium", "fast", "faster"]
    # already at or past the floor, or adaptation off: the configured setting only
    assert ladder(tuning("ultrafast"), adapt_settings()) == [tuning("ultrafast")]
    assert ladder(tuning("superfast"), adapt_settings(adapt_floor="veryfast")) == \
        [tuning("superfast")]
    assert ladder(tuning(), adapt_settings(adapt=False)) == [tuning()]


def test_a_hardware_encoders_ladder_lowers_the_bitrate_to_its_floor() -> None:
    rungs = ladder(tuning(codec="h264_v4l2m2m"), adapt_settings())
    assert [r.bitrate_kbps for r in rungs] == [0, 3000, 2250, 1687, 1500]
    assert {r.preset for r in rungs} == {"veryfast"}  # the preset means nothing to it
    assert ladder(tuning(codec="h264_v4l2m2m", kbps=1000), adapt_settings()) == \
        [tuning(codec="h264_v4l2m2m", kbps=1000)]  # configured below the floor: left alone


def fake(preset: str = "veryfast", codec: str = "libx264") -> FakeEncoder:
    return FakeEncoder(EncoderSettings(64, 48, FPS, codec=codec, preset=preset, gop=FPS))


def feed(watch: EncoderWatch, encoder: FakeEncoder, start: float, seconds: float, work: float,
         depth: int = 0) -> float:
    """Frames every 1/FPS s from ``start``, each costing ``work``; returns the next start."""
    t = start
    while t < start + seconds - 1e-9:
        encoder.encode(_IMAGE, t, t)
        watch.frame(t, work, depth)
        t += 1 / FPS
    return t


_IMAGE = np.zeros((48, 64, 3), "uint8")


def test_the_watch_steps_down_under_load_at_a_keyframe_and_back_up_when_it_goes() -> None:
    encoder = fake()
    watch = EncoderWatch(encoder, adapt_settings())
    t = feed(watch, encoder, 0.0, 2.0, work=0.05)  # a quarter of the interval: calm
    assert encoder.tuning.preset == "veryfast" and watch.level == 0
    t = feed(watch, encoder, t, 0.2, work=0.19)  # 95 %: at risk, not yet for adapt_risk_s
    assert encoder.retune_pending is None and watch.level == 0
    t = feed(watch, encoder, t, 1.0, work=0.19)
    assert watch.level == 1 and encoder.tuning.preset == "superfast"  # at a keyframe it asked
    packets = encoder.encode(_IMAGE, t, t)
    assert packets[0].tuning == encoder.tuning  # every packet says what encoded it
    t = feed(watch, encoder, t + 0.2, 3.0, work=0.19)
    assert encoder.tuning.preset == "ultrafast"
    t = feed(watch, encoder, t, 5.0, work=0.19)
    assert encoder.tuning.preset == "ultrafast" and watch.changes == 2  # never below the floor
    t = feed(watch, encoder, t, 9.0, work=0.05)
    assert encoder.tuning.preset == "ultrafast"  # not calm for adapt_calm_s yet
    t = feed(watch, encoder, t, 1.6, work=0.05)
    assert watch.level == 1  # asked: it waits for the GOP's next keyframe
    t = feed(watch, encoder, t, 1.2, work=0.05)
    assert encoder.tuning.preset == "superfast"
    feed(watch, encoder, t, 13.0, work=0.05)
    assert encoder.tuning.preset == "veryfast" and watch.changes == 4
    assert watch.status()["adapted"] is False and watch.status()["settings"] == \
        "libx264 veryfast crf 23"


def test_a_step_up_waits_for_the_gops_keyframe() -> None:
    encoder = fake()
    watch = EncoderWatch(encoder, adapt_settings())
    t = feed(watch, encoder, 0.0, 0.8, work=0.19)
    assert encoder.tuning.preset == "superfast" and watch.level == 1
    while encoder.retune_pending is None:  # calm until the watch asks for the step back
        t = feed(watch, encoder, t, 0.2, work=0.01)
        assert t < 30
    keys = []
    while encoder.retune_pending is not None:
        keys.append(encoder.encode(_IMAGE, t, t)[0])
        t += 1 / FPS
    assert keys[-1].keyframe and keys[-1].tuning.preset == "veryfast"
    assert not any(p.keyframe for p in keys[:-1]) and len(keys) <= FPS


def test_a_load_between_the_thresholds_changes_nothing() -> None:
    encoder = fake()
    watch = EncoderWatch(encoder, adapt_settings())
    feed(watch, encoder, 0.0, 60.0, work=0.12)  # 60 %: neither at risk nor calm
    assert watch.changes == 0 and encoder.tuning.preset == "veryfast"


def test_frames_piling_up_in_the_queue_step_at_once() -> None:
    encoder = fake()
    watch = EncoderWatch(encoder, adapt_settings())
    feed(watch, encoder, 0.0, 1.0, work=0.01)
    watch.frame(1.0, 0.01, depth=3)  # the work looks cheap, but frames are waiting
    assert watch.level == 1 and encoder.retune_pending is not None


def test_a_step_up_that_does_not_hold_doubles_the_calm_time() -> None:
    encoder = fake()
    watch = EncoderWatch(encoder, adapt_settings())
    t = feed(watch, encoder, 0.0, 0.6, work=0.19)
    assert watch.level == 1
    t = feed(watch, encoder, t, 12.0, work=0.05)
    assert watch.level == 0  # back up after 10 s calm
    t = feed(watch, encoder, t, 1.6, work=0.19)
    assert watch.level == 1  # the load was still there
    t = feed(watch, encoder, t, 15.0, work=0.05)
    assert watch.level == 1  # now it needs 20 s of calm
    feed(watch, encoder, t, 8.0, work=0.05)
    assert watch.level == 0


def test_a_hardware_encoder_is_stepped_by_bitrate() -> None:
    encoder = fake(codec="h264_v4l2m2m")
    watch = EncoderWatch(encoder, adapt_settings())
    feed(watch, encoder, 0.0, 1.5, work=0.19)
    assert watch.hardware and encoder.tuning.bitrate_kbps == 3000
    assert watch.status()["settings"] == "h264_v4l2m2m 3000 kbit/s"


class Published:
    """Counts the distinct frames a preview output published while the watch ran."""

    def __init__(self, preview: PreviewOutput) -> None:
        self.preview, self.seen = preview, 0
        self.last: object = None

    def feed(self, watch: EncoderWatch, encoder: FakeEncoder, start: float, seconds: float,
             work: float) -> tuple[float, int]:
        """As :func:`feed`, every frame offered to the preview first; returns the next start
        and how many frames the preview published meanwhile."""
        t, before = start, self.seen
        index = round(start * FPS)
        while t < start + seconds - 1e-9:
            frame = Frame(_IMAGE, t, index)
            self.preview.frame(frame)
            if self.preview.latest is not self.last:
                self.last, self.seen = self.preview.latest, self.seen + 1
            encoder.encode(_IMAGE, t, t)
            watch.frame(t, work, 0)
            t, index = t + 1 / FPS, index + 1
        return t, self.seen - before


def test_a_hardware_encoder_under_load_also_lowers_the_previews_rate_and_restores_it() -> None:
    encoder, preview = fake(codec="h264_v4l2m2m"), PreviewOutput()
    preview.start()
    watch = EncoderWatch(encoder, adapt_settings(adapt_preview_min_fps=1.0), preview)
    frames = Published(preview)
    t, shown = frames.feed(watch, encoder, 0.0, 2.0, work=0.05)  # calm: every frame
    assert shown == 2 * FPS and watch.status()["preview_fps"] is None
    t, _ = frames.feed(watch, encoder, t, 4.0, work=0.19)  # loaded: steps down
    assert watch.level >= 2 and encoder.tuning.bitrate_kbps < 3000
    assert preview.fps == watch.status()["preview_fps"] == max(1.0, FPS / 2 ** watch.level)
    t, shown = frames.feed(watch, encoder, t, 4.0, work=0.19)
    assert shown <= 4 * preview.fps + 1 < 4 * FPS
    t, _ = frames.feed(watch, encoder, t, 120.0, work=0.02)  # the load goes: all the way back
    assert watch.level == 0 and preview.fps is None
    _, shown = frames.feed(watch, encoder, t, 2.0, work=0.02)
    assert shown == 2 * FPS


def test_a_software_encoders_steps_leave_the_preview_alone() -> None:
    encoder, preview = fake(), PreviewOutput()
    preview.start()
    watch = EncoderWatch(encoder, adapt_settings(), preview)
    Published(preview).feed(watch, encoder, 0.0, 3.0, work=0.19)
    assert watch.level > 0 and preview.fps is None and watch.status()["preview_fps"] is None


def test_the_previews_cap_keeps_its_cadence_and_builds_no_backlog() -> None:
    preview = PreviewOutput()
    preview.start()
    preview.set_rate(15.0)
    published = []
    for i in range(30):  # 30 fps for a second: every other frame
        preview.frame(Frame(_IMAGE, i / 30, i))
        if preview.latest is not None and preview.latest.index == i:
            published.append(i)
    assert published == list(range(0, 30, 2))
    preview.frame(Frame(_IMAGE, 10.0, 300))  # after a gap: at once, then the cadence again
    preview.frame(Frame(_IMAGE, 10.0 + 1 / 30, 301))
    assert preview.latest is not None and preview.latest.index == 300


@pytest.mark.parametrize("text, words", [
    ("[encoder]\nadapt_floor = 'placebo'\n", "encoder.adapt_floor"),
    ("[encoder]\nadapt_low = 0.9\nadapt_high = 0.8\n", "encoder.adapt_low (0.9) must be below"),
    ("[encoder]\nadapt_queue = 0\n", "encoder.adapt_queue"),
    ("[encoder]\nadapt_calm_s = 'long'\n", "encoder.adapt_calm_s"),
    ("[encoder]\nadapt = 3\n", "encoder.adapt"),
    ("[encoder]\nadapt_preview_min_fps = 0\n", "encoder.adapt_preview_min_fps"),
    ("[encoder]\nadapt_preview_min_fps = 'fast'\n", "encoder.adapt_preview_min_fps"),
])
def test_bad_adapt_settings_are_refused_in_one_line(tmp_path: Path, text: str,
                                                    words: str) -> None:
    path = tmp_path / "bodycam.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert words in str(err.value) and "\n" not in str(err.value)


# -- end to end on the simulator ----------------------------------------------------------------

class Load:
    """The processor's load, as the slow fake encoder feels it: each preset's cost scaled."""

    #: seconds a frame, loaded
    COSTS: ClassVar[dict[str, float]] = {"veryfast": 0.25, "superfast": 0.15, "ultrafast": 0.1}

    def __init__(self) -> None:
        self.factor = 0.3

    def __call__(self, preset: str, bitrate_kbps: int) -> float:
        return self.COSTS[preset] * self.factor


def manifests(data_dir: Path) -> list[dict]:
    return [json.loads(p.read_text())
            for p in sorted(data_dir.glob("recordings/*/*.mp4.json"))]


def audit(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "audit" / "audit.jsonl").read_text()
            .splitlines()]


def test_a_slow_encoder_steps_the_preset_down_and_back_up_with_every_interval_in_the_manifests(
        tmp_path: Path) -> None:
    load = Load()
    config = tiny_config(encoder={"preset": "veryfast"})
    sim = Simulator(config, tmp_path / "data", encoder=slow_encoder(load))
    sim.power_on()
    sim.advance(1)
    sim.button("record").double_press()
    sim.advance(3)
    load.factor = 1.0  # another process takes the core: veryfast costs 125 % of a frame
    sim.advance(3)
    status = sim.daemon.status().to_json()["encoder"]
    assert status["preset"] == "superfast" and status["adapted"] is True
    assert status["configured"] == "libx264 veryfast crf 23"
    load.factor = 0.3  # the load goes
    sim.advance(20)
    assert sim.daemon.status().to_json()["encoder"]["preset"] == "veryfast"
    sim.button("record").hold(3.2)
    sim.advance(4)
    found = manifests(sim.data_dir)
    assert len(found) >= 6
    presets = []
    for m in found:
        entries = m["encoding"]
        assert entries[0]["from_s"] == 0 and all(
            a["from_s"] < b["from_s"] for a, b in itertools.pairwise(entries))
        assert all(e["from_s"] <= m["duration_s"] for e in entries)
        for e in entries:
            if not presets or presets[-1] != e["preset"]:
                presets.append(e["preset"])
    assert presets == ["veryfast", "superfast", "veryfast"]
    changed = [m for m in found if len(m["encoding"]) > 1]
    assert changed, "a change inside a segment lists both intervals"
    summaries = [e for e in audit(sim.data_dir) if e["event"] == "encoder"]
    assert len(summaries) == 1  # once per recording, not once per step
    assert summaries[0]["data"]["changes"] == 2
    assert set(summaries[0]["data"]["seconds"]) == {"libx264 veryfast crf 23",
                                                    "libx264 superfast crf 23"}
    assert all(f.ok for f in verify([sim.data_dir])), [str(f) for f in verify([sim.data_dir])
                                                        if not f.ok]
    sim.shutdown()


def test_a_recording_at_one_setting_has_one_interval_and_no_summary(tmp_path: Path) -> None:
    sim = Simulator(tiny_config(), tmp_path / "data", encoder=FakeEncoder)
    sim.power_on()
    sim.advance(1)
    sim.button("record").double_press()
    sim.advance(9)
    sim.button("record").hold(3.2)
    sim.advance(4)
    found = manifests(sim.data_dir)
    assert found and all(len(m["encoding"]) == 1 and m["encoding"][0]["preset"] == "ultrafast"
                         for m in found)
    assert not [e for e in audit(sim.data_dir) if e["event"] == "encoder"]
    sim.shutdown()


def test_the_summary_counts_changes_across_segments_not_segment_cuts() -> None:
    a = {"codec": "libx264", "preset": "veryfast", "crf": 23, "bitrate_kbps": 0}
    b = {**a, "preset": "ultrafast"}
    assert summary([{**a, "span_s": 4}, {**a, "span_s": 4}]) is None
    got = summary([{**a, "span_s": 4}, {**b, "span_s": 1.5}, {**b, "span_s": 4},
                   {**a, "span_s": 2}])
    assert got == {"changes": 2, "seconds": {"libx264 veryfast crf 23": 6,
                                             "libx264 ultrafast crf 23": 5.5}}


# -- the manifest field -------------------------------------------------------------------------

def manifest_bytes(**changes: object) -> bytes:
    base = Manifest(device_id="d", model="m", serial="s", recording_id="r", segment_index=0,
                    file="f.mp4", sha256="0" * 64, size=1, start_utc="2026-01-01T00:00:00Z",
                    end_utc="2026-01-01T00:00:01Z", duration_s=1.0, frame_count=5,
                    codec="h264", width=64, height=48, fps=5, prev_manifest_sha256=None,
                    last=True)
    data = json.loads(base.to_bytes())
    data.update(changes)
    return json.dumps(data).encode()


INTERVAL = {"from_s": 0, "from_utc": "2026-01-01T00:00:00Z", "codec": "libx264",
            "preset": "veryfast", "crf": 23, "bitrate_kbps": 0}


def test_a_manifest_without_encoding_is_as_it_was_and_one_with_it_round_trips() -> None:
    old = Manifest.from_bytes(manifest_bytes())
    assert old.encoding is None and b"encoding" not in old.to_bytes()
    two = [INTERVAL, {**INTERVAL, "from_s": 0.6, "preset": "ultrafast"}]
    new = Manifest.from_bytes(manifest_bytes(encoding=two))
    assert new.encoding == tuple(two)
    assert Manifest.from_bytes(new.to_bytes()) == new


@pytest.mark.parametrize("encoding, words", [
    ("fast", "encoding is not a list"),
    ([], "encoding is not a list"),
    ([{**INTERVAL, "extra": 1}], "not an object of from_s"),
    ([{k: v for k, v in INTERVAL.items() if k != "crf"}], "not an object of from_s"),
    ([{**INTERVAL, "crf": "23"}], "encoding: crf is"),
    ([{**INTERVAL, "from_s": True}], "encoding: from_s is True"),
    ([{**INTERVAL, "from_s": 1}], "does not start at 0"),
    ([INTERVAL, {**INTERVAL, "from_s": -1}], "not in order"),
    ([INTERVAL, {**INTERVAL, "from_s": 2}, {**INTERVAL, "from_s": 1}], "not in order"),
    (["x"], "not an object of from_s"),
])
def test_a_bad_encoding_field_is_refused_in_one_line(encoding: object, words: str) -> None:
    with pytest.raises(ManifestError) as err:
        Manifest.from_bytes(manifest_bytes(encoding=encoding))
    assert words in str(err.value) and "\n" not in str(err.value)


# -- libx264 for real ---------------------------------------------------------------------------

def test_a_retune_that_cannot_open_keeps_the_old_context() -> None:
    encoder = LibavEncoder(EncoderSettings(64, 48, FPS, preset="veryfast", gop=FPS))
    encoder.retune(preset="no-such-preset")
    out = []
    for i in range(2 * FPS):
        out += encoder.encode(_IMAGE, i / FPS, i / FPS)
    assert len(out) == 2 * FPS and encoder.tuning.preset == "veryfast"
    assert encoder.retune_error and "\n" not in encoder.retune_error


@pytest.mark.real_encoder
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
def test_a_real_preset_switch_mid_recording_decodes_and_verifies(tmp_path: Path) -> None:
    """veryfast -> ultrafast (a different profile: CAVLC, no 8x8 transform) and back, at
    keyframes inside segments: every segment decodes without an error, has every frame, and
    the recording verifies."""
    config = tiny_config(encoder={"preset": "veryfast"}, camera={"width": 320, "height": 240})
    sim = Simulator(config, tmp_path / "data", encoder=LibavEncoder)
    sim.power_on()
    sim.advance(1)
    sim.button("record").double_press()
    sim.advance(1.5)
    sim.daemon.pipeline.encoder.retune(preset="ultrafast")
    sim.daemon.pipeline.encoder.request_keyframe()
    sim.advance(2)
    sim.daemon.pipeline.encoder.retune(preset="veryfast")  # at the GOP's next keyframe
    sim.advance(5)
    sim.button("record").hold(3.2)
    sim.advance(4)
    found = manifests(sim.data_dir)
    presets = [e["preset"] for m in found for e in m["encoding"]]
    changes = [p for i, p in enumerate(presets) if i == 0 or presets[i - 1] != p]
    assert changes == ["veryfast", "ultrafast", "veryfast"]
    for mp4 in sorted(sim.data_dir.glob("recordings/*/*.mp4")):
        manifest = json.loads(mp4.with_name(mp4.name + ".json").read_text())
        errors = subprocess.run(  # decode every frame; any decoder complaint is on stderr
            ["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames",
             "-of", "json", str(mp4)], capture_output=True, text=True)
        assert errors.returncode == 0 and errors.stderr == "", errors.stderr
        assert int(ffprobe(mp4)["nb_read_frames"]) == manifest["frame_count"]
        assert len(decode(mp4).frame_times) == manifest["frame_count"]
    assert all(f.ok for f in verify([sim.data_dir]))
    sim.shutdown()


def cut_while_adapted(root: Path) -> Path:
    """A data directory as a power cut leaves it, the open segment having changed settings
    twice (veryfast, superfast under load, veryfast again)."""
    load = Load()
    config = tiny_config(encoder={"preset": "veryfast", "adapt_calm_s": 2.0},
                         recording={"segment_s": 60})
    sim = Simulator(config, root / "live", encoder=slow_encoder(load))
    sim.power_on()
    sim.advance(1)
    sim.button("record").double_press()
    sim.advance(3)
    load.factor = 1.0
    sim.advance(3)
    load.factor = 0.3
    sim.advance(8)
    return power_cut(sim, root / "cut")


def test_a_segment_recovered_after_a_cut_keeps_its_encoder_intervals(tmp_path: Path) -> None:
    data = cut_while_adapted(tmp_path)
    assert list(data.glob("recordings/*/*.mp4.part")) and not manifests(data)
    sim = Simulator(tiny_config(), data)
    sim.power_on()
    sim.shutdown()
    (found,) = manifests(data)
    assert found["recovered"] is True
    assert [e["preset"] for e in found["encoding"]] == ["veryfast", "superfast", "veryfast"]
    assert all(e["from_s"] < found["duration_s"] for e in found["encoding"])
    findings = verify([data])
    assert findings and all(f.ok for f in findings), [str(f) for f in findings if not f.ok]


def test_a_change_noted_but_not_landed_is_left_out_of_the_recovered_manifest(
        tmp_path: Path) -> None:
    """The power goes after the pending record noted a step down but before the fragment
    encoded with it landed: the recovered segment lists only the settings of what it holds."""
    load = Load()
    sim = Simulator(tiny_config(encoder={"preset": "veryfast"}, recording={"segment_s": 60}),
                    tmp_path / "live", encoder=slow_encoder(load))
    sim.power_on()
    sim.advance(1)
    sim.button("record").double_press()
    sim.advance(3)
    load.factor = 1.0
    for _ in range(10 * FPS):  # until the watch steps down, within 10 s
        if sim.daemon.status().to_json()["encoder"]["preset"] != "veryfast":
            break
        sim.advance(1 / FPS)
    sim.advance(0.6)  # the step's keyframe muxed, its fragment not yet closed
    data = power_cut(sim, tmp_path / "cut")
    (part,) = data.glob("recordings/*/*.mp4.part")
    pending = json.loads(part.with_name(part.name + ".json").read_text())
    assert [e["preset"] for e in pending["encoding"]] == ["veryfast", "superfast"]
    # what the card held: the fragment lines signed under the record before the change
    log = part.with_name(part.name + ".sigs")
    lines = log.read_bytes().splitlines(keepends=True)
    signed = [json.loads(line)["record"] for line in lines]
    kept = lines[:len(signed) - signed[::-1].index(pending["prev_record"])]
    log.write_bytes(b"".join(kept))
    part.write_bytes(part.read_bytes()[:json.loads(kept[-1])["end"]])
    sim = Simulator(tiny_config(), data)
    sim.power_on()
    sim.shutdown()
    (found,) = manifests(data)
    assert found["recovered"] is True
    assert [e["preset"] for e in found["encoding"]] == ["veryfast"]
    assert found["duration_s"] <= pending["encoding"][1]["from_s"] + 1e-6


def test_the_simulated_pi4_under_load_lowers_bitrate_and_preview_rate_then_restores_both(
        tmp_path: Path) -> None:
    """The daemon end to end with a (fake) hardware encoder: the watch that steps its bitrate
    also thins the frames the preview gets, and gives both back when the load goes."""
    busy = {"factor": 0.3}

    def cost(preset: str, bitrate_kbps: int) -> float:  # a hardware encoder: bitrate-bound
        return 0.25 * busy["factor"] * (bitrate_kbps or 4000) / 4000

    config = tiny_config(encoder={"codec": "h264_v4l2m2m", "adapt_preview_min_fps": 1.0})
    sim = Simulator(config, tmp_path / "data", encoder=slow_encoder(cost))
    sim.power_on()
    pipeline = sim.daemon.pipeline
    assert pipeline is not None
    sim.advance(1)
    sim.button("record").double_press()
    sim.advance(2)
    assert pipeline.preview.fps is None
    busy["factor"] = 1.0
    sim.advance(4)
    status = sim.daemon.status().to_json()["encoder"]
    assert status["hardware"] is True and status["bitrate_kbps"] < 4000
    assert status["preview_fps"] == pipeline.preview.fps and pipeline.preview.fps < FPS
    shown = set()
    for _ in range(4 * FPS):
        sim.advance(1 / FPS)
        latest = pipeline.latest_frame
        shown.add(latest.index if latest is not None else None)
    assert len(shown) < 4 * FPS * 0.75  # fewer frames for the preview to scale and JPEG
    busy["factor"] = 0.1
    sim.advance(150)
    status = sim.daemon.status().to_json()["encoder"]
    assert status["level"] == 0 and status["preview_fps"] is None and pipeline.preview.fps is None
    sim.button("record").hold(3.2)
    sim.advance(4)
    assert [m for m in manifests(sim.data_dir) if len(m["encoding"]) > 1]
    sim.shutdown()
