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
        path.parent.mkdir(parents=True, exist_ok=True)
        self.seq, self.head, torn = self._scan()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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


@dataclass
class AuditReport:
    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    closed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(path: Path, verify_sig: Verifier | None) -> AuditReport:
    """Check the chain, the sequence, every signature and the checkpoints; never modifies."""
    report = AuditReport()
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()
    if tail:
        report.problems.append(f"line {len(lines) + 1}: unterminated last line "
                               f"(torn write not yet acknowledged, or edited)")
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
        if entry.get("prev") != head:
            report.problems.append(f"{where} (seq {entry.get('seq')}): chain broken, previous "
                                   f"entry was edited, removed or reordered")
        if entry.get("seq") != seq + 1:
            report.problems.append(f"{where}: sequence {entry.get('seq')} follows {seq}")
        if canonical(entry) != line:
            report.problems.append(f"{where}: not in canonical form (re-serialised by hand?)")
        seq = entry.get("seq", seq) if isinstance(entry.get("seq"), int) else seq
        if verify_sig is not None:
            try:
                signature = base64.b64decode(entry.get("sig", ""), validate=True)
            except (ValueError, TypeError):
                signature = b""
            if not signature or not verify_sig(signature, signed_bytes(entry)):
                report.problems.append(f"{where} (seq {entry.get('seq')}): signature does "
                                       f"not verify with the device key")
        if entry.get("event") == "torn_line":
            torn_line = entry.get("data", {}).get("line")
            if torn_ok.get(torn_line) == entry["data"].get("sha256"):
                report.notes.append(f"line {torn_line}: torn by a crash, acknowledged at "
                                    f"seq {entry['seq']}")
                torn_ok.pop(torn_line)
        if entry.get("event") == "checkpoint":
            report.checkpoints += 1
        head = line_hash(line)
        last_event = entry.get("event")
    for number in sorted(torn_ok):
        report.problems.append(f"line {number}: not a JSON entry and not acknowledged as torn")
    report.closed = last_event == "checkpoint"
    if not report.closed:
        report.notes.append("log does not end with a checkpoint (camera running, or power lost)")
    return report
