"""The serial console's line protocol (docs/SERIAL.md): lines in, control requests out, and the
answer and event lines back. Pure functions, so the grammar is tested without a port.

A request line is ``[#ID] COMMAND [ARG...]``; it becomes the same request dictionary the control
socket takes, so :class:`device.control.Controller` is the one implementation of every command.
Answers are ``ok [#ID] {json}`` or ``error [#ID] reason``; events are
``event SEQ T KIND {json}``. Output is ASCII, one line each, ended by CR LF.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.bus import Published
from evidence.messages import show

#: Longer lines are refused (with one error) and skipped up to their end.
MAX_LINE = 1024
#: Error reasons are cut to this, so a line stays readable on an 80-column terminal or two.
MAX_REASON = 240
EOL = b"\r\n"
_ID = re.compile(r"#[A-Za-z0-9_.:-]{1,32}")


class BadLine(Exception):
    """A line the console cannot act on; the message is the answer's one-line reason."""

    def __init__(self, reason: str, rid: str | None = None) -> None:
        super().__init__(reason)
        self.rid = rid


Builder = Callable[[list[str], str], dict[str, Any]]


@dataclass(frozen=True)
class Command:
    usage: str
    cmd: str  # the control request it becomes
    build: Builder


def _number(name: str, what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadLine(f"{name}: {what} must be a number, got {_show(text)}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadLine(f"{name}: {what} must be a finite number, got {_show(text)}")
    return value


def _whole(name: str, what: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise BadLine(f"{name}: {what} must be a whole number >= 0, got {_show(text)}")
    return int(text)


def _press(kind: str) -> Builder:
    def build(args: list[str], rest: str) -> dict[str, Any]:
        request: dict[str, Any] = {"cmd": "press", "button": args[0], "gesture": kind}
        if len(args) > 1:
            request["seconds"] = _number(kind, "SECONDS", args[1])
        return request
    return build


def _plain(cmd: str) -> Builder:
    return lambda args, rest: {"cmd": cmd}


def _one(cmd: str, key: str, convert: Callable[[str], Any] = str) -> Builder:
    return lambda args, rest: {"cmd": cmd, key: convert(args[0])}


def _storage(args: list[str], rest: str) -> dict[str, Any]:
    free = None if args[0] == "real" else _number("storage", "FREE_MB", args[0])
    return {"cmd": "storage", "free_mb": free}


def _microphone(args: list[str], rest: str) -> dict[str, Any]:
    request: dict[str, Any] = {"cmd": "microphone", "action": args[0]}
    if len(args) > 1:
        request["seconds"] = _number("microphone", "SECONDS", args[1])
    return request


def _events(args: list[str], rest: str) -> dict[str, Any]:
    return {"cmd": "events", "since": _whole("events", "SINCE", args[0]) if args else 0}


#: name -> (usage, control request, builder). ``help`` lists those this camera has.
COMMANDS: dict[str, Command] = {
    "status": Command("status", "status", _plain("status")),
    "version": Command("version", "version", _plain("version")),
    "press": Command("press BUTTON", "press", _press("press")),
    "double": Command("double BUTTON", "press", _press("double")),
    "hold": Command("hold BUTTON [SECONDS]", "press", _press("hold")),
    "marker": Command("marker [NOTE...]", "marker",
                      lambda args, rest: {"cmd": "marker", "note": rest}),
    "trigger": Command("trigger NAME", "trigger", _one("trigger", "name")),
    "events": Command("events [SINCE]", "events", _events),
    "shutdown": Command("shutdown", "shutdown", _plain("shutdown")),
    # simulator inputs
    "advance": Command("advance SECONDS", "advance",
                       _one("advance", "seconds", lambda t: _number("advance", "SECONDS", t))),
    "dock": Command("dock", "dock", _plain("dock")),
    "undock": Command("undock", "undock", _plain("undock")),
    "battery": Command("battery PERCENT", "battery",
                       _one("battery", "percent", lambda t: _number("battery", "PERCENT", t))),
    "storage": Command("storage FREE_MB|real", "storage", _storage),
    "camera": Command("camera unplug|replug", "camera", _one("camera", "action")),
    "microphone": Command("microphone speak|unplug|replug [SECONDS]", "microphone", _microphone),
    "button": Command("button BUTTON down|up", "button",
                      lambda args, rest: {"cmd": "button", "button": args[0],
                                          "action": args[1]}),
}


def _arity(usage: str) -> tuple[int, int]:
    """(least, most) arguments a usage line takes; ``...`` means any number."""
    words = usage.split()[1:]
    if any(w.endswith("...]") for w in words):
        return 0, 10**6
    return sum(not w.startswith("[") for w in words), len(words)


def decode(raw: bytes) -> str:
    """The text of one line (without its end), or :class:`BadLine` saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                      f"{exc.start})") from None
    for i, ch in enumerate(text):
        if (ch < " " and ch != "\t") or ch == "\x7f":
            raise BadLine(f"line contains control character 0x{ord(ch):02x} at offset {i}")
    return text


def needs_answer(raw: bytes | None) -> bool:
    """False for a blank line, and for an answer or event line come back (a loopback) or from
    another console (two cameras wired together): never answered, so they cannot ping-pong.
    A line too long to read (None) is answered."""
    if raw is None:
        return True
    words = raw.split(None, 1)
    return bool(words) and words[0] not in (b"ok", b"error", b"event")


def parse(text: str, available: set[str]) -> tuple[str | None, str, dict[str, Any]]:
    """(request id, command name, control request) for one line of text.

    ``available`` holds the control commands this camera has; a console command that needs
    another (``dock`` on a board) is refused by name.
    """
    words = text.split()
    rid = None
    if words and words[0].startswith("#"):
        if not _ID.fullmatch(words[0]):
            raise BadLine(f"request id {_show(words[0])} must be # and 1-32 letters, digits "
                          f"or _.:-")
        rid = words.pop(0)
    if not words:
        raise BadLine("no command after the request id", rid)
    name, args = words[0], words[1:]
    if name == "help":
        return rid, name, {"cmd": "help"}
    command = COMMANDS.get(name)
    if command is None or command.cmd not in available:
        known = ", ".join(help_names(available))
        what = "not available on this camera" if command else "unknown command"
        raise BadLine(f"{what}: {_show(name)} (commands: {known})", rid)
    least, most = _arity(command.usage)
    if not least <= len(args) <= most:
        raise BadLine(f"{name} takes {least if least == most else f'{least}-{most}'} "
                      f"argument(s), got {len(args)} (usage: {command.usage})", rid)
    body = text.strip()[len(rid or ""):].lstrip()
    try:
        request = command.build(args, body[len(name):].strip())
    except BadLine as exc:
        raise BadLine(str(exc), rid) from None
    return rid, name, request


def help_names(available: set[str]) -> list[str]:
    return ["help", *(n for n, c in COMMANDS.items() if c.cmd in available)]


def usage(available: set[str]) -> list[str]:
    return ["help", *(c.usage for c in COMMANDS.values() if c.cmd in available)]


def _show(text: str, limit: int = 44) -> str:
    """A piece of the client's input, quoted and cut short, for an error message."""
    return show(text, limit=limit)


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=True, default=str)


def ok(rid: str | None, payload: dict[str, Any]) -> bytes:
    return f"ok{' ' + rid if rid else ''} {_json(payload)}".encode() + EOL


def error(rid: str | None, reason: str) -> bytes:
    one_line = " ".join(reason.split())
    if len(one_line) > MAX_REASON:
        one_line = one_line[:MAX_REASON - 3] + "..."
    text = f"error{' ' + rid if rid else ''} {one_line or 'failed'}"
    return text.encode("ascii", "backslashreplace") + EOL


def event(published: Published) -> bytes:
    return (f"event {published.seq} {published.t:.3f} {published.kind} "
            f"{_json(published.data)}").encode() + EOL


class LineSplitter:
    """Bytes in, complete lines out: CR, LF or CR LF end a line (``newline_only``: LF alone,
    for JSON lines); blank lines are dropped unless ``keep_blank``; a line over ``limit`` comes
    out once as ``None`` (refused) and is skipped to its end."""

    def __init__(self, limit: int = MAX_LINE, newline_only: bool = False,
                 keep_blank: bool = False) -> None:
        self.limit = limit
        self._ends = re.compile(rb"(\n)" if newline_only else rb"(\r|\n)")
        self._keep_blank = keep_blank
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        lines: list[bytes | None] = []
        for piece in self._ends.split(data):
            if piece in (b"\r", b"\n"):
                if not self._skipping and (self._buf or self._keep_blank):
                    lines.append(bytes(self._buf))
                self._buf.clear()
                self._skipping = False
            elif piece and not self._skipping:
                self._buf += piece
                if len(self._buf) > self.limit:
                    self._buf.clear()
                    self._skipping = True
                    lines.append(None)
        return lines

    def rest(self) -> bytes:
        """The unfinished line when input ends (empty if none): a client that closes after its
        last request without a newline is still answered."""
        rest, self._skipping = bytes(self._buf), False
        self._buf.clear()
        return rest
