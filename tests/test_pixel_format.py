"""Frames in the sensor's own format (issue 19): I420 from the simulator and the Pi through the
watermark and the encoder without a conversion, BGR still taken from older backends, and the
preview the only place that converts."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from device.pipeline.commands import StartRecording, StopRecording
from device.pipeline.pipeline import Pipeline
from device.pipeline.preview import to_bgr
from device.pipeline.segments import RecordingInfo
from device.pipeline.watermark import Watermark
from evidence.identity import create_identity
from evidence.verify import verify
from hal.camera import Frame, PixelFormat, i420_planes
from hal.encoder import EncoderError, EncoderSettings, LibavEncoder
from sim.camera import SimCamera
from sim.clock import SimClock
from tests.conftest import tiny_config
from tests.media import decode as decode_file

WALL = 1767225600.0  # 2026-01-01T00:00:00Z


def decode(packets: list) -> list[av.VideoFrame]:
    ctx = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in ctx.decode(av.Packet(p.data))]
    return frames + list(ctx.decode(None))


def encode_one(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The picture a viewer of the file sees: encoded, decoded, as BGR."""
    encoder = LibavEncoder(EncoderSettings(width, height, 30))
    frames = decode(encoder.encode(image, 0.0, WALL))
    assert len(frames) == 1
    return frames[0].to_ndarray(format="bgr24")


# -- the frame's format ----------------------------------------------------------------------
@pytest.mark.parametrize(("image", "fmt", "message"), [
    (np.zeros((240, 320), np.uint8), PixelFormat.BGR, "a BGR frame is height x width x 3"),
    (np.zeros((240, 320, 4), np.uint8), PixelFormat.BGR, "a BGR frame is height x width x 3"),
    (np.zeros((0, 320, 3), np.uint8), PixelFormat.BGR, "a BGR frame is height x width x 3"),
    (np.zeros((240, 320, 3), np.uint8), PixelFormat.I420, "an I420 frame is"),
    (np.zeros((361, 320), np.uint8), PixelFormat.I420, "an I420 frame is"),
    (np.zeros((360, 321), np.uint8), PixelFormat.I420, "an I420 frame is"),
    (np.zeros((3, 320), np.uint8), PixelFormat.I420, "an I420 frame is"),  # height 2: fine
    (np.zeros((360, 320), np.float32), PixelFormat.I420, "is uint8, not float32"),
])
def test_a_frame_whose_image_is_not_its_format_is_refused_in_one_line(
        image: np.ndarray, fmt: PixelFormat, message: str) -> None:
    if image.shape == (3, 320):
        assert Frame(image, 0.0, 1, fmt).height == 2
        return
    with pytest.raises(ValueError, match=message) as err:
        Frame(image, 0.0, 1, fmt)
    assert "\n" not in str(err.value)


def test_a_frame_format_that_is_not_a_pixel_format_is_refused() -> None:
    with pytest.raises(ValueError, match="PixelFormat"):
        Frame(np.zeros((360, 320), np.uint8), 0.0, 1, "i420")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numpy array"):
        Frame(b"\0" * 100, 0.0, 1)  # type: ignore[arg-type]


def test_an_old_backends_frame_is_bgr_by_default() -> None:
    frame = Frame(np.zeros((48, 64, 3), np.uint8), 0.0, 1)
    assert frame.format is PixelFormat.BGR and (frame.width, frame.height) == (64, 48)


@pytest.mark.parametrize(("width", "height"), [(64, 48), (322, 242), (1280, 720)])
def test_i420_planes_are_views_of_the_frame(width: int, height: int) -> None:
    image = np.zeros((height * 3 // 2, width), np.uint8)
    y, u, v = i420_planes(image)
    assert y.shape == (height, width) and u.shape == v.shape == (height // 2, width // 2)
    y[:] = 1
    u[:] = 2
    v[:] = 3
    assert (image.reshape(-1) == np.repeat([1, 2, 3], [width * height, u.size, v.size])).all()
    with pytest.raises(ValueError, match="contiguous"):
        i420_planes(np.zeros((height * 3 // 2, width * 2), np.uint8)[:, ::2])


# -- the simulator renders I420 ------------------------------------------------------------------
@pytest.mark.parametrize(("width", "height"), [(320, 240), (1280, 720), (322, 242)])
def test_the_simulator_renders_i420_that_looks_as_its_bgr_did(width: int, height: int) -> None:
    i420 = SimCamera(SimClock(), width, height, 30)
    bgr = SimCamera(SimClock(), width, height, 30, PixelFormat.BGR)
    assert i420.pixel_format is PixelFormat.I420
    for index in (1, 17, 30, 59):
        picture = i420.render(index, index / 30)
        assert picture.shape == (height * 3 // 2, width)
        seen = cv2.cvtColor(picture, cv2.COLOR_YUV2BGR_I420).astype(int)
        before = bgr.render(index, index / 30).astype(int)
        # the same picture but at colour edges (chroma is half the resolution)
        assert np.abs(seen - before).mean() < 2.5
        assert (np.abs(seen - before).max(axis=2) > 40).mean() < 0.03


def test_a_flash_frame_is_white_in_luma_and_colourless() -> None:
    camera = SimCamera(SimClock(), 320, 240, 30)
    frame = Frame(camera.render(30, 1.0), 1.0, 30, PixelFormat.I420)
    _, u, v = i420_planes(frame.image)
    assert frame.luma.mean() > 220 and (u == 128).all() and (v == 128).all()
    assert Frame(camera.render(31, 1.0), 1.0, 31, PixelFormat.I420).luma.mean() < 200


def test_a_picture_of_odd_size_is_rendered_bgr_as_before() -> None:
    camera = SimCamera(SimClock(), 321, 240, 30)
    assert camera.pixel_format is PixelFormat.BGR
    assert camera.render(1, 0.0).shape == (240, 321, 3)


def test_the_simulators_frames_carry_their_format() -> None:
    clock = SimClock()
    camera = SimCamera(clock, 64, 48, 30)
    frames: list[Frame] = []
    camera.start(frames.append)
    clock.advance(0.2)
    camera.stop()
    assert frames and {f.format for f in frames} == {PixelFormat.I420}


# -- the encoder takes both ----------------------------------------------------------------------
@pytest.mark.real_encoder
@pytest.mark.parametrize(("width", "height"), [(320, 240), (322, 242)])
def test_i420_and_bgr_of_the_same_picture_encode_to_the_same_picture(width: int,
                                                                      height: int) -> None:
    bgr = SimCamera(SimClock(), width, height, 30, PixelFormat.BGR).render(5, 0.1)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    assert (encode_one(bgr, width, height) == encode_one(i420, width, height)).all()


@pytest.mark.real_encoder
def test_encoding_leaves_the_frame_as_it_was() -> None:
    """The codec's frame points at the array (no copy): it must only read it."""
    image = SimCamera(SimClock(), 320, 240, 30).render(5, 0.1)
    before = image.copy()
    encoder = LibavEncoder(EncoderSettings(320, 240, 30))
    for n in range(3):
        encoder.encode(image, n / 30, WALL)
    assert (image == before).all()


@pytest.mark.real_encoder
@pytest.mark.parametrize("image", [
    np.zeros((480 * 3 // 2, 640), np.uint8),   # another size, I420
    np.zeros((480, 640, 3), np.uint8),         # another size, BGR
    np.zeros((361, 320), np.uint8),            # not I420 at all
    np.zeros((240, 320, 4), np.uint8),         # not BGR at all
], ids=["i420-size", "bgr-size", "i420-shape", "bgr-shape"])
def test_a_frame_the_encoder_cannot_take_is_a_one_line_error(image: np.ndarray) -> None:
    encoder = LibavEncoder(EncoderSettings(320, 240, 30))
    with pytest.raises(EncoderError, match="encoding failed") as err:
        encoder.encode(image, 0.0, WALL)
    assert "\n" not in str(err.value)
    assert encoder.encode(np.zeros((360, 320), np.uint8), 0.0, WALL)  # and it goes on


# -- the watermark on the luma plane -----------------------------------------------------------
@pytest.mark.real_encoder
def test_the_watermark_on_i420_is_legible_in_the_decoded_file() -> None:
    width, height = 640, 480
    mark = Watermark("BWV-OPEN-1", "SIM00001", height)
    image = SimCamera(SimClock(), width, height, 30).render(7, 0.2)
    mark.apply(image, WALL, True, PixelFormat.I420)
    luma = cv2.cvtColor(encode_one(image, width, height), cv2.COLOR_BGR2GRAY)
    # where the text is, drawn alone on black at the same place
    text = np.zeros((height, width), np.uint8)
    cv2.putText(text, mark.text(WALL, True), (8, height - 8 - (mark.line_h - 6) // 4),
                cv2.FONT_HERSHEY_SIMPLEX, mark.scale, 255, mark.thickness, cv2.LINE_AA)
    top = mark.band_top(height)
    band, glyphs = luma[top:], text[top:]
    assert glyphs.astype(bool).sum() > 500  # the line has text to read
    assert band[glyphs > 200].mean() > 180  # the strokes are bright
    assert band[glyphs == 0].mean() < 70  # on a dark band
    assert luma[: top - 8].mean() > 70  # above it the picture is as it was


def test_the_watermark_on_i420_looks_as_on_bgr() -> None:
    height, width = 480, 640
    bgr = np.full((height, width, 3), (30, 120, 200), np.uint8)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    mark = Watermark("BWV", "SIM1", height)
    mark.apply(bgr, WALL, False)
    mark.apply(i420, WALL, False, PixelFormat.I420)
    seen = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420).astype(int)
    assert np.abs(seen - bgr).mean() < 2
    top = mark.band_top(height)
    assert np.abs(seen[top + 2:top + 6, -20:] - bgr[top + 2:top + 6, -20:]).max() <= 3


def test_the_watermark_refuses_an_image_not_of_the_format_named() -> None:
    mark = Watermark("BWV", "SIM1", 240)
    with pytest.raises(ValueError, match="I420 frame"):
        mark.apply(np.zeros((240, 320, 3), np.uint8), WALL, True, PixelFormat.I420)


# -- the preview converts ----------------------------------------------------------------------
@pytest.mark.parametrize(("width", "height", "max_width", "shape"), [
    (1920, 1080, 640, (360, 640, 3)),
    (320, 240, 640, (240, 320, 3)),
    (642, 482, 640, (480, 640, 3)),
    (1280, 720, None, (720, 1280, 3)),
    (1280, 720, 333, (187, 333, 3)),
])
def test_the_preview_converts_i420_to_bgr_scaled(width: int, height: int,
                                                 max_width: int | None,
                                                 shape: tuple[int, ...]) -> None:
    i420 = Frame(SimCamera(SimClock(), width, height, 30).render(3, 0.1), 0.1, 3,
                 PixelFormat.I420)
    bgr = Frame(SimCamera(SimClock(), width, height, 30, PixelFormat.BGR).render(3, 0.1), 0.1,
                3)
    seen, before = to_bgr(i420, max_width), to_bgr(bgr, max_width)
    assert seen.shape == before.shape == shape
    assert np.abs(seen.astype(int) - before).mean() < 3
    assert not np.shares_memory(to_bgr(bgr), bgr.image)  # a viewer's copy, never the frame


# -- through the whole pipeline --------------------------------------------------------------------
@pytest.mark.real_encoder
@pytest.mark.parametrize("pixel_format", list(PixelFormat))
def test_a_recording_from_either_format_plays_with_its_watermark_and_verifies(
        tmp_path: Path, pixel_format: PixelFormat) -> None:
    """The simulator's I420 and an older backend's BGR frames, through watermark, libx264,
    muxer and signatures: the file decodes frame for frame, the flash is white, the watermark
    band dark with bright text, and the recording verifies."""
    config = tiny_config(camera={"width": 320, "height": 240, "fps": 30})
    clock = SimClock()
    camera = SimCamera(clock, 320, 240, 30, pixel_format)
    reports: list[object] = []
    pipeline = Pipeline(config, camera, clock, lambda: 1 << 40, reports.append)
    identity = create_identity(tmp_path, "BWV-OPEN-1", "PIX")  # the data dir holds the key
    info = RecordingInfo("R000001-pix000", tmp_path / "recordings" / "R000001-pix000", "test",
                         identity, "libx264", 320, 240, 30, True)
    info.directory.mkdir(parents=True)
    pipeline.start()
    pipeline.send(StartRecording(info, False, 0.0))
    for i in range(1, 46):
        pipeline.on_frame(Frame(camera.render(i, i / 30), i / 30, i, camera.pixel_format))
    pipeline.send(StopRecording(clock.wall()))
    pipeline.sync()
    pipeline.close()
    assert not [r for r in reports if type(r).__name__ == "PipelineError"], reports
    (mp4,) = info.directory.glob("*.mp4")
    assert decode_file(mp4).frame_times == pytest.approx([i / 30 for i in range(45)], abs=1e-3)
    with av.open(str(mp4)) as container:
        luma = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    mark = pipeline.watermark
    top = mark.band_top(240)
    assert luma[29][:top].mean() > 220  # frame 30, a flash
    band = luma[5][top:]
    assert np.percentile(band, 50) < 60 and band.max() > 200  # dark band, bright text
    assert all(f.ok for f in verify([info.directory])), verify([info.directory])
