"""The firmware's side of the encoder: its settings from the configuration.

The encoder itself comes from the hardware bundle (``Hardware.encoder``, ``hal/encoder.py``).
"""

from __future__ import annotations

from device.config import Config
from hal.encoder import EncoderSettings


def encoder_settings(config: Config) -> EncoderSettings:
    """``[camera]`` and ``[encoder]`` as the encoder takes them (the GOP in frames)."""
    cam, enc = config.camera, config.encoder
    return EncoderSettings(width=cam.width, height=cam.height, fps=cam.fps, codec=enc.codec,
                           preset=enc.preset, crf=enc.crf, bitrate_kbps=enc.bitrate_kbps,
                           gop=max(1, round(enc.keyframe_interval_s * cam.fps)))
