"""The preview for the page: the daemon's newest frame, fetched a few times a second.

One loop fetches for every viewer, and only while somebody is watching; the daemon answers
"unchanged" without encoding when no new frame came (a stopped camera, a virtual clock at rest).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

from device.control import ControlError
from sim.web.supervisor import DaemonProcess

#: Frames per second the page gets at most: a view, not the recording (which runs at full rate).
PREVIEW_FPS = 5.0


class PreviewPump:
    def __init__(self, daemon: DaemonProcess, fps: float = PREVIEW_FPS) -> None:
        self.daemon = daemon
        self.interval = 1.0 / fps
        self.jpeg: bytes | None = None
        self.count = 0  # frames fetched so far: a viewer waits for it to move
        self._key: str | None = None
        self._viewers = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="preview", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._viewers > 0 or self._closed)
                if self._closed:
                    return
            self._fetch()
            with self._cond:  # the frame rate limit; close() cuts it short
                self._cond.wait_for(lambda: self._closed, timeout=self.interval)

    def _fetch(self) -> None:
        try:
            reply = self.daemon.request({"cmd": "preview", "after": self._key}, timeout=10)
        except ControlError:
            return  # no daemon right now: the page shows the camera dark anyway
        if reply.get("jpeg"):
            jpeg = base64.b64decode(reply["jpeg"])
            with self._cond:
                self._key, self.jpeg = reply["frame"], jpeg
                self.count += 1
                self._cond.notify_all()

    def frames(self, keepalive_s: float = 10.0) -> Iterator[bytes]:
        """Each new frame as it comes (the newest at once); the last one again every
        ``keepalive_s`` while nothing changes, so a dead connection is noticed."""
        with self._cond:
            self._viewers += 1
            self._cond.notify_all()
        try:
            seen = -1
            while True:
                with self._cond:
                    self._cond.wait_for(lambda seen=seen: self._closed or (  # type: ignore[misc]
                        self.jpeg is not None and self.count != seen), timeout=keepalive_s)
                    if self._closed:
                        return
                    jpeg, seen = self.jpeg, self.count
                if jpeg is not None:
                    yield jpeg
        finally:
            with self._cond:
                self._viewers -= 1
