"""The systemd notify protocol (``Type=notify``), spoken directly: no extra dependency.

systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket) and, with
``WatchdogSec=``, ``WATCHDOG_USEC``. We send newline-separated ``KEY=value`` datagrams:
``READY=1`` once the camera has booted, ``STATUS=`` lines for ``systemctl status``,
``WATCHDOG=1`` at half the watchdog period while the daemon's event loop answers, and
``STOPPING=1`` on the way out. Without ``NOTIFY_SOCKET`` every call is a no-op, so the same
daemon runs by hand, in tests and under systemd.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends notify datagrams to ``NOTIFY_SOCKET`` from ``environ`` (default ``os.environ``)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_period = _watchdog_period(env)
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields as one datagram; False (and a warning, once) on failure."""
        if self.address is None or not fields:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("systemd notify socket %r: %s", self.address, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))


def _address(value: str) -> str | None:
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    if value:
        log.warning("NOTIFY_SOCKET %r is neither a path nor @abstract; not notifying", value)
    return None


def _watchdog_period(env: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC``, in seconds, when the watchdog is meant for this process."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2 / 1e6


class Heartbeat:
    """Pings the watchdog while ``alive()`` says the daemon works, and keeps STATUS current.

    ``alive`` may block: a daemon that is stuck stops the pings and systemd restarts it, which
    is the point. :meth:`step` does one round, so a test drives it without the thread.
    """

    #: How often STATUS is refreshed when there is no watchdog.
    STATUS_PERIOD_S = 5.0

    def __init__(self, notifier: Notifier, alive: Callable[[], bool],
                 status: Callable[[], str]) -> None:
        self.notifier = notifier
        self.alive = alive
        self.describe = status
        self.period = notifier.watchdog_period or self.STATUS_PERIOD_S
        self._last_status: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        """One round: STATUS if it changed, WATCHDOG=1 if alive. True when a ping went out."""
        if not self.alive():
            return False
        text = self.describe()
        fields = [] if text == self._last_status else [f"STATUS={text}"]
        self._last_status = text
        if self.notifier.watchdog_period is not None:
            fields.append("WATCHDOG=1")
        return bool(fields) and self.notifier.send(*fields) and "WATCHDOG=1" in fields

    def start(self) -> None:
        if not self.notifier.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.step()
