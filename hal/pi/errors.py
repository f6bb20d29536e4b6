"""The one error type the Pi backend raises when the board cannot be brought up."""

from __future__ import annotations

from hal.backend import BackendError


class PiSetupError(BackendError):
    """The board, a pin, the camera or the encoder is unusable; the message is one line that
    names the configuration key or device at fault and what would fix it."""
