"""The test side of the serial console (docs/SERIAL.md): pyserial, one request at a time.

Answers are matched to requests by id; every event line read on the way is kept in
:attr:`Console.events`, so a test asks what happened since a :meth:`Console.mark`. Reads block
with a timeout (the board's clock is real); nothing here sleeps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import serial


@dataclass(frozen=True)
class Event:
    seq: int
    t: float
    kind: str
    data: dict[str, Any]

    def matches(self, kind: str, **want: Any) -> bool:
        return self.kind == kind and all(self.data.get(k) == v for k, v in want.items())

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Event:
        return Event(d["seq"], d["t"], d["kind"], d["data"])


class Refused(AssertionError):
    """The device answered ``error``; the message is its reason."""


class Console:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self.port = serial.serial_for_url(url, timeout=timeout)
        self.events: list[Event] = []
        self._next_id = 0
        self._partial = b""

    def close(self) -> None:
        self.port.close()

    # -- lines -----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def discard_input(self) -> None:
        """Drop what has arrived and not been read (a board's boot noise, half lines)."""
        self.port.reset_input_buffer()
        self._partial = b""

    def read_line(self, timeout: float | None = None) -> str | None:
        """One line (events are filed on the way), or None when ``timeout`` passed."""
        self.port.timeout = self.timeout if timeout is None else max(timeout, 0.001)
        raw = self._partial + self.port.readline()
        if not raw.endswith(b"\n"):  # the timeout fell inside a line: the rest comes next
            self._partial = raw
            return None
        self._partial = b""
        line = raw.decode("ascii").rstrip("\r\n")
        if line.startswith("event "):
            _, seq, t, kind, data = line.split(" ", 4)
            self.events.append(Event(int(seq), float(t), kind, json.loads(data)))
        return line

    def answer(self, timeout: float | None = None) -> str:
        """The next answer line (``ok ...`` or ``error ...``), filing events on the way."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            line = self.read_line(deadline - time.monotonic())
            if line is None:
                raise AssertionError(f"no answer from {self.url} within the timeout")
            if not line.startswith("event "):
                assert line.startswith(("ok", "error")), f"not a console line: {line!r}"
                return line

    # -- requests --------------------------------------------------------------------------
    def request(self, line: str, timeout: float | None = None) -> tuple[bool, Any]:
        """(True, payload) for ``ok``, (False, reason) for ``error``."""
        self._next_id += 1
        rid = f"#{self._next_id}"
        self.write(f"{rid} {line}\n".encode())
        reply = self.answer(timeout)
        word, got, rest = [*reply.split(" ", 2), ""][:3]
        assert got == rid, f"answer {reply!r} does not carry request id {rid}"
        return (True, json.loads(rest)) if word == "ok" else (False, rest)

    def ask(self, line: str, timeout: float | None = None) -> dict[str, Any]:
        ok, payload = self.request(line, timeout)
        if not ok:
            raise Refused(f"{line!r} was refused: {payload}")
        return payload

    def refuse(self, line: str) -> str:
        ok, payload = self.request(line)
        assert not ok, f"{line!r} should have been refused, got ok {payload}"
        return payload

    # -- events ----------------------------------------------------------------------------
    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[Event]:
        return self.events[mark:]
