"""The camera's audit log as evidence: its format, and the verifier that checks it.

``DATA_DIR/audit/audit.jsonl``. Each line is one entry, canonical JSON (keys sorted, no spaces):

    {"data":{...},"event":"mode","mono":12.5,"prev":"<sha256>","reason":"record double",
     "seq":7,"sig":"<base64>","utc":"2026-01-01T00:00:12.500Z"}

- ``prev`` is the SHA-256 of the previous line's bytes (without its newline); the first entry's
  is 64 zeros (the chain: evidence/hashlog.py, shared with the store's log). Editing, deleting
  or reordering any entry breaks the chain at that point.
- ``sig`` is the device's Ed25519 signature (base64) over the same line with ``"sig":""``, so an
  entry appended by hand, without the key, is caught too. (``sed 's/"sig":"[^"]*"/"sig":""/'``
  recovers the signed bytes for ``openssl pkeyutl -verify``.)
- A ``checkpoint`` entry is written at intervals and at shutdown; a log that does not end in one
  was cut off (power loss, or a tail removed).
- A line torn by a crash is kept as it is, terminated, and acknowledged by a ``torn_line``
  entry that names its line number and hash: it is reported, never dropped, and it cannot hide
  the entries before it (they remain chained and signed).

The camera writes it (device/audit.py); :func:`verify_log` checks it and never modifies it.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.bounded import MAX_LINE, BadJSON, Line, lines, loads, open_regular
from evidence.hashlog import CAMERA, ChainHead, line_hash
from evidence.layout import Layout

AUDIT_LOG = Layout.AUDIT_LOG
GENESIS = CAMERA.genesis
UNSIGNED = ""

#: (signature, signed bytes) -> does it verify with the device key
Verifier = Callable[[bytes, bytes], bool]

__all__ = ["AUDIT_LOG", "GENESIS", "ISSUES", "UNSIGNED", "AuditIssue", "AuditReport", "Verifier",
           "canonical", "entry_of", "line_hash", "parse_entry", "signed_bytes", "verify_log"]


def canonical(entry: dict[str, Any]) -> bytes:
    return CAMERA.encode(entry)


def signed_bytes(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's signature covers: the entry with an empty ``sig``."""
    return canonical({**entry, "sig": UNSIGNED})


def entry_of(line: Line) -> dict[str, Any] | None:
    """A line's entry, if it is a JSON object within the bounds."""
    return None if line.data is None else parse_entry(line.data, line.number)


def parse_entry(raw: bytes, number: int) -> dict[str, Any] | None:
    try:
        entry = loads(raw, f"line {number}", MAX_LINE)
    except BadJSON:
        return None
    return entry if isinstance(entry, dict) else None


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
    chain = ChainHead(CAMERA)
    torn_ok: dict[int, str] = {}
    last_event = None
    with open_regular(path) as f:
        for line in lines(f):
            number, where = line.number, f"line {line.number}"
            if not line.terminated:
                report.problem("torn_tail", number,
                               f"line {number}: unterminated last line (torn write not yet "
                               f"acknowledged, or edited)")
            entry = entry_of(line)
            if entry is None:
                if len(torn_ok) < MAX_UNACKNOWLEDGED:
                    torn_ok.setdefault(number, line.sha256)
                else:
                    report.problem("not_an_entry", number, f"line {number}: not a JSON entry")
                chain.advance(line.sha256)
                last_event = "torn"
                continue
            assert line.data is not None
            report.entries += 1
            report.records.append(entry)
            if not chain.links(entry):
                report.problem("chain_broken", number,
                               f"{where} (seq {_short(entry.get('seq'))}): chain broken, previous "
                               f"entry was edited, removed or reordered")
            if not chain.follows(entry):
                report.problem("sequence", number,
                               f"{where}: sequence {_short(entry.get('seq'))} follows {chain.seq}")
            if canonical(entry) != line.data:
                report.problem("not_canonical", number,
                               f"{where}: not in canonical form (re-serialised by hand?)")
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
                _check_checkpoint(report, number, entry, chain.head or "")
            chain.advance(line.sha256, entry.get("seq"))
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
