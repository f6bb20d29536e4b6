"""The preview output: the newest watermarked frame, for a viewer (the simulator's preview) to
copy and encode at its own pace on its own thread. Publishing a reference costs the encoder
thread nothing. A frame is final once published; nobody may modify its image."""

from __future__ import annotations

from hal.camera import Frame


class PreviewOutput:
    """Takes frames, not packets: what a viewer shows is the picture before encoding."""

    def __init__(self) -> None:
        self.latest: Frame | None = None
        self.running = False

    def start(self) -> None:
        self.running = True

    def frame(self, frame: Frame) -> None:
        if self.running:
            self.latest = frame

    def stop(self) -> None:
        self.running = False
