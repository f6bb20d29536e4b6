"""Checking a recording as a whole: its segments run 0…n, each names the one before, time moves
forward, and it ends with the segment marked last.

A recording that simply stops is *unterminated* (power may have been lost), not tampered; one
that ends with a segment marked ``recovered`` and ``last`` was rebuilt after power loss and is
complete. Only recordings whose whole folder was given are checked: a lone segment says nothing
about its neighbours.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from evidence.findings import Finding, finding
from evidence.layout import Layout
from evidence.manifest import Manifest, ManifestError, utc_time
from evidence.segment_check import TIME_SLACK, Segment

#: Missing segments named one by one; beyond these, one line counts the rest.
MAX_MISSING_LISTED = 20


def check_recording(folder: Path, recording_id: str, segments: list[Segment],
                    failed: list[str]) -> list[Finding]:
    """``segments``: those whose manifest verified; ``failed``: names of files claiming this
    recording that did not (reported on their own lines already)."""
    def bad(code: str, detail: str) -> Finding:
        return finding("recording", folder, code, f"recording {recording_id}: {detail}")

    findings = []
    suspect = {int(m.group(1)) for name in failed if (m := Layout.SEGMENT_INDEX.search(name))}
    if failed:
        one = len(failed) == 1
        findings.append(bad("segment_failed", f"{', '.join(sorted(failed))} failed "
                                              f"{'its' if one else 'their'} checks; the chain "
                                              f"is checked around {'it' if one else 'them'}"))
    by_index: dict[int, list[Segment]] = defaultdict(list)
    for seg in segments:
        by_index[seg.manifest.segment_index].append(seg)
    if not by_index:
        return findings
    for index, copies in sorted(by_index.items()):
        if len(copies) > 1:
            findings.append(bad("duplicate_segment", f"segment {index} appears "
                                                     f"{len(copies)} times: "
                                                     f"{', '.join(str(s.mp4) for s in copies)}"))
    final = max(by_index)
    prev: Segment | None = None
    missing = 0
    for index in range(final + 1):
        if index not in by_index:
            if index not in suspect:  # else its file is here but failed: reported already
                missing += 1
                if missing <= MAX_MISSING_LISTED:  # a signed index of millions: one line
                    findings.append(bad("missing_segment", f"segment {index} is missing"))
            prev = None
            continue
        seg = by_index[index][0]
        findings.extend(bad(code, detail) for code, detail in _link(prev, seg, index))
        if (seg.manifest.last or seg.manifest.recovered) and index < final:
            why = "marked last" if seg.manifest.last else "recovered (an end after power loss)"
            findings.append(bad("after_last", f"segment {index} is {why}, yet segments up to "
                                              f"{final} follow it"))
        prev = seg
    if missing > MAX_MISSING_LISTED:
        findings.append(bad("missing_segment", f"and {missing - MAX_MISSING_LISTED} more "
                                               f"segments are missing, up to #{final}"))
    end = by_index[final][0].manifest
    if not end.last and not any(i > final for i in suspect):
        findings.append(bad("no_last_segment", f"unterminated: possible power loss (no "
                                               f"segment after #{final}, none marked last)"))
    if not findings:
        seconds = sum(copies[0].manifest.duration_s for copies in by_index.values())
        code = "recovered" if end.recovered else "ok"
        findings.append(bad(code, f"{final + 1} segment(s), {seconds:.1f} s, complete"
                        + (", ends with a segment recovered after power loss"
                           if end.recovered else "")))
    return findings


def _link(prev: Segment | None, seg: Segment, index: int) -> list[tuple[str, str]]:
    """How segment ``index`` joins the one before it (None when that one is missing)."""
    claimed = seg.manifest.prev_manifest_sha256
    if index == 0:
        return [] if claimed is None else [("chain_broken", "segment 0 names a predecessor")]
    if prev is None:
        return []
    problems = []
    if claimed != prev.manifest_sha256:
        problems.append(("chain_broken", f"segment {index} does not name segment {index - 1}'s "
                                         f"manifest as its predecessor"))
    if seg.manifest.clock_set and prev.manifest.clock_set:
        problems.extend(_time_order(prev.manifest, seg.manifest, index))
    return problems


def _time_order(prev: Manifest, seg: Manifest, index: int) -> list[tuple[str, str]]:
    """Capture times only move forward: a segment starts no earlier than the one before it
    ended. Where the one before gives its end by frame slots (``capture_times`` false: older
    firmware, or rebuilt after power loss), that end may honestly run past the next start, so
    only the starts must be in order."""
    end, what = (prev.end_utc, "ends") if prev.capture_times else (prev.start_utc, "starts")
    try:
        backwards = utc_time(seg.start_utc) + TIME_SLACK < utc_time(end)
    except ManifestError:
        return []  # the segment's own check reports an unreadable time
    if not backwards:
        return []
    return [("time_backwards", f"segment {index} starts ({seg.start_utc}) before segment "
                               f"{index - 1} {what} ({end})")]
