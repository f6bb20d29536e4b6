"""The hash chain under both audit logs: the camera's (``audit/audit.jsonl``, evidence.audit)
and the evidence store's (``DIR/audit.jsonl``, store/auditlog.py).

Each log is JSON lines; every entry carries a sequence number and the SHA-256 of the previous
line's bytes (without its newline), so an entry edited, removed, inserted or reordered breaks
the chain where it happened. The two logs spell the chain differently, and those spellings are
on-disk formats, kept byte for byte: a :class:`ChainFormat` says which.

- the camera: ``prev``, 64 zeros before the first entry, UTF-8 kept as it is, and a line that is
  no entry (torn by a crash) takes no sequence number;
- the store: ``prev_sha256``, null before the first entry, JSON's ``\\u`` escapes, and a torn
  line counts as a line of the sequence (the next entry's ``seq`` is its line number).

What each log records (events, signatures, checkpoints, locking) stays with the log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def line_hash(line: bytes) -> str:
    """What the next entry names a line by: the SHA-256 of its bytes, without the newline."""
    return hashlib.sha256(line).hexdigest()


@dataclass(frozen=True)
class ChainFormat:
    """How one log spells its chain."""

    #: the key that holds the previous line's hash
    prev_key: str
    #: what the first entry names as previous
    genesis: str | None
    #: JSON ``\\u`` escapes for non-ASCII text (the store's) or UTF-8 as it is (the camera's)
    ascii_only: bool
    #: does a line that is no entry take a sequence number (the store's) or not (the camera's)
    torn_takes_seq: bool

    def encode(self, entry: dict[str, Any]) -> bytes:
        """An entry's line (without its newline): canonical JSON, keys sorted, no spaces."""
        return json.dumps(entry, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=self.ascii_only).encode()


CAMERA = ChainFormat(prev_key="prev", genesis="0" * 64, ascii_only=False, torn_takes_seq=False)
STORE = ChainFormat(prev_key="prev_sha256", genesis=None, ascii_only=True, torn_takes_seq=True)


class ChainHead:
    """Where a chain stands: the last sequence number and the hash of the last line. A writer
    links each new entry to it; a reader checks each entry against it, then moves it on."""

    def __init__(self, fmt: ChainFormat, seq: int = 0, head: str | None = None) -> None:
        self.fmt = fmt
        self.seq = seq
        self.head = fmt.genesis if head is None else head

    def link(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` as the chain's next: its sequence number and the previous line's hash."""
        return {**entry, "seq": self.seq + 1, self.fmt.prev_key: self.head}

    def links(self, entry: dict[str, Any]) -> bool:
        """Does ``entry`` name this chain's last line as its previous?"""
        return entry.get(self.fmt.prev_key) == self.head

    def follows(self, entry: dict[str, Any]) -> bool:
        """Does ``entry`` carry the next sequence number?"""
        return entry.get("seq") == self.seq + 1

    def advance(self, line_sha256: str, seq: object = None) -> None:
        """A line is now the last: an entry with its ``seq``, or (``seq`` None) a line that
        is no entry. The store's sequence counts lines; the camera's takes the entry's."""
        self.head = line_sha256
        if self.fmt.torn_takes_seq:
            self.seq += 1
        elif isinstance(seq, int):
            self.seq = seq
