"""Reading evidence that may be hostile: regular files only, never more than a bound, and JSON
with bounded size, depth and numbers.

Evidence files (manifests, signatures, pending records, audit lines, receipts, identity, the
store's settings) are read by the camera at boot and by the verifier. Whoever can write to the
card can put anything in their place: a FIFO (reading blocks forever), a symlink to
``/dev/zero`` (reading never ends), a 150 MB manifest, 100,000 nested arrays (``RecursionError``),
``NaN`` (which :mod:`json` accepts) or a 4,300-digit number. Everything here either returns what
was asked for or raises :class:`Refused` (an :class:`OSError`, for files) or :class:`BadJSON`
(a :class:`ValueError`) with a one-line reason; nothing blocks, recurses or reads without end.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

#: The largest evidence JSON documents (manifest, pending record, receipt, settings): the camera
#: writes a few KiB; anything near this is not the camera's.
MAX_DOCUMENT = 1024 * 1024
#: The longest audit line read as an entry (a recording_closed of a 12 h recording is ~350 KiB).
MAX_LINE = 4 * 1024 * 1024
#: Nesting of arrays and objects: the camera writes 3 levels.
MAX_DEPTH = 32
#: Digits of an integer: sizes, counters and sequence numbers fit in 20.
MAX_INT_DIGITS = 24
#: Lines are read in pieces of this size.
CHUNK = 1024 * 1024


class Refused(OSError):
    """A file that is not read: not a regular file (``code`` ``not_a_file``) or larger than its
    bound (``too_large``). ``strerror`` is the one-line reason."""

    def __init__(self, code: str, path: Path | str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.filename, self.strerror = code, str(path), reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class BadJSON(ValueError):
    """Bytes that are not evidence JSON within the bounds; the message says what and where."""


def kind_of(mode: int) -> str:
    """What a file is, in words, from its ``st_mode``."""
    for test, name in ((stat.S_ISLNK, "a symlink"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def not_regular(path: Path) -> str | None:
    """Why ``path`` (not followed if a symlink) is not a regular file, or None if it is.
    Raises FileNotFoundError (an OSError) if there is nothing there."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    what = kind_of(mode)
    if stat.S_ISLNK(mode):
        what += f" (to {os.readlink(path)})"
    return f"{what}, not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, never following a final symlink and never blocking on
    a FIFO; anything else raises :class:`Refused` (``not_a_file``)."""
    why = not_regular(path)
    if why is not None:
        raise Refused("not_a_file", path, why)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: it became a symlink since lstat
            raise Refused("not_a_file", path, "a symlink, not a regular file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # swapped since lstat
        os.close(fd)
        raise Refused("not_a_file", path, f"{kind_of(mode)}, not a regular file")
    return os.fdopen(fd, "rb")


def read_regular(path: Path, limit: int, follow: bool = False) -> bytes:
    """All of a regular file of at most ``limit`` bytes (never more is read). With ``follow``
    a symlink is followed to what it names, which must itself be a regular file (for keys an
    operator may link into place; evidence is never followed)."""
    if follow:
        path = Path(os.path.realpath(path))
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise Refused("too_large", path, f"{size} bytes, over the limit of {limit}")
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while being read
        raise Refused("too_large", path, f"over {limit} bytes, the limit")
    return data


def read_head(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of a regular file (all of it if shorter)."""
    with open_regular(path) as f:
        return f.read(limit)


def digest_regular(path: Path, limit: int | None = None) -> tuple[str, int]:
    """SHA-256 hex digest and size of a regular file, read in pieces; with ``limit``, a file
    larger than that is not read at all (its size is returned with an empty digest)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if limit is not None and size > limit:
            return "", size
        digest = hashlib.file_digest(f, "sha256")
        return digest.hexdigest(), f.tell()


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SUSPECT_NUMBER = re.compile(rb"\d{%d}|[eE][-+]?\d{3}" % (MAX_INT_DIGITS + 1))


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed value (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in item)
    return deepest


def loads(raw: bytes, where: str, limit: int = MAX_DOCUMENT) -> Any:
    """Parse UTF-8 JSON within the bounds; :class:`BadJSON` (one line, naming ``where``) if it
    is not."""
    if len(raw) > limit:
        raise BadJSON(f"{where}: {len(raw)} bytes, over the limit of {limit}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJSON(f"{where}: not UTF-8 JSON (byte {exc.start} is not UTF-8)") from None
    # Numbers are checked one by one only where one could be out of bounds (a long digit run or
    # a three-digit exponent), and nesting only where there are brackets enough: the camera's
    # own lines take the fast path.
    hooks: dict[str, Any] = {"parse_int": _int, "parse_float": _float} if _SUSPECT_NUMBER.search(
        raw) else {}
    try:
        value = json.loads(text, parse_constant=_constant, **hooks)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"{where}: not UTF-8 JSON ({exc.msg}: line {exc.lineno} column "
                      f"{exc.colno})") from None
    except RecursionError:
        raise BadJSON(f"{where}: nested more than {MAX_DEPTH} deep") from None
    except ValueError as exc:  # from the number hooks (and int's own digit limit)
        raise BadJSON(f"{where}: not UTF-8 JSON ({str(exc).splitlines()[0]})") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise BadJSON(f"{where}: nested more than {MAX_DEPTH} deep")
    if _SURROGATE.search(raw):  # an escaped lone half of a pair: no UTF-8 can hold it
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadJSON(f"{where}: not UTF-8 JSON (a lone surrogate escape)") from None
    return value


def read_json(path: Path, where: str | None = None, limit: int = MAX_DOCUMENT) -> Any:
    """A regular file's JSON within the bounds. File problems raise :class:`Refused` or another
    :class:`OSError`; content problems :class:`BadJSON`."""
    return loads(read_regular(path, limit), where or path.name, limit)


@dataclass(frozen=True)
class Line:
    """One line of a line-oriented file: its bytes (None when longer than the bound), the
    SHA-256 of all of them, their length, and whether a newline ended it."""

    number: int
    data: bytes | None
    sha256: str
    length: int
    terminated: bool


def lines(f: BinaryIO, limit: int = MAX_LINE) -> Iterator[Line]:
    """Every line of ``f`` without its newline, read in pieces: memory stays within ``limit``
    whatever the file holds (an over-long line is hashed, not kept)."""
    number, buf, digest, length, over = 1, bytearray(), hashlib.sha256(), 0, False
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            break
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            digest.update(piece)
            length += len(piece)
            if not over:
                buf += piece
                if len(buf) > limit:
                    over, buf = True, bytearray()
            if end < 0:
                break
            yield Line(number, None if over else bytes(buf), digest.hexdigest(), length, True)
            number, buf, digest, length, over = number + 1, bytearray(), hashlib.sha256(), 0, False
            start = end + 1
    if length or over:
        yield Line(number, None if over else bytes(buf), digest.hexdigest(), length, False)
