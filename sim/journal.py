"""What the simulated camera showed and did, numbered, so a viewer can ask "what since N?".

The browser panel lives in another process; it long-polls the control command ``events`` with
the last number it has and gets everything after it the moment there is something (or, after a
short wait, nothing and a fresh status). Entries: ``led`` (the pattern, from when it runs),
``tones``, ``vibration`` and ``note`` (the daemon's log: mode changes, gestures, segments).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from typing import Any

from hal.clock import Clock
from hal.indicators import LedState, Pulse, Tone

#: Entries kept; a viewer further behind than this gets ``missed`` and starts afresh.
KEEP = 500


def as_data(kind: str, value: object) -> dict[str, Any]:
    """A device output as plain JSON-able data."""
    if isinstance(value, LedState):
        return {"led": value.as_dict()}
    if kind == "tones" and isinstance(value, tuple):
        return {"tones": [{"hz": t.hz, "seconds": t.seconds} for t in value
                          if isinstance(t, Tone)]}
    if kind == "vibration" and isinstance(value, tuple):
        return {"pulses": [{"on_s": p.on_s, "off_s": p.off_s} for p in value
                           if isinstance(p, Pulse)]}
    return {"text": str(value)}


class Journal:
    """A bounded, numbered log any thread appends to and any thread may wait on."""

    def __init__(self, clock: Clock, keep: int = KEEP) -> None:
        self.clock = clock
        #: Changes with every process: a viewer whose number came from another boot restarts.
        self.boot = secrets.token_hex(4)
        self.seq = 0
        self._entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self._cond = threading.Condition()

    def listener(self, kind: str, value: object) -> None:
        """For the simulated devices' ``listener`` hook."""
        self.add(kind, **as_data(kind, value))

    def add(self, kind: str, **data: Any) -> None:
        with self._cond:
            self.seq += 1
            self._entries.append({"seq": self.seq, "t": self.clock.monotonic(), "kind": kind,
                                  **data})
            self._cond.notify_all()

    def since(self, seq: int, wait: float = 0.0) -> tuple[list[dict[str, Any]], bool]:
        """Entries after ``seq``, waiting up to ``wait`` seconds for one; and whether some
        were lost (``seq`` is older than what is kept, or from another boot)."""
        with self._cond:
            if seq > self.seq:  # a number from another boot
                seq = 0
            self._cond.wait_for(lambda: self.seq > seq, timeout=wait)
            missed = bool(self._entries) and self._entries[0]["seq"] > seq + 1
            return [e for e in self._entries if e["seq"] > seq], missed


class JournalHandler(logging.Handler):
    """Puts the daemon's log lines (``bodycam`` logger) into the journal as notes."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(logging.INFO)
        self.journal = journal

    def emit(self, record: logging.LogRecord) -> None:
        self.journal.add("note", text=record.getMessage(), level=record.levelname.lower())
