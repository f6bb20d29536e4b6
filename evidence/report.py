"""The verifier's report: a table for people, JSON for programs (a status code per item)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

from evidence.findings import Finding


def intact(findings: list[Finding]) -> bool:
    """Everything checked is intact (and something was checked)."""
    return bool(findings) and all(f.ok for f in findings)


def summary(findings: list[Finding]) -> str:
    segments = sum(f.kind == "segment" for f in findings)
    recordings = len({f.path for f in findings if f.kind == "recording"})
    logs = len({f.path for f in findings if f.kind == "audit"})
    checked = (f"{segments} segment(s), {recordings} recording(s), {logs} audit log(s) "
               f"checked: ")
    if not findings:
        return "nothing to verify"
    if intact(findings):
        return checked + "all intact"
    counts = Counter(f.status for f in findings if not f.ok)
    return checked + f"{sum(counts.values())} problem(s): " + ", ".join(
        f"{n} {status}" for status, n in sorted(counts.items()))


def table(findings: list[Finding]) -> str:
    header = ("STATUS", "REASON", "CHECK", "ITEM")
    rows = [(f.status.upper(), f.code, f.kind, f.path, f.detail) for f in findings]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["  ".join(f"{cell:<{w}}" for cell, w in zip((*r[:4],), widths, strict=True))
             + f"  {r[4]}" for r in [(*header, "DETAIL"), *rows]]
    return "\n".join([*lines, summary(findings)])


def as_json(findings: list[Finding]) -> str:
    return json.dumps({"intact": intact(findings), "summary": summary(findings),
                       "findings": [asdict(f) for f in findings]}, indent=2)
