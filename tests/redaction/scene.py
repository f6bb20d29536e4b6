"""Source footage with real faces: the astronaut photograph that scikit-image's wheel ships
(read straight from the installed package: nothing is downloaded), composited into the
simulator's moving test pattern, encoded to H.264 fragmented MP4 segments with an AAC tone,
and signed and chained by a device key as the camera does (``write_signed_manifest``)."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from device.pipeline.segments import MP4_OPTIONS
from evidence.identity import DeviceIdentity, create_identity, public_pem
from evidence.manifest import Manifest, sha256_file, write_signed_manifest
from hal.camera import PixelFormat
from sim.camera import SimCamera
from sim.clock import DEFAULT_EPOCH, SimClock
from store.redaction.detector import Box

WIDTH, HEIGHT, FPS = 320, 240, 15
RATE = 48000
TONE_HZ = 440.0
#: The astronaut's face in the photograph (512 x 512): the detector finds it at 177,67,93,93.
HEAD = (140, 20, 170, 190)  # the crop composited: head and some shoulder
SCALE = 0.6


def astronaut() -> np.ndarray:
    path = importlib.resources.files("skimage.data") / "astronaut.png"
    assert path.is_file(), "scikit-image's wheel no longer ships astronaut.png"
    image = cv2.imread(str(path))
    assert image is not None
    return image


@dataclass
class Scene:
    """What the test knows: each frame's face boxes and the tone's samples."""

    root: Path            # an export-like folder: devices/ID/...
    identity: DeviceIdentity
    recording_id: str
    segments: list[Path]
    subject: list[Box]    # the moving face (to be blurred), frame by frame
    requester: list[Box]  # the still face (to be kept sharp)
    frame_count: int
    audio: bool

    @property
    def device_dir(self) -> Path:
        return self.root / "devices" / self.identity.device_id


def _face_box_in_patch() -> Box:
    x, y, w, h = 177 - HEAD[0], 67 - HEAD[1], 93, 93
    return (round(x * SCALE), round(y * SCALE), round(w * SCALE), round(h * SCALE))


def render(index: int, patch: np.ndarray, mirrored: np.ndarray, camera: SimCamera,
           frames: int) -> tuple[np.ndarray, Box, Box]:
    """Frame ``index``: the test pattern, the subject walking left to right, the requester still."""
    img = camera.render(index, index / FPS)
    ph, pw = patch.shape[:2]
    travel = WIDTH // 2 - pw
    sx = 4 + round(travel * index / max(1, frames - 1))
    sy = 20 + round(10 * np.sin(index / 6))
    img[sy:sy + ph, sx:sx + pw] = patch
    rx, ry = WIDTH - pw - 4, 40
    img[ry:ry + ph, rx:rx + pw] = mirrored
    fx, fy, fw, fh = _face_box_in_patch()
    return img, (sx + fx, sy + fy, fw, fh), (rx + pw - fx - fw, ry + fy, fw, fh)


def utc(seconds: float) -> str:
    t = datetime.fromtimestamp(DEFAULT_EPOCH, UTC) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def build_scene(root: Path, seconds: float = 4.0, segments: int = 2, audio: bool = True,
                recording_id: str = "R000001-a1b2c3", identity: DeviceIdentity | None = None
                ) -> Scene:
    device_home = root / "camera"
    device_home.mkdir(parents=True, exist_ok=True)
    identity = identity or create_identity(device_home, "BWV-OPEN-1", "SIM00001")
    device_dir = root / "devices" / identity.device_id
    folder = device_dir / "recordings" / recording_id
    folder.mkdir(parents=True, exist_ok=True)
    (device_dir / "device.pub.pem").write_bytes(public_pem(identity.public_key))
    head = astronaut()[HEAD[1]:HEAD[1] + HEAD[3], HEAD[0]:HEAD[0] + HEAD[2]]
    patch = cv2.resize(head, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    mirrored = cv2.flip(patch, 1)
    camera = SimCamera(SimClock(), WIDTH, HEIGHT, FPS, PixelFormat.BGR)  # a BGR scene to paste into
    total = round(seconds * FPS)
    per = total // segments
    subject: list[Box] = []
    requester: list[Box] = []
    paths, prev = [], None
    for s in range(segments):
        count = per if s < segments - 1 else total - per * (segments - 1)
        first = s * per
        mp4 = folder / f"{recording_id}-S{s:04d}.mp4"
        with av.open(str(mp4), "w", format="mp4", options=MP4_OPTIONS) as out:
            video = out.add_stream("libx264", rate=FPS)
            video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            video.options = {"preset": "ultrafast", "crf": "18"}
            sound = None
            if audio:
                sound = out.add_stream("aac", rate=RATE, layout="mono")
            for i in range(first, first + count):
                img, sbox, rbox = render(i, patch, mirrored, camera, total)
                subject.append(sbox)
                requester.append(rbox)
                frame = av.VideoFrame.from_ndarray(img, format="bgr24")
                frame.pts = i - first
                frame.time_base = Fraction(1, FPS)
                out.mux(video.encode(frame))
            out.mux(video.encode())
            if sound is not None:
                n = round(count / FPS * RATE)
                t = (np.arange(n) + first / FPS * RATE) / RATE
                tone = (0.5 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
                for k in range(0, n, 1024):
                    chunk = tone[k:k + 1024]
                    af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                    af.sample_rate, af.pts, af.time_base = RATE, k, Fraction(1, RATE)
                    out.mux(sound.encode(af))
                out.mux(sound.encode())
        digest, size = sha256_file(mp4)
        manifest = Manifest(
            device_id=identity.device_id, model="BWV-OPEN-1", serial="SIM00001",
            recording_id=recording_id, segment_index=s, file=mp4.name, sha256=digest,
            size=size, start_utc=utc(first / FPS), end_utc=utc((first + count) / FPS),
            duration_s=count / FPS, frame_count=count, codec="h264", width=WIDTH,
            height=HEIGHT, fps=float(FPS), prev_manifest_sha256=prev,
            last=s == segments - 1)
        prev = write_signed_manifest(identity, mp4, manifest)
        paths.append(mp4)
    return Scene(root, identity, recording_id, paths, subject, requester, total, audio)
