"""The camera's audit log, as the camera writes it: append-only, hash-chained and signed.

The format and its verifier are the evidence contract's (evidence/audit.py, the chain in
evidence/hashlog.py); this is the writer. A line torn by a crash is kept as it is, terminated,
and acknowledged by a ``torn_line`` entry that names its line number and hash; lines at the end
that are no entry are named in a ``bad_lines`` entry; a log that is not a regular file is set
aside and a new one begun.

One thread (the daemon's) appends; each entry is written and fsynced before ``append`` returns.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence import fsutil
from evidence.audit import (
    AUDIT_LOG,
    GENESIS,
    UNSIGNED,
    AuditIssue,
    AuditReport,
    canonical,
    entry_of,
    parse_entry,
    signed_bytes,
    verify_log,
)
from evidence.bounded import MAX_LINE, lines, not_regular, open_regular
from evidence.hashlog import CAMERA, ChainHead, line_hash
from evidence.layout import Layout
from evidence.utc import utc_iso
from hal.clock import Clock

__all__ = ["AUDIT_LOG", "GENESIS", "AuditIssue", "AuditLog", "AuditReport", "canonical",
           "line_hash", "signed_bytes", "verify_log"]

Signer = Callable[[bytes], bytes]
#: An entry not yet written: event, reason, data (None: a checkpoint's), mono, utc.
Pending = tuple[str, str, dict[str, Any] | None, float, str]


#: Entries kept in memory while the log cannot be written (a full card); past this many the
#: oldest are dropped and an ``entries_lost`` entry says how many.
BACKLOG = 10_000


#: Bad lines at the end of the log named one by one in the ``bad_lines`` entry at boot.
BAD_LINES_NAMED = 20


@dataclass
class _Scan:
    """What the daemon learns from its log at start."""

    seq: int = 0
    head: str = GENESIS
    lines: int = 0  # complete lines
    size: int = 0  # their bytes, newlines included
    #: the lines after the last entry that are none: the first few, and how many
    bad: list[dict[str, Any]] = field(default_factory=list)
    bad_count: int = 0


def _set_aside(path: Path) -> dict[str, Any] | None:
    """A log that is not a regular file (a FIFO, a folder, a link to /dev/zero) cannot be read
    or appended to: it is renamed, never deleted, and a new log begun."""
    try:
        why = not_regular(path)
    except FileNotFoundError:
        return None
    if why is None:
        return None
    aside = fsutil.set_aside(path)
    return {"was": why, "set_aside_as": aside.name}


class AuditLog:
    """Appends entries; a write that fails (ENOSPC, EIO) never glues two lines together.

    An entry takes its ``seq``, ``prev`` and signature when it is written; its ``mono`` and
    ``utc`` when it happened. One that cannot be written waits in memory, in order, and is
    written before the next one; a line the failed write left part-written is terminated and
    acknowledged by a ``torn_line`` entry first, exactly as one torn by a crash is at start.
    """

    def __init__(self, path: Path, clock: Clock, signer: Signer | None = None) -> None:
        self.path = path
        self.clock = clock
        self.signer = signer
        #: the highest recording number a recording_start entry names (device/recordings.py)
        self.highest_recording = 0
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        refused = _set_aside(path)
        scan = self._scan()
        self.chain = ChainHead(CAMERA, scan.seq, scan.head)
        self._lines, self._size = scan.lines, scan.size
        #: why the last write failed, until one succeeds
        self.error: str | None = None
        self._waiting: deque[Pending] = deque()
        self._acks: deque[Pending] = deque()  # torn lines to acknowledge, before anything else
        self._lost = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with contextlib.suppress(OSError):  # a full card at start: retried at the next append
            self._settle("found at start: the previous run stopped mid-write")
            if refused is not None:
                self.append("audit_log_refused", "found at start: the log was not a regular "
                            "file; set aside and a new log begun", **refused)
            if scan.bad_count:
                self.append("bad_lines", "found at start: lines at the end of the log that are "
                            "not entries; kept as they are, the chain continues after them",
                            lines=scan.bad, count=scan.bad_count)
        self.flush()

    @property
    def seq(self) -> int:
        """The last entry's sequence number."""
        return self.chain.seq

    @property
    def head(self) -> str:
        """The hash of the log's last line."""
        return self.chain.head or GENESIS

    def _scan(self) -> _Scan:
        """Last sequence number, chain head, complete lines and their bytes, and the lines
        after the last entry that are none. Streams the log in bounded pieces: whatever it
        holds (a line of a gigabyte, 100,000 nested arrays, NaN), the camera boots."""
        scan = _Scan()
        try:
            f = open_regular(self.path)
        except FileNotFoundError:
            return scan
        with f:
            for line in lines(f):
                if not line.terminated:
                    break  # a torn tail: _settle terminates and acknowledges it
                scan.head, scan.lines, scan.size = line.sha256, line.number, \
                    scan.size + line.length + 1
                entry = entry_of(line)
                if entry is None:  # the verifier reports it; the chain still passes through it
                    scan.bad_count += 1
                    if len(scan.bad) < BAD_LINES_NAMED:
                        scan.bad.append({"line": line.number, "sha256": line.sha256,
                                         "length": line.length})
                    continue
                scan.bad, scan.bad_count = [], 0
                seq = entry.get("seq")
                if isinstance(seq, int) and not isinstance(seq, bool) and seq > scan.seq:
                    scan.seq = seq
                self._saw(entry)
        return scan

    def _saw(self, entry: dict[str, Any]) -> None:
        if entry.get("event") == "recording_start" and isinstance(entry.get("data"), dict):
            number = Layout.recording_number(entry["data"].get("recording_id"))
            if number is not None and number > self.highest_recording:
                self.highest_recording = number

    def _settle(self, why: str) -> None:
        """Bytes past the last whole line (a torn write) are terminated, kept as they are, and
        acknowledged by the next entry written, so that entry starts on a line of its own."""
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        start, length = self._size, size - self._size
        raw = self._tail(size) if length <= MAX_LINE else None  # longer: hashed, never kept
        torn_hash = line_hash(raw) if raw is not None else self._tail_hash(start, length)
        fsutil.write_all(self._fd, b"\n")  # its bytes stay as they were
        self._lines, self._size = self._lines + 1, size + 1
        if raw is not None and self._whole_entry(raw):  # all but the newline was down
            self.chain.advance(line_hash(raw), self.seq + 1)
            if self._waiting:
                self._waiting.popleft()
            return
        self.chain.advance(torn_hash)
        self._acks.append(("torn_line", why, {"line": self._lines, "sha256": self.head,
                                                     "length": length},
                                  self.clock.monotonic(), utc_iso(self.clock.wall())))

    def _whole_entry(self, raw: bytes) -> bool:
        """Is ``raw`` the entry this log was writing, complete (only its newline missing)?"""
        entry = parse_entry(raw, self._lines)
        return (entry is not None and canonical(entry) == raw
                and self.chain.follows(entry) and self.chain.links(entry))

    def _tail(self, size: int) -> bytes:
        with open_regular(self.path) as f:
            f.seek(self._size)
            return f.read(size - self._size)

    def _tail_hash(self, start: int, length: int) -> str:
        """The SHA-256 of ``length`` bytes from ``start``, read in pieces."""
        digest = hashlib.sha256()
        with open_regular(self.path) as f:
            f.seek(start)
            while length > 0 and (chunk := f.read(min(length, 1 << 20))):
                digest.update(chunk)
                length -= len(chunk)
        return digest.hexdigest()

    def append(self, event: str, reason: str = "", **data: Any) -> dict[str, Any]:
        """Write one entry durably and return it. Raises ``OSError`` when the log cannot be
        written; the entry then waits and is written, in order, before the next one."""
        return self._enqueue(event, reason, data)

    def checkpoint(self, reason: str) -> dict[str, Any]:
        """Vouches for the chain as it stands when the checkpoint is written."""
        return self._enqueue("checkpoint", reason, None)

    def flush(self) -> bool:
        """Write what waits; True when nothing does (``error`` says why otherwise)."""
        try:
            self._drain()
        except OSError:
            return False
        return True

    def _enqueue(self, event: str, reason: str, data: dict[str, Any] | None
                 ) -> dict[str, Any]:
        if len(self._waiting) >= BACKLOG:
            self._waiting.popleft()
            self._lost += 1
        self._waiting.append((event, reason, data, round(self.clock.monotonic(), 6),
                              utc_iso(self.clock.wall())))
        return self._drain()

    def _drain(self) -> dict[str, Any]:
        """Acknowledge a torn line, say what overflowed, then write what waits, in order."""
        entry: dict[str, Any] = {}
        try:
            self._settle("a write failed part-way (storage full or failing)")
            while self._acks:
                self._commit(self._acks)
            if self._lost:
                lost: deque[Pending] = deque([(
                    "entries_lost", "the log could not be written and its backlog overflowed",
                    {"count": self._lost}, self.clock.monotonic(), utc_iso(self.clock.wall()))])
                self._commit(lost)
                self._lost = 0
            while self._waiting:
                entry = self._commit(self._waiting)
        except OSError as exc:
            self.error = f"{exc.strerror or exc} ({self.path.name})"
            raise
        self.error = None
        return entry

    def _commit(self, queue: deque[Pending]) -> dict[str, Any]:
        """Write the first of ``queue``; it leaves the queue once it is in the file."""
        seq = self.seq
        try:
            return self._write(*queue[0])
        finally:
            if self.seq != seq:  # it is in the file (even if its fsync failed)
                queue.popleft()

    def _write(self, event: str, reason: str, data: dict[str, Any] | None, mono: float,
               utc: str) -> dict[str, Any]:
        if data is None:  # a checkpoint: the chain as it is now
            data = {"entries": self.seq + 1, "head": self.head}
        entry = self.chain.link({"mono": round(mono, 6), "utc": utc, "event": event,
                                 "reason": reason, "data": data, "sig": UNSIGNED})
        if self.signer is not None:
            entry["sig"] = base64.b64encode(self.signer(signed_bytes(entry))).decode()
        line = canonical(entry) + b"\n"
        try:
            fsutil.write_all(self._fd, line)
        except OSError:
            if os.fstat(self._fd).st_size != self._size + len(line):
                raise  # nothing, or part of it, is down: _settle deals with a part
        # The whole line is in the file: it is the log's next entry, even if fsync fails.
        self.chain.advance(line_hash(line[:-1]), entry["seq"])
        self._lines, self._size = self._lines + 1, self._size + len(line)
        self._saw(entry)
        fsutil.fsync(self._fd)
        return entry

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._drain()
        os.close(self._fd)
