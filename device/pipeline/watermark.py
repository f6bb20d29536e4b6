"""The burned-in watermark every frame carries: UTC time (ISO-8601, Z), model and serial (and
the last position, when ``location.watermark`` is on).

When the clock has not been set the line says so in capitals, because a wrong date on evidence
must be visible in the picture itself.

An I420 frame (the sensor's format, ``hal/camera.py`` ``PixelFormat``) gets it on its luma
plane, the text white (Y 235) on the band darkened as the BGR one is (a third of its light, a
third of its colour): what a viewer sees is the same, and no frame is converted to draw it.
"""

from __future__ import annotations

import cv2
import numpy as np

from evidence.utc import utc_iso
from hal.camera import PixelFormat, i420_planes

#: BT.601 limited range: black and white luma, neutral chroma
Y_BLACK, Y_WHITE, NEUTRAL = 16, 235, 128


class Watermark:
    def __init__(self, model: str, serial: str, height: int) -> None:
        self.label = f"{model} {serial}"
        self.scale = max(0.4, height / 1080 * 0.9)
        self.thickness = max(1, round(self.scale * 2))
        (_, text_h), baseline = cv2.getTextSize("0Z", cv2.FONT_HERSHEY_SIMPLEX, self.scale,
                                                self.thickness)
        self.line_h = text_h + baseline + 6
        #: The last position (``51.50100,-0.12480``) when ``location.watermark`` is on; the
        #: daemon's thread sets it, the encoder's reads it (one reference: no lock needed).
        self.position: str | None = None

    def text(self, wall: float, clock_set: bool) -> str:
        """The line burned into a frame captured at ``wall``."""
        text = f"{utc_iso(wall)}  {self.label}"
        if not clock_set:
            text += "  CLOCK NOT SET"
        position = self.position
        if position is not None:
            text += f"  {position}"
        return text

    def band_top(self, height: int) -> int:
        """The first row of the dark band the text sits on."""
        return max(0, height - self.line_h - 4)

    def apply(self, image: np.ndarray, wall: float, clock_set: bool,
              pixel_format: PixelFormat | None = None) -> None:
        """Draw the watermark in place, on a dark band at the bottom for legibility;
        ``pixel_format`` (else told by the image's shape) says how ``image`` is laid out."""
        text = self.text(wall, clock_set)
        pixel_format = pixel_format or PixelFormat.of(image)
        _, h = pixel_format.size(image)
        top = self.band_top(h)
        origin = (8, h - 8 - (self.line_h - 6) // 4)
        if pixel_format is PixelFormat.BGR:
            band = image[top:h]
            band //= 3  # darken in place: cheaper than a blended overlay
            cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, self.scale,
                        (255, 255, 255), self.thickness, cv2.LINE_AA)
            return
        y, u, v = i420_planes(image)
        # BGR's c // 3, in Y'CbCr: a third of the light above black, a third of the colour
        _darken(y[top:], 1 / 3, Y_BLACK * 2 / 3)
        for chroma in (u[top // 2:], v[top // 2:]):
            _darken(chroma, 1 / 3, NEUTRAL * 2 / 3)
        cv2.putText(y, text, origin, cv2.FONT_HERSHEY_SIMPLEX, self.scale, Y_WHITE,
                    self.thickness, cv2.LINE_AA)


def _darken(plane: np.ndarray, alpha: float, beta: float) -> None:
    """``plane = plane * alpha + beta`` in place, saturated (OpenCV: one pass, no temporary
    of the whole band)."""
    cv2.convertScaleAbs(plane, plane, alpha, beta)
