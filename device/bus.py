"""What the camera did, published to whoever listens: the serial console, tests, the sim panel.

The daemon publishes every audited event (mode, gesture, flag, marker, trigger, segment, fault,
...), what it told the LED, buzzer and vibration motor, and its notes (``note``: the one-line log
of what it did and why), so every backend reports the same stream; a backend's own listeners
would report only what that backend happens to log.

Publishers never wait for a subscriber: a callback runs on the publisher's thread, under the
bus lock (so every subscriber sees events in ``seq`` order), and must only hand the event on,
for example to a queue. The last ``keep`` events stay readable through :meth:`EventBus.recent`,
so a console that attaches after boot can still see how the boot went.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("bodycam")


@dataclass(frozen=True, slots=True)
class Published:
    """One event: ``seq`` counts from 1 per boot of the process, ``t`` is device monotonic."""

    seq: int
    t: float
    kind: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "t": round(self.t, 3), "kind": self.kind, "data": self.data}


Subscriber = Callable[[Published], None]


class EventBus:
    def __init__(self, now: Callable[[], float], keep: int = 200) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._published = threading.Condition(self._lock)
        #: Changes with every process: a viewer holding a seq from another boot starts afresh.
        self.boot = secrets.token_hex(4)
        self._subscribers: list[Subscriber] = []
        self._recent: deque[Published] = deque(maxlen=keep)
        self._seq = 0

    def publish(self, kind: str, data: dict[str, Any]) -> Published:
        with self._lock:
            self._seq += 1
            event = Published(self._seq, self._now(), kind, data)
            self._recent.append(event)
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception:  # a broken listener must not stop the camera
                    log.exception("event subscriber failed on %s", kind)
            self._published.notify_all()
        return event

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Start delivering to ``subscriber``; returns the function that stops it."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)
        return unsubscribe

    def recent(self, since: int = 0) -> list[Published]:
        """Kept events with ``seq`` greater than ``since``, oldest first."""
        with self._lock:
            return [e for e in self._recent if e.seq > since]

    @property
    def seq(self) -> int:
        """The newest event's ``seq`` (0 before the first)."""
        with self._lock:
            return self._seq

    def wait(self, since: int, timeout: float) -> tuple[list[Published], bool]:
        """Kept events after ``since``, waiting up to ``timeout`` s for one; and whether some
        were lost (``since`` is older than what is kept, or from another boot)."""
        with self._published:
            if since > self._seq:  # a number from another boot
                since = 0
            self._published.wait_for(lambda: self._seq > since, timeout=timeout)
            missed = bool(self._recent) and self._recent[0].seq > since + 1
            return [e for e in self._recent if e.seq > since], missed
