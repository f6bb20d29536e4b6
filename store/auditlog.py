"""The store's own audit log: ``DIR/audit.jsonl``, append-only JSON lines in a hash chain.

Every entry names the SHA-256 of the previous line's bytes (``prev_sha256``, null on the first),
so removing or editing an entry breaks the chain at that point: :func:`verify_chain` finds it.
Entries record custody: enrolments, stored and quarantined uploads, flags, unflags, deletions and
exports. Each append is fsynced before the action it records is reported as done.

Several workers (processes on one store directory) append to one file: each append holds an
exclusive ``flock`` on it and, when another worker wrote since, continues the chain from the
file's last line, so the chain stays one chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from store.clock import Clock, utc_iso


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class AuditLog:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._prev: str | None = None
        self._seq = 0
        self._end = 0  # the file's size after this worker's last look at it
        self._recover()

    def _recover(self) -> None:
        """Continue the chain after the last line; a torn last line is kept and chained over."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            with open(self.path, "ab") as f:
                f.write(b"\n")
                os.fsync(f.fileno())
            data += b"\n"
        lines = data.splitlines()
        if lines:
            self._prev = _line_hash(lines[-1])
            self._seq = len(lines)
        self._end = len(data)

    def _follow(self, fd: int, size: int) -> None:
        """Another worker appended: take the chain from the file's last line (its ``seq``)."""
        tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            seq = json.loads(last)["seq"]
            if not isinstance(seq, int):
                raise TypeError
        except (ValueError, KeyError, TypeError):  # a torn or odd line: count them all
            self._recover()
            return
        self._prev, self._seq, self._end = _line_hash(last), seq, size

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one entry durably and return it."""
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # other workers' appends; released by close
                size = os.fstat(fd).st_size
                if size != self._end:
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        os.write(fd, b"\n")  # a torn last line is kept and chained over
                        size += 1
                    self._follow(fd, size)
                entry = {**fields, "seq": self._seq + 1, "utc": utc_iso(self.clock()),
                         "event": event, "prev_sha256": self._prev}
                line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
                os.write(fd, line + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            self._prev = _line_hash(line)
            self._seq += 1
            self._end = size + len(line) + 1
            return entry

    def entries(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines]


def verify_chain(path: Path) -> tuple[int, list[str]]:
    """Number of entries and the problems found (an empty list: the chain is intact)."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return 0, []
    problems: list[str] = []
    prev: str | None = None
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            problems.append(f"{path}:{number}: not a JSON entry (torn write or edited)")
            prev = _line_hash(line)
            continue
        if not isinstance(entry, dict) or entry.get("prev_sha256") != prev:
            problems.append(f"{path}:{number}: prev_sha256 does not match line {number - 1} "
                            "(an entry was removed, inserted or changed)")
        elif entry.get("seq") != number:
            problems.append(f"{path}:{number}: seq is {entry.get('seq')!r}, expected {number}")
        prev = _line_hash(line)
    return len(lines), problems
