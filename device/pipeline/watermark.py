"""The burned-in watermark every frame carries: UTC time (ISO-8601, Z), model and serial (and
the last position, when ``location.watermark`` is on).

When the clock has not been set the line says so in capitals, because a wrong date on evidence
must be visible in the picture itself.
"""

from __future__ import annotations

import cv2
import numpy as np

from evidence.utc import utc_iso


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

    def apply(self, image: np.ndarray, wall: float, clock_set: bool) -> None:
        """Draw the watermark in place, on a dark band at the bottom for legibility."""
        text = f"{utc_iso(wall)}  {self.label}"
        if not clock_set:
            text += "  CLOCK NOT SET"
        position = self.position
        if position is not None:
            text += f"  {position}"
        h = image.shape[0]
        top = h - self.line_h - 4
        band = image[top:h]
        band //= 3  # darken in place: cheaper than a blended overlay
        cv2.putText(image, text, (8, h - 8 - (self.line_h - 6) // 4), cv2.FONT_HERSHEY_SIMPLEX,
                    self.scale, (255, 255, 255), self.thickness, cv2.LINE_AA)
