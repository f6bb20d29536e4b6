"""The audit log as it grows: new entries read from the file the daemon appends to.

The panel reads ``DATA_DIR/audit/audit.jsonl`` itself (it is a file like any other evidence,
readable by anyone who holds the camera's storage), and runs the audit verifier on demand.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from evidence.audit import AUDIT_LOG
from evidence.bounded import MAX_LINE, loads, open_regular
from evidence.verify import verify

#: Entries kept for a page that opens late; a long log is read from its last 256 KiB.
KEEP = 300
TAIL_BYTES = 256 * 1024


def brief(entry: Any, lineno: int) -> dict[str, Any]:
    """An entry as the panel shows it (the chain hash and signature stay in the file)."""
    if not isinstance(entry, dict):
        return {"seq": None, "event": "unreadable", "reason": f"line {lineno} is not an entry"}
    return {"seq": entry.get("seq"), "utc": entry.get("utc"), "event": entry.get("event"),
            "reason": entry.get("reason"), "data": entry.get("data") or {}}


class AuditTail:
    def __init__(self, data_dir: Path, keep: int = KEEP) -> None:
        self.path = data_dir / AUDIT_LOG
        self.entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self._offset = 0
        self._lineno = 0

    def read_new(self) -> list[dict[str, Any]]:
        """Entries appended since the last call (whole lines only: a torn one waits)."""
        try:
            with open_regular(self.path) as f:  # a FIFO or /dev/zero would hang the panel
                size = f.seek(0, 2)
                if size < self._offset:  # a new log (a wiped camera): start over
                    self._offset, self._lineno = 0, 0
                    self.entries.clear()
                start = self._offset
                if start == 0 and size > TAIL_BYTES:
                    start = size - TAIL_BYTES
                f.seek(start)
                data = f.read(size - start)
        except OSError:  # none yet, or not a regular file: nothing to show
            return []
        if start != self._offset:  # jumped into a long log: drop the partial first line
            cut = data.find(b"\n") + 1
            data, start = data[cut:], start + cut
        end = data.rfind(b"\n") + 1
        self._offset = start + end
        new = []
        for raw in data[:end].splitlines():
            self._lineno += 1
            try:
                entry = loads(raw, f"line {self._lineno}", MAX_LINE)
            except ValueError:
                entry = None
            new.append(brief(entry, self._lineno))
        self.entries.extend(new)
        return new

    def check(self) -> dict[str, Any]:
        """The audit verifier's finding for the whole log."""
        if not self.path.exists():
            return {"status": "missing", "detail": "no audit log yet"}
        finding = verify([self.path])[0]
        return {"status": finding.status, "detail": finding.detail}
