"""Recording numbers: the camera hands each one out once, in order (device/recordings.py).

Two recordings with the same number (``R000001-1a2b3c`` and ``R000001-9f8e7d``), here or in the
audit log, mean the counter was rolled back or the footage put together from elsewhere; a log
that starts a recording whose number is not above every number it started before says the same
of the log.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from evidence.findings import Finding, finding
from evidence.layout import Layout


def check_numbering(root: Path, log: Path | None, present: set[str],
                    records: list[dict[str, Any]]) -> list[Finding]:
    """``present``: recording ids found here; ``records``: the audit log's entries."""
    started = [(entry.get("seq"), data["recording_id"]) for entry in records
               if entry.get("event") == "recording_start"
               and isinstance(data := entry.get("data"), dict)
               and Layout.recording_number(data.get("recording_id")) is not None]
    by_number: dict[int, set[str]] = defaultdict(set)
    for rec in present | {rec for _, rec in started}:
        number = Layout.recording_number(rec)
        if number is not None:
            by_number[number].add(rec)
    findings = [finding("recording", root / Layout.RECORDINGS, "duplicate_recording",
                        f"recording number {number} was handed out {len(ids)} times: "
                        f"{', '.join(sorted(ids))}")
                for number, ids in sorted(by_number.items()) if len(ids) > 1]
    out_of_order = []
    highest: tuple[int, str] | None = None
    for seq, rec in started:
        number = Layout.recording_number(rec)
        assert number is not None
        if highest is not None and number <= highest[0]:
            out_of_order.append(f"seq {seq} starts {rec} after {highest[1]}")
        if highest is None or number > highest[0]:
            highest = (number, rec)
    if out_of_order and log is not None:
        more = f" (and {len(out_of_order) - 1} more)" if len(out_of_order) > 1 else ""
        findings.append(finding("audit", log, "recording_order",
                                f"recording numbers out of order: {out_of_order[0]}{more}"))
    return findings
