"""Camera selection (picamera2, else V4L2, else a named error) and the capture thread, with
failures injected at import and open; frames come from a real OpenCV capture of a file."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

from device.config import Config
from device.pipeline.encoder import encoder_settings
from device.pipeline.preview import to_bgr
from hal.camera import Frame, PixelFormat
from hal.clock import SystemClock
from hal.encoder import LibavEncoder
from hal.pi.camera import (
    CameraUnavailable,
    Picamera2Camera,
    V4L2Camera,
    fit_i420,
    open_camera,
    usb_camera_index,
)
from hal.pi.encoder import HARDWARE_H264, SOFTWARE_H264, choose_encoder, encoder_problem
from hal.pi.errors import PiSetupError
from sim.clock import SimClock


def no_picamera2(name: str) -> ModuleType:
    raise ModuleNotFoundError(f"No module named {name!r}")


def picamera2_without_sensor(name: str) -> ModuleType:
    module = ModuleType(name)

    def no_sensor() -> None:  # what Picamera2() does when libcamera lists no camera
        raise IndexError("list index out of range")

    module.Picamera2 = no_sensor  # type: ignore[attr-defined]
    return module


def unopened(index: int) -> cv2.VideoCapture:
    return cv2.VideoCapture()  # a real capture that opened nothing


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A short real video file (MJPEG, 160x120), numbered frames for OpenCV to read back."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(10):
        writer.write(np.full((120, 160, 3), i * 20, np.uint8))
    writer.release()
    return path


def test_no_picamera2_and_no_v4l2_device_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable) as err:
        open_camera(SimClock(), 320, 240, 30, import_module=no_picamera2, open_capture=unopened,
                    video4linux=tmp_path)
    assert str(err.value) == ("no camera: picamera2 not importable (No module named "
                              "'picamera2'); camera /dev/video0 (V4L2) did not open")


def test_picamera2_without_a_sensor_falls_back_to_v4l2(tmp_path: Path, video: Path) -> None:
    camera = open_camera(SimClock(), 320, 240, 30, import_module=picamera2_without_sensor,
                         open_capture=lambda index: cv2.VideoCapture(str(video)),
                         video4linux=tmp_path)
    assert isinstance(camera, V4L2Camera)
    with pytest.raises(CameraUnavailable, match=r"picamera2 found no camera \(list index"):
        open_camera(SimClock(), 320, 240, 30, import_module=picamera2_without_sensor,
                    open_capture=unopened, video4linux=tmp_path)


def test_the_usb_camera_is_preferred_over_the_csi_and_isp_nodes(tmp_path: Path) -> None:
    devices = tmp_path / "devices"
    for name, target in (("video0", "platform/1f00110000.csi"),
                         ("video3", "platform/soc/usb1/1-1/1-1:1.0"),
                         ("video5", "platform/soc/usb1/1-2/1-2:1.0"),
                         ("video19", "platform/bcm2835-isp")):
        (devices / target).mkdir(parents=True)
        (tmp_path / "v4l" / name).mkdir(parents=True)
        (tmp_path / "v4l" / name / "device").symlink_to(devices / target)
    assert usb_camera_index(tmp_path / "v4l") == 3
    opened: list[int] = []

    def record_index(index: int) -> cv2.VideoCapture:
        opened.append(index)
        return cv2.VideoCapture()

    with pytest.raises(CameraUnavailable, match=r"/dev/video3 \(V4L2\) did not open"):
        open_camera(SimClock(), 320, 240, 30, import_module=no_picamera2,
                    open_capture=record_index, video4linux=tmp_path / "v4l")
    assert opened == [3]


class Collector:
    """A frame sink that wakes the test after ``want`` frames."""

    def __init__(self, want: int) -> None:
        self.frames: list[Frame] = []
        self.want = want
        self.enough = threading.Event()

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)
        if len(self.frames) >= self.want:
            self.enough.set()


def test_v4l2_capture_thread_delivers_sized_frames_and_recovers(video: Path) -> None:
    clock = SystemClock()
    camera = V4L2Camera(0, clock, 320, 240, 30,
                        open_capture=lambda index: cv2.VideoCapture(str(video)))
    camera.retry_s = 0.01
    events: list[str] = []
    camera.on_fault = lambda reason: events.append(f"fault: {reason}")
    camera.on_restore = lambda: events.append("restored")
    sink = Collector(15)  # more than the file holds: its end is a failed sensor
    try:
        assert camera.self_test() is None
        camera.start(sink)
        assert sink.enough.wait(10), f"only {len(sink.frames)} frames"
    finally:
        camera.stop()
        clock.close()
    frames = sink.frames
    assert all(f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [f.index for f in frames] == list(range(1, len(frames) + 1))
    assert all(a.t_mono <= b.t_mono for a, b in itertools.pairwise(frames))
    assert abs(int(frames[3].image.mean()) - 60) < 8  # frame 3 of the file, scaled up
    assert events[:2] == ["fault: camera /dev/video0 (V4L2) stopped delivering frames",
                          "restored"]
    assert not camera.running


BLUE_BGR = (255, 0, 0)


class FakePicamera2:
    """The part of picamera2's API the backend uses: a blue picture, BGR-ordered for
    ``RGB888``, and for ``YUV420`` as the ISP lays it out, rows padded to ``stride`` (0: none)
    and ``size`` the one it gives (None: the one asked for)."""

    def __init__(self, stride: int = 0, size: tuple[int, int] | None = None,
                 ignores_format: bool = False) -> None:
        self.config: dict[str, Any] | None = None
        self.calls: list[str] = []
        self.stride, self.size, self.ignores_format = stride, size, ignores_format

    def create_video_configuration(self, main: dict[str, Any],
                                   controls: dict[str, Any]) -> dict[str, Any]:
        return {"main": main, "controls": controls}

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self, stream: str) -> np.ndarray:
        w, h = self.size or self.config["main"]["size"]  # type: ignore[index]
        bgr = np.full((h, w, 3), BLUE_BGR, np.uint8)  # blue, in B, G, R order
        if self.config["main"]["format"] != "YUV420" or self.ignores_format:  # type: ignore
            return bgr
        i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
        stride = max(self.stride, w)
        y, uv = i420[:h].reshape(-1), i420[h:].reshape(-1)
        padded = np.full(h * stride * 3 // 2, 7, np.uint8)  # padding bytes are junk
        padded[:h * stride].reshape(h, stride)[:, :w] = y.reshape(h, w)
        chroma = padded[h * stride:].reshape(h, stride // 2)
        chroma[:, :w // 2] = uv.reshape(h, w // 2)
        return padded.reshape(h * 3 // 2, stride)

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def _picamera2_frames(fake: FakePicamera2, width: int = 320,
                      height: int = 240) -> list[Frame]:
    module = ModuleType("picamera2")
    module.Picamera2 = lambda: fake  # type: ignore[attr-defined]
    camera = open_camera(SimClock(), width, height, 25, import_module=lambda name: module,
                         open_capture=unopened)
    assert isinstance(camera, Picamera2Camera)
    sink = Collector(3)
    camera.start(sink)
    assert sink.enough.wait(5)
    camera.close()
    assert fake.calls[-1] == "close" and "stop" in fake.calls
    return sink.frames


def test_picamera2_is_chosen_first_and_configured_for_yuv420_video() -> None:
    """The ISP's own format: the frame is I420, its planes the picture's, not converted."""
    fake = FakePicamera2()
    frames = _picamera2_frames(fake)
    assert fake.config == {"main": {"size": (320, 240), "format": "YUV420"},
                           "controls": {"FrameRate": 25.0}}
    frame = frames[0]
    assert frame.format is PixelFormat.I420 and frame.image.shape == (360, 320)
    assert to_bgr(frame)[0, 0].tolist() == pytest.approx(BLUE_BGR, abs=3)


def test_picamera2_rows_padded_to_a_stride_are_cropped_to_the_picture() -> None:
    frame = _picamera2_frames(FakePicamera2(stride=384))[0]
    assert frame.format is PixelFormat.I420 and frame.image.shape == (360, 320)
    assert 7 not in frame.image  # none of the stride's padding bytes is in the picture
    assert np.abs(to_bgr(frame).astype(int) - BLUE_BGR).max() <= 3


def test_picamera2_of_another_size_is_scaled_plane_by_plane() -> None:
    frame = _picamera2_frames(FakePicamera2(size=(640, 480)))[0]
    assert frame.format is PixelFormat.I420 and frame.image.shape == (360, 320)
    assert np.abs(to_bgr(frame).astype(int) - BLUE_BGR).max() <= 3


def test_picamera2_that_gives_bgr_anyway_still_gives_frames() -> None:
    """An older picamera2 (or a sensor mode) answering in RGB888: taken as the BGR it is."""
    frame = _picamera2_frames(FakePicamera2(ignores_format=True))[0]
    assert frame.format is PixelFormat.BGR and frame.image[0, 0].tolist() == list(BLUE_BGR)


def test_picamera2_frames_encode_as_they_come() -> None:
    frame = _picamera2_frames(FakePicamera2(stride=384))[0]
    encoder = LibavEncoder(encoder_settings(Config().replace(
        camera={"width": 320, "height": 240, "fps": 25})))
    packets = encoder.encode(frame.image, 0.0, 0.0)
    assert packets and packets[0].keyframe


def test_fit_i420_refuses_what_is_not_yuv420() -> None:
    with pytest.raises(ValueError, match="YUV420 buffer"):
        fit_i420(np.zeros((241, 320), np.uint8), 320, 240)
    with pytest.raises(ValueError, match="YUV420 buffer"):
        fit_i420(np.zeros((240, 320, 3), np.uint8), 320, 240)


# -- encoder choice ------------------------------------------------------------------------------
def test_chosen_encoder_really_encodes_here() -> None:
    codec = choose_encoder()
    config = Config().replace(camera={"width": 320, "height": 240}, encoder={"codec": codec})
    encoder = LibavEncoder(encoder_settings(config))
    packets = encoder.encode(np.zeros((240, 320, 3), np.uint8), 0.0, 0.0)
    assert encoder.codec_name == codec
    assert isinstance(packets, list)


def test_hardware_encoder_that_does_not_open_falls_back_to_libx264() -> None:
    tried: list[str] = []

    def problem(codec: str) -> str | None:
        tried.append(codec)
        return "no /dev/video11" if codec == HARDWARE_H264 else encoder_problem(codec)

    assert choose_encoder({HARDWARE_H264, SOFTWARE_H264}, problem) == SOFTWARE_H264
    assert tried == [HARDWARE_H264, SOFTWARE_H264]
    assert choose_encoder({SOFTWARE_H264}) == SOFTWARE_H264


def test_hardware_encoder_is_preferred_when_it_opens() -> None:
    assert choose_encoder({HARDWARE_H264, SOFTWARE_H264}, lambda codec: None) == HARDWARE_H264


def test_no_encoder_is_a_named_error() -> None:
    with pytest.raises(PiSetupError) as err:
        choose_encoder(set())
    assert str(err.value) == ("no H.264 encoder: h264_v4l2m2m: not in this FFmpeg build; "
                              "libx264: not in this FFmpeg build")
    assert encoder_problem("no_such_codec")  # a real failure has a reason
