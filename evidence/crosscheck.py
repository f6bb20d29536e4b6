"""The audit log against the footage: each tells what the other must contain.

- Every recording the log started has its segments here, and every segment the log recorded as
  closed (``segment``, ``recording_closed``) is here, with the manifest the log names; unless a
  later ``upload_receipt`` entry says it left the camera with the evidence store's receipt.
- Every recording here was started in the log; once the log has closed a recording, every
  segment of it here is one the log recorded (a segment rebuilt after power loss, marked
  ``recovered``, is written at the next start and may come after the close).
- A recording the log started but never closed, with nothing here, lost power before its first
  segment: unterminated, not tampered.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from evidence.findings import Finding, finding
from evidence.segment_check import Segment

#: Audit events whose ``data`` names a segment that may legitimately have left the camera.
RELEASED = ("upload_receipt",)


class _Log:
    """What the log says about recordings, read from its entries."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.started: dict[str, dict[str, Any]] = {}
        self.closed: set[str] = set()
        #: (recording, file) -> manifest hash the log recorded ("" when it named none)
        self.segments: dict[tuple[str, str], str] = {}
        self.released: set[tuple[str, str]] = set()
        for entry in records:
            data = entry.get("data")
            if not isinstance(data, dict) or not isinstance(data.get("recording_id"), str):
                continue
            rec, event = data["recording_id"], entry.get("event")
            if event == "recording_start":
                self.started.setdefault(rec, entry)
            elif event == "segment" and isinstance(data.get("file"), str):
                self.segments[(rec, data["file"])] = str(data.get("manifest_sha256") or "")
            elif event == "recording_closed":
                self.closed.add(rec)
                names = data.get("segments")
                for name in names if isinstance(names, list) else ():
                    self.segments.setdefault((rec, str(name)), "")
            elif event in RELEASED and isinstance(data.get("file"), str):
                self.released.add((rec, data["file"]))


def check_log_against_footage(log_file: Path, records: list[dict[str, Any]],
                              footage: dict[str, dict[str, Segment]],
                              present: dict[str, set[str]]) -> list[Finding]:
    """``footage``: this camera's verified segments by recording and file name; ``present``:
    every segment file name here by the recording it claims (verified or not)."""
    log = _Log(records)

    def bad(code: str, detail: str) -> Finding:
        return finding("log-vs-footage", log_file, code, detail)

    findings = []
    logged_by_rec: dict[str, set[str]] = defaultdict(set)
    for (rec, name), manifest_sha in sorted(log.segments.items()):
        logged_by_rec[rec].add(name)
        if (rec, name) in log.released:
            continue
        if name not in present.get(rec, set()):
            findings.append(bad("missing_segment", f"the log records {name} of recording {rec} "
                                                   f"as closed; it is not here"))
            continue
        segment = footage.get(rec, {}).get(name)
        if segment is not None and manifest_sha and manifest_sha != segment.manifest_sha256:
            findings.append(bad("log_mismatch", f"{name}: its manifest is not the one the log "
                                                f"recorded when it was closed"))
    for rec, segments in sorted(footage.items()):
        if rec not in log.started:
            findings.append(bad("not_in_log", f"recording {rec} is here, but the log never "
                                              f"started it"))
        elif rec in log.closed:
            extra = sorted(name for name, seg in segments.items()
                           if name not in logged_by_rec[rec] and not seg.manifest.recovered)
            if extra:
                findings.append(bad("not_in_log", f"recording {rec}: {', '.join(extra)} not "
                                                  f"among the segments the log recorded"))
    for rec in sorted(log.started):
        if rec not in log.closed and not present.get(rec) and not logged_by_rec[rec]:
            findings.append(bad("no_segments", f"recording {rec}, started at "
                                               f"{log.started[rec].get('utc')}: no segment "
                                               f"here and no close in the log"))
    if not findings:
        findings.append(bad("ok", f"{len(log.started)} recording(s) started in the log, all "
                                  f"accounted for; every recording here is in the log"))
    return findings
