"""Faces made unrecognisable: the box (widened by a margin) pixelated to a coarse mosaic and
then blurred, so neither a person nor the face detector finds a face in it any more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from store.redaction.detector import Box


@dataclass(frozen=True)
class Pixelate:
    cells: int = 5          # mosaic cells across the longer side of the box
    margin: float = 0.25    # the box widened by this fraction of its size on every side

    def describe(self) -> dict[str, Any]:
        return {"kind": "pixelate-then-blur", "cells": self.cells, "margin": self.margin}

    def grow(self, box: Box, width: int, height: int) -> Box:
        """The box with its margin, clipped to the picture."""
        x, y, w, h = box
        mx, my = round(w * self.margin), round(h * self.margin)
        x0, y0 = max(0, x - mx), max(0, y - my)
        x1, y1 = min(width, x + w + mx), min(height, y + h + my)
        return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def apply(self, image: np.ndarray, box: Box) -> None:
        """Redact ``box`` (already grown) of ``image`` in place."""
        x, y, w, h = box
        if w < 2 or h < 2:
            return
        roi = image[y:y + h, x:x + w]
        side = max(w, h)
        cw, ch = max(1, round(self.cells * w / side)), max(1, round(self.cells * h / side))
        small = cv2.resize(roi, (cw, ch), interpolation=cv2.INTER_AREA)
        mosaic = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        k = max(3, (side // self.cells) | 1)
        image[y:y + h, x:x + w] = cv2.GaussianBlur(mosaic, (k, k), 0)
