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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal.clock import Clock

AUDIT_LOG = Path("audit") / "audit.jsonl"
GENESIS = "0" * 64
UNSIGNED = ""

Signer = Callable[[bytes], bytes]
Verifier = Callable[[bytes, bytes], bool]


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def signed_bytes(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's signature covers: the entry with an empty ``sig``."""
    return canonical({**entry, "sig": UNSIGNED})


class AuditLog:
    def __init__(self, path: Path, clock: Clock, signer: Signer | None = None) -> None:
        self.path = path
        self.clock = clock
        self.signer = signer
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.seq, self.head, torn = self._scan()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if torn is not None:
            lineno, raw = torn
            os.write(self._fd, b"\n")  # terminate the torn line; its bytes stay as they were
            self.head = line_hash(raw)
            self.append("torn_line", "found at start: the previous run stopped mid-write",
                        line=lineno, sha256=self.head, length=len(raw))

    def _scan(self) -> tuple[int, str, tuple[int, bytes] | None]:
        """Last sequence number, chain head, and a torn final line if there is one."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0, GENESIS, None
        lines = raw.split(b"\n")
        tail = lines.pop()  # after the final newline: b"" unless the last line is torn
        seq, head = 0, GENESIS
        for line in lines:
            head = line_hash(line)
            # A damaged line is the verifier's to report; the chain still passes through it.
            with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError, AttributeError,
                                     ValueError, TypeError):
                seq = max(seq, int(json.loads(line).get("seq", seq)))
        torn = (len(lines) + 1, tail) if tail else None
        return seq, head, torn

    def append(self, event: str, reason: str = "", **data: Any) -> dict[str, Any]:
        """Write one entry durably and return it."""
        self.seq += 1
        entry = {"seq": self.seq, "mono": round(self.clock.monotonic(), 6),
                 "utc": self.clock.utc_iso(), "event": event, "reason": reason, "data": data,
                 "prev": self.head, "sig": UNSIGNED}
        if self.signer is not None:
            entry["sig"] = base64.b64encode(self.signer(signed_bytes(entry))).decode()
        line = canonical(entry)
        os.write(self._fd, line + b"\n")
        os.fsync(self._fd)
        self.head = line_hash(line)
        return entry

    def checkpoint(self, reason: str) -> dict[str, Any]:
        return self.append("checkpoint", reason, entries=self.seq + 1, head=self.head)

    def close(self) -> None:
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

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def problems(self) -> list[str]:
        return [issue.text for issue in self.issues]

    def problem(self, code: str, line: int, text: str) -> None:
        self.issues.append(AuditIssue(code, line, text))


def verify_log(path: Path, verify_sig: Verifier | None) -> AuditReport:
    """Check the chain, the sequence, every signature and the checkpoints; never modifies."""
    report = AuditReport()
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()
    if tail:
        report.problem("torn_tail", len(lines) + 1,
                       f"line {len(lines) + 1}: unterminated last line (torn write not yet "
                       f"acknowledged, or edited)")
        lines.append(tail)
    head, seq = GENESIS, 0
    torn_ok: dict[int, str] = {}
    last_event = None
    for number, line in enumerate(lines, start=1):
        where = f"line {number}"
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            torn_ok.setdefault(number, line_hash(line))
            head = line_hash(line)
            last_event = "torn"
            continue
        report.entries += 1
        report.records.append(entry)
        if entry.get("prev") != head:
            report.problem("chain_broken", number,
                           f"{where} (seq {entry.get('seq')}): chain broken, previous entry was "
                           f"edited, removed or reordered")
        if entry.get("seq") != seq + 1:
            report.problem("sequence", number,
                           f"{where}: sequence {entry.get('seq')} follows {seq}")
        if canonical(entry) != line:
            report.problem("not_canonical", number,
                           f"{where}: not in canonical form (re-serialised by hand?)")
        seq = entry.get("seq", seq) if isinstance(entry.get("seq"), int) else seq
        checkpoint = entry.get("event") == "checkpoint"
        if verify_sig is not None and not _signed(entry, verify_sig):
            report.problem("forged_checkpoint" if checkpoint else "bad_signature", number,
                           f"{where} (seq {entry.get('seq')}): "
                           f"{'checkpoint ' if checkpoint else ''}signature does not verify "
                           f"with the device key")
        if entry.get("event") == "torn_line":
            torn_line = _data(entry).get("line")
            if torn_ok.get(torn_line) == _data(entry).get("sha256"):
                report.notes.append(f"line {torn_line}: torn by a crash, acknowledged at "
                                    f"seq {entry['seq']}")
                torn_ok.pop(torn_line)
        if checkpoint:
            report.checkpoints += 1
            _check_checkpoint(report, number, entry, head)
        head = line_hash(line)
        last_event = entry.get("event")
    for number in sorted(torn_ok):
        report.problem("not_an_entry", number,
                       f"line {number}: not a JSON entry and not acknowledged as torn")
    report.closed = last_event == "checkpoint"
    if not report.closed:
        report.notes.append("log does not end with a checkpoint (camera running, or power lost)")
    return report


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
