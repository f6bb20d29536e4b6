"""The simulator's terminal panel: the camera's LED, mode and tones live; keys press buttons.

A terminal has no key-up events, so each key performs a whole gesture on the simulated button
(the same edges a finger would make, scheduled on the clock).
"""

from __future__ import annotations

import collections
import logging
import os
import select
import sys
import termios
import threading
import tty
from typing import TYPE_CHECKING

from device.gestures import hold_seconds
from sim.app import describe

if TYPE_CHECKING:
    from sim.simulator import Simulator

KEYS: dict[str, tuple[str, str, str]] = {
    # key: (button, gesture, what it does by default)
    "r": ("record", "double", "double-press RECORD: start recording"),
    "s": ("record", "hold", "hold RECORD 3 s: stop recording"),
    "m": ("function", "press", "press FUNCTION: marker"),
    "u": ("function", "hold", "hold FUNCTION 3 s: mute"),
    "t": ("program", "hold", "hold PROGRAM 3 s: stealth"),
    "p": ("power", "hold", "hold POWER 3 s: power off"),
    "o": ("power", "press", "press POWER: power on"),
}
OTHER_KEYS = {"d": "dock / undock", "h": "holster trigger", "q": "quit"}
ANSI = {"red": "\x1b[1;31m", "green": "\x1b[1;32m", "blue": "\x1b[1;34m", "amber": "\x1b[1;33m"}
RESET, CLEAR = "\x1b[0m", "\x1b[H\x1b[2J"


class _PanelLog(logging.Handler):
    def __init__(self, lines: collections.deque[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Panel:
    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=14)
        self._lock = threading.Lock()

    def listener(self, kind: str, value: object) -> None:
        if kind != "led":  # the LED is drawn live; log the sounds
            with self._lock:
                self.lines.append(f"            {describe(kind, value)}")

    def log_handler(self) -> logging.Handler:
        return _PanelLog(self.lines)

    def draw(self, sim: Simulator) -> str:
        status = sim.daemon.status()
        lit = sim.led.lit_at()
        led = f"{ANSI.get(lit, '')}●{RESET}" if lit else "○"
        rec = status.recording
        rec_text = f"{rec.id} {rec.seconds:.1f} s" if rec else "-"
        flags = ", ".join(status.flags_up) or "-"
        out = [CLEAR + "bodycam simulator   (see README for the command line)", "",
               f"   {led}  {status.led.describe():<34} mode: {status.mode.upper()}",
               f"   recording: {rec_text}"
               f"   pre-event buffered: {status.buffered_s:.1f} s   flags: {flags}",
               f"   battery {status.battery_percent:.0f} %   storage "
               f"{status.storage_free_bytes / 2**30:.1f} GiB free   frames "
               f"{status.frames_captured} ({status.frames_dropped} dropped)", ""]
        out += [f"   [{k}] {desc}" for k, (_, _, desc) in KEYS.items()]
        out += ["   " + "   ".join(f"[{k}] {desc}" for k, desc in OTHER_KEYS.items())]
        out += ["", "events:"]
        with self._lock:
            out += list(self.lines)
        return "\r\n".join(out) + "\r\n"

    def key(self, sim: Simulator, key: str) -> None:
        """What a key does: a whole gesture on a simulated button, the dock, a trigger."""
        if key == "q":
            sim.daemon.post("shutdown", reason="simulator quit")
        elif key == "d":
            sim.dock.undock() if sim.dock.is_docked else sim.dock.dock()
        elif key == "h":
            sim.daemon.post("trigger", name="holster")
        elif key in KEYS:
            button, gesture, _ = KEYS[key]
            target = sim.button(button)
            if gesture == "double":
                target.double_press()
            elif gesture == "hold":
                target.hold(hold_seconds(sim.daemon.config.gestures))
            else:
                target.press()

    def run(self, sim: Simulator) -> None:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        try:
            while not sim.daemon.exit_requested.is_set():
                sys.stdout.write(self.draw(sim))
                sys.stdout.flush()
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                self.key(sim, os.read(fd, 1).decode(errors="ignore"))
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            sys.stdout.write(self.draw(sim))


__all__ = ["Panel", "describe"]
