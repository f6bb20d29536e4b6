"""The camera as a HIL test drives it: gestures, the passing of time, and the events they caused.

On a virtual clock (the simulator) time moves only through ``advance``, and the events a command
caused are on the line before its answer, so nothing waits. On a real clock (a board) time is
left to pass while the events are read, each read bounded by a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tests.hil.console import Console, Event

#: After a gesture ends on a virtual clock, time enough for the recogniser to decide (a lone
#: press waits out the double-press window) and the daemon to act.
SETTLE_S = 1.0


class Device:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.info = console.ask("version")
        self.virtual = self.info["clock"] == "virtual"
        self.now = console.ask("advance 0")["monotonic"] if self.virtual else 0.0

    def has(self, command: str) -> bool:
        return command in self.info["commands"]

    # -- shorthands --------------------------------------------------------------------------
    def ask(self, line: str) -> dict[str, Any]:
        return self.console.ask(line)

    def refuse(self, line: str) -> str:
        return self.console.refuse(line)

    def status(self) -> dict[str, Any]:
        return self.ask("status")["status"]

    def mark(self) -> int:
        return self.console.mark()

    def since(self, mark: int) -> list[Event]:
        return self.console.since(mark)

    # -- time and gestures -------------------------------------------------------------------
    def elapse(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass, reading events meanwhile."""
        if self.virtual:
            self.now = self.ask(f"advance {seconds:.3f}")["monotonic"]
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.console.read_line(left)

    def gesture(self, kind: str, button: str, seconds: float | None = None) -> dict[str, Any]:
        """``press``/``double``/``hold`` ``button``, returning once the daemon has acted."""
        line = f"{kind} {button}" + (f" {seconds:g}" if seconds is not None else "")
        reply = self.ask(line)
        if self.virtual:
            self.elapse(reply["pending_until"] - self.now + SETTLE_S)
        return reply

    def wait_for(self, kind: str, after: int, timeout: float = 10.0, **want: Any) -> Event:
        """The first event ``kind`` with data ``want`` since mark ``after``; on a real clock
        read on until ``timeout``."""
        deadline = time.monotonic() + (0 if self.virtual else timeout)
        while True:
            for event in self.since(after):
                if event.matches(kind, **want):
                    return event
            left = deadline - time.monotonic()
            if left <= 0 or self.console.read_line(left) is None:
                seen = [(e.kind, e.data) for e in self.since(after)]
                raise AssertionError(f"no {kind} event with {want} since mark {after}; "
                                     f"saw {seen}")

    # -- state -------------------------------------------------------------------------------
    def ready(self) -> None:
        """Back to buffering with no flags, whatever the last test left (on a board the same
        camera serves every test)."""
        status = self.status()
        assert status["mode"] != "fault", f"the camera is in fault: {status['fault']}"
        if status["docked"] and self.has("undock"):
            self.ask("undock")
        if status["mode"] == "recording":
            self.gesture("hold", "record")
        for flag, button in (("stealth", "program"), ("muted", "function")):
            if status["flags"][flag]:
                self.gesture("hold", button)
        status = self.status()
        assert status["mode"] == "buffering", f"not ready: {status['mode']}"


def in_order(events: Sequence[Event], *steps: tuple[str, dict[str, Any]]) -> list[Event]:
    """The events matching ``steps`` (kind, data subset), each after the previous one; an
    AssertionError naming the first step missing."""
    found: list[Event] = []
    rest = list(events)
    for kind, want in steps:
        for i, event in enumerate(rest):
            if event.matches(kind, **want):
                found.append(event)
                rest = rest[i + 1:]
                break
        else:
            seen = [(e.kind, e.data) for e in events]
            raise AssertionError(f"no {kind} {want} after {[(e.kind) for e in found]}; "
                                 f"events were {seen}")
    return found
