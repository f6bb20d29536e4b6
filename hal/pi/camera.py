"""The Pi's camera: the CSI camera through picamera2 (libcamera), else a USB camera via V4L2.

:func:`open_camera` picks the backend: picamera2 when it imports and finds a sensor (Raspberry
Pi OS Bookworm ships it as python3-picamera2), else OpenCV's V4L2 capture of a USB camera, else
:class:`CameraUnavailable` naming what was tried. Both backends read frames on a thread of their
own and hand them to the sink with the clock's monotonic time; when the sensor stops answering
the camera reports ``on_fault`` once, retries, and reports ``on_restore`` when frames flow again.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from hal.camera import Camera, Frame, FrameSink, PixelFormat, i420_planes
from hal.clock import Clock
from hal.pi.errors import PiSetupError

SYSFS_VIDEO4LINUX = Path("/sys/class/video4linux")


class CameraUnavailable(PiSetupError):
    """No camera backend could deliver frames; the message says what was tried."""


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A BGR ``height x width x 3`` image, whatever layout and size the sensor delivered."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def fit_i420(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """An I420 ``(height * 3 / 2) x width`` image from the sensor's YUV420 buffer, whose rows
    may be padded to a stride wider than the picture (picamera2 gives ``(h * 3 / 2) x
    stride``): as it is when it fits, else each plane cropped (or scaled) into a new one."""
    if image.ndim != 2 or image.shape[0] % 3 or image.shape[1] % 2:
        raise ValueError(f"a YUV420 buffer is (height * 3 / 2) x stride, not {image.shape}")
    rows, stride = image.shape
    got = rows * 2 // 3
    if (got, stride) == (height, width):
        return np.ascontiguousarray(image)
    flat = np.ascontiguousarray(image).reshape(-1)
    luma, chroma = got * stride, (got // 2) * (stride // 2)
    planes = (flat[:luma].reshape(got, stride),
              flat[luma:luma + chroma].reshape(got // 2, stride // 2),
              flat[luma + chroma:luma + 2 * chroma].reshape(got // 2, stride // 2))
    out = np.empty((height * 3 // 2, width), np.uint8)
    for source, dest, div in zip(planes, i420_planes(out), (1, 2, 2), strict=True):
        if got == height and stride >= width:  # the stride's padding: cropped off
            dest[:] = source[:, :width // div]
        else:
            cv2.resize(source, (width // div, height // div), dst=dest,
                       interpolation=cv2.INTER_AREA)
    return out


class CaptureCamera(Camera):
    """A sensor read in a loop on its own thread. Subclasses open, read and close it."""

    #: Seconds between attempts to reopen a sensor that stopped answering.
    retry_s = 1.0
    #: What :meth:`_read` gives: BGR (OpenCV's order) unless the backend asks for YUV420.
    pixel_format = PixelFormat.BGR

    def __init__(self, clock: Clock, width: int, height: int, fps: float) -> None:
        super().__init__(width, height, fps)
        self._clock = clock
        self._sink: FrameSink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._index = 0
        self.faulted: str | None = None

    @abstractmethod
    def _open(self) -> None:
        """Start the sensor streaming; raise :class:`CameraUnavailable` when it will not."""

    @abstractmethod
    def _read(self) -> np.ndarray | None:
        """The next image (blocks up to a frame period), or None when the sensor failed."""

    @abstractmethod
    def _close(self) -> None:
        """Stop streaming; must not raise."""

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, sink: FrameSink) -> None:
        with self._lock:
            self._sink = sink
            if self._thread is not None:
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread, self._sink = self._thread, None, None
            self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def close(self) -> None:
        """Release the sensor for good (the daemon is exiting)."""
        self.stop()

    def self_test(self) -> str | None:
        if self.running:
            return self.faulted
        try:
            self._open()
        except CameraUnavailable as exc:
            return str(exc)
        self._close()
        return None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._open()
                try:
                    self._stream()
                finally:
                    self._close()
            except CameraUnavailable as exc:
                self._fault(str(exc))
            if self._stopping.wait(self.retry_s):
                return

    def _stream(self) -> None:
        while not self._stopping.is_set():
            image = self._read()
            if image is None:
                raise CameraUnavailable(f"camera {self.describe()} stopped delivering frames")
            t = self._clock.monotonic()
            sink = self._sink
            if sink is None:
                return
            if self.faulted is not None:
                self.faulted = None
                if self.on_restore is not None:
                    self.on_restore()
            self._index += 1
            sink(self._frame(image, t))

    def _frame(self, image: np.ndarray, t: float) -> Frame:
        """The frame of one read: in the sensor's own format when it is I420 (no conversion),
        else BGR; a buffer that is not the YUV420 asked for is taken as the image it is."""
        if self.pixel_format is PixelFormat.I420 and image.ndim == 2 and \
                self.width % 2 == 0 and self.height % 2 == 0:
            with contextlib.suppress(ValueError):
                return Frame(fit_i420(image, self.width, self.height), t, self._index,
                             PixelFormat.I420)
        return Frame(fit(image, self.width, self.height), t, self._index)

    def _fault(self, reason: str) -> None:
        if self.faulted is None:
            self.faulted = reason
            if self.on_fault is not None:
                self.on_fault(reason)

    def describe(self) -> str:
        return type(self).__name__


class Picamera2Camera(CaptureCamera):
    """The CSI camera, asked for ``YUV420``: the ISP's own output and what H.264 encodes, so
    no frame is converted before the encoder (issue 19). ``pixel_format=PixelFormat.BGR``
    asks for ``RGB888`` instead (in picamera2, B, G, R in memory: OpenCV's order)."""

    def __init__(self, picam2: Any, clock: Clock, width: int, height: int, fps: float,
                 pixel_format: PixelFormat = PixelFormat.I420) -> None:
        super().__init__(clock, width, height, fps)
        self._cam = picam2
        self._configured = False
        self.pixel_format = (PixelFormat.BGR if width % 2 or height % 2 else pixel_format)

    def describe(self) -> str:
        return "picamera2"

    def _open(self) -> None:
        try:
            if not self._configured:
                self._cam.configure(self._cam.create_video_configuration(
                    main={"size": (self.width, self.height),
                          "format": "YUV420" if self.pixel_format is PixelFormat.I420
                          else "RGB888"},
                    controls={"FrameRate": float(self.fps)}))
                self._configured = True
            self._cam.start()
        except Exception as exc:  # libcamera reports through many exception types
            raise CameraUnavailable(f"camera picamera2 did not start: {exc}") from None

    def _read(self) -> np.ndarray | None:
        try:
            return self._cam.capture_array("main")
        except Exception:
            return None

    def _close(self) -> None:
        with contextlib.suppress(Exception):
            self._cam.stop()

    def close(self) -> None:
        super().close()
        with contextlib.suppress(Exception):
            self._cam.close()


def open_v4l2(index: int) -> cv2.VideoCapture:
    return cv2.VideoCapture(index, cv2.CAP_V4L2)


class V4L2Camera(CaptureCamera):
    """A USB (UVC) camera through OpenCV's V4L2 backend, opened only while frames are wanted."""

    def __init__(self, index: int, clock: Clock, width: int, height: int, fps: float,
                 open_capture: Callable[[int], cv2.VideoCapture] = open_v4l2) -> None:
        super().__init__(clock, width, height, fps)
        self.index = index
        self._open_capture = open_capture
        self._cap: cv2.VideoCapture | None = None

    def describe(self) -> str:
        return f"/dev/video{self.index} (V4L2)"

    def _open(self) -> None:
        cap = self._open_capture(self.index)
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailable(f"camera {self.describe()} did not open")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap

    def _read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        return image if ok else None

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class MissingCamera(Camera):
    """Stands in when no camera was found: the daemon's self-test reports why and the camera
    shows the fault (red LED) instead of the service crash-looping."""

    def __init__(self, reason: str, width: int, height: int, fps: float) -> None:
        super().__init__(width, height, fps)
        self.reason = reason

    def start(self, sink: FrameSink) -> None:
        if self.on_fault is not None:
            self.on_fault(self.reason)

    def stop(self) -> None:
        pass

    def self_test(self) -> str | None:
        return self.reason


def usb_camera_index(root: Path = SYSFS_VIDEO4LINUX) -> int | None:
    """The lowest ``/dev/videoN`` whose device sits on USB: on a Pi the low numbers may belong
    to the CSI receiver or the ISP, which OpenCV cannot read."""
    found = []
    with contextlib.suppress(OSError):
        for node in root.iterdir():
            number = node.name.removeprefix("video")
            if number.isdigit() and "/usb" in str((node / "device").resolve()):
                found.append(int(number))
    return min(found) if found else None


def open_camera(clock: Clock, width: int, height: int, fps: float,
                import_module: Callable[[str], ModuleType] = importlib.import_module,
                open_capture: Callable[[int], cv2.VideoCapture] = open_v4l2,
                video4linux: Path = SYSFS_VIDEO4LINUX) -> CaptureCamera:
    """picamera2 if it imports and finds a sensor, else a V4L2 camera that opens, else
    :class:`CameraUnavailable` naming both attempts."""
    tried = []
    try:
        picamera2 = import_module("picamera2")
    except Exception as exc:  # ImportError, or libcamera's bindings failing to load
        tried.append(f"picamera2 not importable ({exc})")
    else:
        try:
            return Picamera2Camera(picamera2.Picamera2(), clock, width, height, fps)
        except Exception as exc:  # no sensor: IndexError or RuntimeError, by version
            tried.append(f"picamera2 found no camera ({exc or type(exc).__name__})")
    usb = usb_camera_index(video4linux)
    index = 0 if usb is None else usb
    camera = V4L2Camera(index, clock, width, height, fps, open_capture)
    problem = camera.self_test()
    if problem is None:
        return camera
    tried.append(problem)
    raise CameraUnavailable("no camera: " + "; ".join(tried))
