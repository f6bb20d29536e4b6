"""The verifier: checks segments, their signatures and their chains, and never modifies them.

Every finding names the segment and the reason. Statuses:

- ``ok``: hash, size, signature and chain position all check out;
- ``uploaded``: the MP4 left the camera after the store's receipt for exactly those bytes; the
  manifest, its signature and the receipt stay (docs/DOCKING.md). Counts as ok;
- ``tampered``: something does not match what the device signed;
- ``unsigned``: footage with no manifest or no signature;
- ``unterminated``: a recording whose last segment is missing (possible power loss: not proof of
  tampering, but not complete either);
- ``interrupted``: a ``.part`` file the daemon has not recovered yet.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from device.audit import AUDIT_LOG, verify_log
from device.evidence.identity import (
    PUBLIC_KEY,
    IdentityError,
    device_id_for,
    load_public_key,
    verify_signature,
)
from device.evidence.manifest import (
    MANIFEST_SUFFIX,
    Manifest,
    ManifestError,
    sha256_file,
    signature_path,
)
from device.upload.records import kept_receipt

SIGNATURE_LENGTH = 64


@dataclass(frozen=True)
class Finding:
    path: str
    status: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "uploaded")


@dataclass
class _Segment:
    mp4: Path
    manifest: Manifest
    manifest_sha: str


def find_key(path: Path) -> Path | None:
    """The nearest ``device.pub.pem`` at or above ``path``: the data directory's public key."""
    for folder in [path, *path.parents] if path.is_dir() else path.parents:
        candidate = folder / PUBLIC_KEY
        if candidate.is_file():
            return candidate
    return None


def _collect(paths: list[Path]) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """Manifests, bare MP4s, .part files and audit logs named by ``paths``."""
    manifests, mp4s, parts, logs = set(), set(), set(), set()
    for path in paths:
        if path.is_dir():
            manifests.update(path.rglob("*.mp4" + MANIFEST_SUFFIX))
            mp4s.update(path.rglob("*.mp4"))
            parts.update(path.rglob("*.mp4.part"))
            logs.update(path.rglob(AUDIT_LOG.name))
        elif path.name == AUDIT_LOG.name:
            logs.add(path)
        elif path.name.endswith(".mp4" + MANIFEST_SUFFIX):
            manifests.add(path)
        elif path.name.endswith(".mp4"):
            mp4s.add(path)
            manifests.add(path.with_name(path.name + MANIFEST_SUFFIX))
        elif path.name.endswith(".part"):
            parts.add(path)
    return sorted(manifests), sorted(mp4s), sorted(parts), sorted(logs)


def verify(paths: list[Path]) -> list[Finding]:
    """Check every segment under ``paths``; one finding per segment (and per recording problem)."""
    findings: list[Finding] = []
    manifests, mp4s, parts, logs = _collect(paths)
    recordings: dict[tuple[str, str], list[_Segment]] = defaultdict(list)
    for manifest_file in manifests:
        mp4 = manifest_file.with_name(manifest_file.name[: -len(MANIFEST_SUFFIX)])
        segment, finding = _check_segment(mp4, manifest_file)
        findings.append(finding)
        if segment is not None and finding.ok:
            recordings[(segment.manifest.device_id, segment.manifest.recording_id)].append(segment)
    signed = {m.with_name(m.name[: -len(MANIFEST_SUFFIX)]) for m in manifests}
    for mp4 in mp4s:
        if mp4 not in signed:
            findings.append(Finding(str(mp4), "unsigned", "no manifest next to this MP4"))
    for part in parts:
        findings.append(Finding(str(part), "interrupted",
                                "segment was being written when the camera stopped; the daemon "
                                "recovers it at its next start"))
    for (_, recording_id), segments in sorted(recordings.items()):
        findings.extend(_check_chain(recording_id, segments))
    findings.extend(_check_audit(log) for log in logs)
    return findings


def _check_audit(path: Path) -> Finding:
    key_file = find_key(path.parent)
    if key_file is None:
        return Finding(str(path), "unsigned", "no device.pub.pem found to check the log with")
    try:
        key = load_public_key(key_file)
    except IdentityError as exc:
        return Finding(str(path), "tampered", str(exc))
    report = verify_log(path, lambda sig, data: verify_signature(key, sig, data))
    if not report.ok:
        return Finding(str(path), "tampered", "; ".join(report.problems))
    notes = "; ".join(report.notes)
    return Finding(str(path), "ok", f"audit log: {report.entries} entries, {report.checkpoints} "
                                    f"checkpoint(s)" + (f"; {notes}" if notes else ""))


def _check_segment(mp4: Path, manifest_file: Path) -> tuple[_Segment | None, Finding]:
    name = str(mp4)

    def bad(status: str, detail: str) -> tuple[None, Finding]:
        return None, Finding(name, status, detail)

    try:
        raw = manifest_file.read_bytes()
    except FileNotFoundError:
        return bad("unsigned", f"manifest {manifest_file.name} is missing")
    try:
        manifest = Manifest.from_bytes(raw, manifest_file.name)
    except ManifestError as exc:
        return bad("tampered", str(exc))
    key_file = find_key(mp4.parent)
    if key_file is None:
        return bad("unsigned", "no device.pub.pem found above this segment to check it against")
    try:
        key = load_public_key(key_file)
    except IdentityError as exc:
        return bad("tampered", str(exc))
    sig_file = signature_path(mp4)
    try:
        signature = sig_file.read_bytes()
    except FileNotFoundError:
        return bad("unsigned", f"signature {sig_file.name} is missing")
    if len(signature) != SIGNATURE_LENGTH or not verify_signature(key, signature, raw):
        return bad("tampered", f"signature {sig_file.name} does not match the manifest "
                               f"and key {key_file}")
    if manifest.device_id != device_id_for(key):
        return bad("tampered", f"manifest names device {manifest.device_id}, key belongs to "
                               f"{device_id_for(key)}")
    if manifest.file != mp4.name:
        return bad("tampered", f"manifest describes {manifest.file}, not {mp4.name}")
    if not mp4.exists():
        uploaded, note = kept_receipt(mp4, manifest)
        if not uploaded:
            return bad("tampered", f"the MP4 the manifest describes is missing; {note}")
        return _Segment(mp4, manifest, hashlib.sha256(raw).hexdigest()), Finding(
            name, "uploaded", f"{manifest.recording_id} #{manifest.segment_index}: in the "
                              f"evidence store" + (f" ({note})" if note else ""))
    digest, size = sha256_file(mp4)
    if size != manifest.size:
        return bad("tampered", f"size {size} bytes, manifest says {manifest.size}")
    if digest != manifest.sha256:
        return bad("tampered", "SHA-256 of the MP4 does not match the manifest")
    detail = (f"{manifest.recording_id} #{manifest.segment_index}: {manifest.frame_count} "
              f"frames, {manifest.duration_s:.1f} s, {manifest.start_utc}")
    segment = _Segment(mp4, manifest, hashlib.sha256(raw).hexdigest())
    return segment, Finding(name, "ok", detail)


def _check_chain(recording_id: str, segments: list[_Segment]) -> list[Finding]:
    findings: list[Finding] = []
    segments.sort(key=lambda s: s.manifest.segment_index)
    by_index: dict[int, _Segment] = {}
    for seg in segments:
        if seg.manifest.segment_index in by_index:
            findings.append(Finding(str(seg.mp4), "tampered",
                                    f"duplicate segment index {seg.manifest.segment_index} in "
                                    f"recording {recording_id}"))
        by_index[seg.manifest.segment_index] = seg
    prev: _Segment | None = None
    for index in range(max(by_index) + 1):
        seg = by_index.get(index)
        if seg is None:
            findings.append(Finding(recording_id, "tampered",
                                    f"recording {recording_id}: segment {index} is missing"))
            prev = None
            continue
        expected = None if index == 0 else (prev.manifest_sha if prev else "unknown")
        if expected != "unknown" and seg.manifest.prev_manifest_sha256 != expected:
            findings.append(Finding(str(seg.mp4), "tampered",
                                    f"chain broken: previous-manifest hash does not match "
                                    f"segment {index - 1}" if index else
                                    "first segment claims a predecessor"))
        prev = seg
    final = by_index[max(by_index)]
    if not final.manifest.last:
        findings.append(Finding(recording_id, "unterminated",
                                f"recording {recording_id}: no last segment after "
                                f"#{final.manifest.segment_index} (possible power loss)"))
    return findings
