"""The tamper-evident audit log: append-only JSON lines, hash-chained and signed.

``DATA_DIR/audit/audit.jsonl``. Each line is one entry, canonical JSON (keys sorted, no spaces):

    {"data":{...},"event":"mode","mono":12.5,"prev":"<sha256>","reason":"record double",
     "seq":7,"sig":"<base64>","utc":"2026-01-01T00:00:12.500Z"}

- ``prev`` is the SHA-256 of the previous line's bytes (without its newline); the first entry's
  is 64 zeros. Editing, deleting or reordering any entry breaks the chain at that point.
- ``sig`` is the device's Ed25519 signature (base64) over the same line with ``"sig":""``, so an
  entry appended by hand, without the key, is caught too. (``sed 's/"sig":"[^"]*"/"sig":""/'``
  recovers the signed bytes for ``openssl pkeyutl -verify``.)
- A ``checkpoint`` entry is written at intervals and at shutdown; a log that does not end in one
  was cut off (power loss, or a tail removed).
- A line torn by a crash is kept as it is, terminated, and acknowledged by a ``torn_line``
  entry that names its line number and hash: it is reported, never dropped, and it cannot hide
  the entries before it (they remain chained and signed).

One thread (the daemon's) appends; each entry is written and fsynced before ``append`` returns.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.recordings import recording_number
from evidence import fsutil
from evidence.bounded import (
    MAX_LINE,
    BadJSON,
    Line,
    lines,
    loads,
    not_regular,
    open_regular,
)
from hal.clock import Clock

AUDIT_LOG = Path("audit") / "audit.jsonl"
GENESIS = "0" * 64
UNSIGNED = ""

Signer = Callable[[bytes], bytes]
#: An entry not yet written: event, reason, data (None: a checkpoint's), mono, utc.
Pending = tuple[str, str, dict[str, Any] | None, float, str]
Verifier = Callable[[bytes, bytes], bool]


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def signed_bytes(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's signature covers: the entry with an empty ``sig``."""
    return canonical({**entry, "sig": UNSIGNED})


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


def _entry(line: Line) -> dict[str, Any] | None:
    """A line's entry, if it is a JSON object within the bounds."""
    return None if line.data is None else _parse(line.data, line.number)


def _parse(raw: bytes, number: int) -> dict[str, Any] | None:
    try:
        entry = loads(raw, f"line {number}", MAX_LINE)
    except BadJSON:
        return None
    return entry if isinstance(entry, dict) else None


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
        self.seq, self.head, self._lines, self._size = scan.seq, scan.head, scan.lines, scan.size
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
                entry = _entry(line)
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
            number = recording_number(entry["data"].get("recording_id"))
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
            self.seq, self.head = self.seq + 1, line_hash(raw)
            if self._waiting:
                self._waiting.popleft()
            return
        self.head = torn_hash
        self._acks.append(("torn_line", why, {"line": self._lines, "sha256": self.head,
                                                     "length": length},
                                  self.clock.monotonic(), self.clock.utc_iso()))

    def _whole_entry(self, raw: bytes) -> bool:
        """Is ``raw`` the entry this log was writing, complete (only its newline missing)?"""
        entry = _parse(raw, self._lines)
        return (entry is not None and canonical(entry) == raw
                and entry.get("seq") == self.seq + 1 and entry.get("prev") == self.head)

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
                              self.clock.utc_iso()))
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
                    {"count": self._lost}, self.clock.monotonic(), self.clock.utc_iso())])
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
        entry = {"seq": self.seq + 1, "mono": round(mono, 6), "utc": utc, "event": event,
                 "reason": reason, "data": data, "prev": self.head, "sig": UNSIGNED}
        if self.signer is not None:
            entry["sig"] = base64.b64encode(self.signer(signed_bytes(entry))).decode()
        line = canonical(entry) + b"\n"
        try:
            fsutil.write_all(self._fd, line)
        except OSError:
            if os.fstat(self._fd).st_size != self._size + len(line):
                raise  # nothing, or part of it, is down: _settle deals with a part
        # The whole line is in the file: it is the log's next entry, even if fsync fails.
        self.seq, self.head = entry["seq"], line_hash(line[:-1])
        self._lines, self._size = self._lines + 1, self._size + len(line)
        self._saw(entry)
        fsutil.fsync(self._fd)
        return entry

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._drain()
        os.close(self._fd)


#: Why a log fails, as :class:`AuditIssue` codes (the verifier reports them per item).
ISSUES = {
    "torn_tail": "the last line is unterminated: a write cut by power loss, not yet acknowledged",
    "not_an_entry": "a line that is neither a JSON entry nor acknowledged as torn",
    "chain_broken": "an entry's prev is not the previous line's hash: edited, removed, reordered",
    "sequence": "sequence numbers skip or repeat",
    "not_canonical": "an entry re-serialised by hand",
    "bad_signature": "an entry's signature does not verify with the device key",
    "forged_checkpoint": "a checkpoint's signature does not verify with the device key",
    "checkpoint_mismatch": "a checkpoint names a chain head or entry count the log does not have",
}


#: Issues of one kind kept with their text; the rest are counted.
MAX_ISSUES_KEPT = 100
#: Lines that are no entry held at once waiting for a torn_line entry to acknowledge them (an
#: honest log has at most one: the next start acknowledges it).
MAX_UNACKNOWLEDGED = 1000


@dataclass(frozen=True)
class AuditIssue:
    code: str  # a key of ISSUES
    line: int
    text: str


@dataclass
class AuditReport:
    entries: int = 0
    checkpoints: int = 0
    issues: list[AuditIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    closed: bool = False
    #: every line that parsed as an entry, in order (for checking the log against the footage)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: issue code -> how many (``issues`` keeps only the first few of each)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def problems(self) -> list[str]:
        return [issue.text for issue in self.issues]

    def problem(self, code: str, line: int, text: str) -> None:
        """Keep the first few of each kind (a hostile log may have millions); count them all."""
        self.counts[code] += 1
        if self.counts[code] <= MAX_ISSUES_KEPT:
            self.issues.append(AuditIssue(code, line, text))


def verify_log(path: Path, verify_sig: Verifier | None) -> AuditReport:
    """Check the chain, the sequence, every signature and the checkpoints; never modifies.
    Streams the log: a line over :data:`~evidence.bounded.MAX_LINE` bytes, or one that is no
    JSON object within the bounds, is a line that is not an entry. Raises
    :class:`evidence.bounded.Refused` if the log is not a regular file."""
    report = AuditReport()
    head, seq = GENESIS, 0
    torn_ok: dict[int, str] = {}
    last_event = None
    with open_regular(path) as f:
        for line in lines(f):
            number, where = line.number, f"line {line.number}"
            if not line.terminated:
                report.problem("torn_tail", number,
                               f"line {number}: unterminated last line (torn write not yet "
                               f"acknowledged, or edited)")
            entry = _entry(line)
            if entry is None:
                if len(torn_ok) < MAX_UNACKNOWLEDGED:
                    torn_ok.setdefault(number, line.sha256)
                else:
                    report.problem("not_an_entry", number, f"line {number}: not a JSON entry")
                head = line.sha256
                last_event = "torn"
                continue
            assert line.data is not None
            report.entries += 1
            report.records.append(entry)
            if entry.get("prev") != head:
                report.problem("chain_broken", number,
                               f"{where} (seq {_short(entry.get('seq'))}): chain broken, previous "
                               f"entry was edited, removed or reordered")
            if entry.get("seq") != seq + 1:
                report.problem("sequence", number,
                               f"{where}: sequence {_short(entry.get('seq'))} follows {seq}")
            if canonical(entry) != line.data:
                report.problem("not_canonical", number,
                               f"{where}: not in canonical form (re-serialised by hand?)")
            seq = entry["seq"] if isinstance(entry.get("seq"), int) else seq
            checkpoint = entry.get("event") == "checkpoint"
            if verify_sig is not None and not _signed(entry, verify_sig):
                report.problem("forged_checkpoint" if checkpoint else "bad_signature", number,
                               f"{where} (seq {_short(entry.get('seq'))}): "
                               f"{'checkpoint ' if checkpoint else ''}signature does not verify "
                               f"with the device key")
            if entry.get("event") == "torn_line":
                torn_line = _data(entry).get("line")
                if isinstance(torn_line, int) and torn_ok.get(torn_line) == _data(entry).get(
                        "sha256"):
                    report.notes.append(f"line {torn_line}: torn by a crash, acknowledged at "
                                        f"seq {_short(entry.get('seq'))}")
                    torn_ok.pop(torn_line)
            if checkpoint:
                report.checkpoints += 1
                _check_checkpoint(report, number, entry, head)
            head = line.sha256
            last_event = entry.get("event")
    for number in sorted(torn_ok):
        report.problem("not_an_entry", number,
                       f"line {number}: not a JSON entry and not acknowledged as torn")
    report.closed = last_event == "checkpoint"
    if not report.closed:
        report.notes.append("log does not end with a checkpoint (camera running, or power lost)")
    return report


def _short(value: object) -> str:
    """A value from the log for a one-line message, cut short."""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _data(entry: dict[str, Any]) -> dict[str, Any]:
    data = entry.get("data")
    return data if isinstance(data, dict) else {}


def _signed(entry: dict[str, Any], verify_sig: Verifier) -> bool:
    try:
        signature = base64.b64decode(entry.get("sig", ""), validate=True)
    except (ValueError, TypeError):
        return False
    return bool(signature) and verify_sig(signature, signed_bytes(entry))


def _check_checkpoint(report: AuditReport, number: int, entry: dict[str, Any],
                      head: str) -> None:
    """A checkpoint vouches for the chain head before it and for its own position."""
    data = _data(entry)
    if data.get("head") != head or data.get("entries") != entry.get("seq"):
        report.problem("checkpoint_mismatch", number,
                       f"line {number} (seq {entry.get('seq')}): checkpoint names head "
                       f"{str(data.get('head'))[:12]}… and {data.get('entries')} entries; the log "
                       f"has {head[:12]}… and {entry.get('seq')}")
