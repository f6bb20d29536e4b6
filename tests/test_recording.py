"""A recording made on the simulator, read back as evidence: H.264, sized, signed, chained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence.verify import verify
from sim.simulator import Simulator
from tests.conftest import have
from tests.media import decode, ffprobe, segments


def record(sim: Simulator, buffer_s: float, seconds: float) -> None:
    sim.advance(buffer_s)
    sim.button("record").double_press()
    sim.advance(0.5)
    assert sim.mode == "recording"
    sim.advance(seconds)
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    assert sim.mode == "buffering"


def test_led_blinks_red_while_recording_and_tones_mark_start_and_stop(sim: Simulator) -> None:
    assert sim.led.state.colour == "green" and sim.led.state.blinking
    sim.button("record").double_press()
    sim.advance(0.5)
    assert sim.led.state.colour == "red" and sim.led.state.blinking
    lit = {sim.led.lit_at(sim.clock.monotonic() + dt) for dt in (0.1, 0.6)}
    assert lit == {"red", None}
    tones = [entry.value for entry in sim.hw.buzzer.log.entries]
    assert len(tones[-1]) == 3  # two tones and a rest
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    assert sim.led.state.colour == "green"
    assert sim.hw.buzzer.log.entries[-1].value[0].seconds == 1.0  # one long tone


@pytest.mark.real_encoder
def test_recording_is_h264_of_the_configured_size_and_length(sim: Simulator) -> None:
    record(sim, buffer_s=1.0, seconds=5.0)
    files = segments(sim.data_dir)
    assert len(files) >= 2  # 4 s segments
    fps = sim.config.camera.fps
    total = 0
    for mp4 in files:
        decoded = decode(mp4)
        assert (decoded.codec, decoded.width, decoded.height) == ("h264", 320, 240)
        manifest = json.loads(Path(str(mp4) + ".json").read_text())
        assert manifest["frame_count"] == len(decoded.frame_times)
        gaps = {round(b - a, 6) for a, b in zip(decoded.frame_times, decoded.frame_times[1:],
                                                 strict=False)}
        assert gaps == {round(1 / fps, 6)}
        total += len(decoded.frame_times)
    # from the buffered start (1 s before the press) to the hold being recognised (3 s in)
    recorded_s = 1.0 + 0.5 + 5.0 + 3.0
    assert abs(total - recorded_s * fps) <= fps * sim.config.encoder.keyframe_interval_s


@pytest.mark.real_encoder
def test_segments_chain_and_verify_and_any_flipped_byte_is_caught(sim: Simulator) -> None:
    record(sim, buffer_s=1.0, seconds=5.0)
    findings = verify([sim.data_dir])
    assert findings and all(f.ok for f in findings), findings
    manifests = [json.loads(Path(str(p) + ".json").read_text()) for p in segments(sim.data_dir)]
    assert [m["segment_index"] for m in manifests] == list(range(len(manifests)))
    assert manifests[0]["prev_manifest_sha256"] is None
    assert [m["last"] for m in manifests] == [False] * (len(manifests) - 1) + [True]

    mp4 = segments(sim.data_dir)[0]
    data = bytearray(mp4.read_bytes())
    data[len(data) // 2] ^= 0x01
    mp4.write_bytes(bytes(data))
    assert [f.status for f in verify([mp4])] == ["tampered"]


@pytest.mark.real_encoder
@pytest.mark.skipif(not have("ffprobe"), reason="ffprobe (Debian package ffmpeg) not installed")
def test_ffprobe_reads_every_segment(sim: Simulator) -> None:
    record(sim, buffer_s=0.5, seconds=1.0)
    files = segments(sim.data_dir)
    assert files  # a loop over nothing would pass
    for mp4 in files:
        info = ffprobe(mp4)
        assert info["codec_name"] == "h264"
        assert int(info["nb_read_frames"]) > 0


def test_pre_event_buffer_holds_the_run_up(sim: Simulator) -> None:
    pre = sim.config.recording.pre_event_s
    gop = sim.config.encoder.keyframe_interval_s
    sim.advance(pre + 3.3)
    sim.button("record").double_press()
    sim.advance(1.0)
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    first = json.loads(Path(str(segments(sim.data_dir)[0]) + ".json").read_text())
    # the buffer held whole keyframe intervals covering at least `pre` seconds
    assert pre - 1 / 30 <= first["pre_event_s"] < pre + gop
    assert decode(segments(sim.data_dir)[0]).frame_times[0] == 0.0
