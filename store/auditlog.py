"""The store's own audit log: ``DIR/audit.jsonl``, append-only JSON lines in a hash chain
(the chain is the evidence contract's, evidence/hashlog.py, spelt the store's way).

Every entry names the SHA-256 of the previous line's bytes (``prev_sha256``, null on the first),
so removing or editing an entry breaks the chain at that point: :func:`verify_chain` finds it.
Entries record custody: enrolments, stored and quarantined uploads, flags, unflags, deletions and
exports. Each append is fsynced before the action it records is reported as done.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evidence.hashlog import STORE, ChainHead, line_hash
from evidence.utc import utc_iso
from store.clock import Clock


def _last_line(fd: int, size: int) -> bytes:
    """The file's last line with its newline, if it has one, read from the end."""
    end, block = size, b""
    while end > 0:
        start = max(0, end - 8192)
        block = os.pread(fd, end - start, start) + block
        end = start
        cut = block.rfind(b"\n", 0, len(block) - 1)
        if cut >= 0:
            return block[cut + 1:]
    return block


class AuditLog:
    """Appends from several worker processes make one chain: each append holds an exclusive
    ``flock`` on the file and, if another process wrote since, continues after its last line."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._chain = ChainHead(STORE)
        self._size = 0
        if path.exists():
            with self._locked() as fd:
                self._sync(fd)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
            yield fd
        finally:
            os.close(fd)

    def _sync(self, fd: int) -> None:
        """Continue the chain after the last line; a torn last line is kept and chained over."""
        size = os.fstat(fd).st_size
        if size == self._size:
            return
        last = _last_line(fd, size)
        if last and not last.endswith(b"\n"):  # a write cut short by a crash
            os.write(fd, b"\n")
            os.fsync(fd)
            size += 1
        try:
            seq = json.loads(last)["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise TypeError(seq)
        except (ValueError, TypeError, KeyError):  # torn or edited: count the lines
            seq = len(os.pread(fd, size, 0).splitlines())
        self._chain = ChainHead(STORE, seq, line_hash(last.rstrip(b"\n")) if last else None)
        self._size = size

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one entry durably and return it."""
        with self._lock, self._locked() as fd:
            self._sync(fd)
            entry = self._chain.link({**fields, "utc": utc_iso(self.clock()), "event": event})
            line = STORE.encode(entry)
            os.write(fd, line + b"\n")
            os.fsync(fd)
            self._chain.advance(line_hash(line), entry["seq"])
            self._size += len(line) + 1
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
    chain = ChainHead(STORE)
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            problems.append(f"{path}:{number}: not a JSON entry (torn write or edited)")
            chain.advance(line_hash(line))
            continue
        if not isinstance(entry, dict) or not chain.links(entry):
            problems.append(f"{path}:{number}: prev_sha256 does not match line {number - 1} "
                            "(an entry was removed, inserted or changed)")
        elif not chain.follows(entry):
            problems.append(f"{path}:{number}: seq is {entry.get('seq')!r}, expected {number}")
        chain.advance(line_hash(line))
    return len(lines), problems
