"""The automatic face pass: OpenCV's Haar cascades, shipped inside the opencv-python wheel.

No model is downloaded at run time: the cascade files come with ``opencv-python-headless`` 4.x
(``cv2.data.haarcascades``); 5.0 ships none, so a missing file is a one-line error naming the
package that brings it. The frontal cascade finds faces looking at the camera, the profile one
(run on the picture and its mirror image) faces turned to either side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from store.redaction import RedactionError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"


def cascade_dir() -> Path:
    data = getattr(cv2, "data", None)
    return Path(getattr(data, "haarcascades", "") or "")


def load_cascade(name: str, folder: Path | None = None) -> tuple[cv2.CascadeClassifier, str]:
    """A cascade and the SHA-256 of its file (recorded in the derivation manifest)."""
    path = (folder if folder is not None else cascade_dir()) / name
    if not path.is_file():
        raise RedactionError(
            f"face cascade {name} not found in {path.parent} (OpenCV {cv2.__version__}): "
            "it ships with opencv-python-headless 4.x (requirements.lock pins 4.11)")
    try:
        cascade = cv2.CascadeClassifier(str(path))
    except (cv2.error, SystemError):  # a file OpenCV's XML reader chokes on
        cascade = None
    if cascade is None or cascade.empty():
        raise RedactionError(f"face cascade {path} is not a readable OpenCV cascade")
    return cascade, hashlib.sha256(path.read_bytes()).hexdigest()


def iou(a: Box | tuple[float, ...], b: Box | tuple[float, ...]) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class FaceDetector:
    """Finds faces in a BGR picture; the settings are recorded with every redaction."""

    scale_factor: float = 1.1
    min_neighbors: int = 4
    min_size: int = 20
    profile: bool = True
    #: wider pictures are searched scaled down to this width (boxes scaled back): a face small
    #: enough to vanish then is a few pixels wide in the copy too; the reviewer adds it by hand
    max_width: int = 640
    folder: Path | None = None

    def __post_init__(self) -> None:
        self._frontal, frontal_sha = load_cascade(FRONTAL, self.folder)
        self.cascades = {FRONTAL: frontal_sha}
        self._profile = None
        if self.profile:
            self._profile, self.cascades[PROFILE] = load_cascade(PROFILE, self.folder)

    def describe(self) -> dict[str, Any]:
        return {"kind": "opencv-haar-cascade", "opencv_version": cv2.__version__,
                "cascades_sha256": dict(self.cascades), "scale_factor": self.scale_factor,
                "min_neighbors": self.min_neighbors, "min_size_px": self.min_size,
                "profile_mirrored": self.profile, "searched_width_px": self.max_width}

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes, overlapping finds of the cascades merged into one."""
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = 1.0
        if gray.shape[1] > self.max_width:
            scale = gray.shape[1] / self.max_width
            gray = cv2.resize(gray, (self.max_width, round(gray.shape[0] / scale)),
                              interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        width = gray.shape[1]
        found = list(self._run(self._frontal, gray))
        if self._profile is not None:
            found += self._run(self._profile, gray)
            found += [(width - x - w, y, w, h)
                      for x, y, w, h in self._run(self._profile, cv2.flip(gray, 1))]
        return [tuple(round(v * scale) for v in box)  # type: ignore[misc]
                for box in merge(found)]

    def _run(self, cascade: cv2.CascadeClassifier, gray: np.ndarray) -> list[Box]:
        boxes = cascade.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                         minNeighbors=self.min_neighbors,
                                         minSize=(self.min_size, self.min_size))
        return [tuple(int(v) for v in box) for box in boxes]  # type: ignore[misc]


def merge(boxes: list[Box], threshold: float = 0.3) -> list[Box]:
    """One box per face: the union of boxes that overlap (the largest first)."""
    out: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        for i, kept in enumerate(out):
            if iou(box, kept) >= threshold or _inside(box, kept):
                x0, y0 = min(box[0], kept[0]), min(box[1], kept[1])
                x1 = max(box[0] + box[2], kept[0] + kept[2])
                y1 = max(box[1] + box[3], kept[1] + kept[3])
                out[i] = (x0, y0, x1 - x0, y1 - y0)
                break
        else:
            out.append(box)
    return out


def _inside(a: Box, b: Box) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]
