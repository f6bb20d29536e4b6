"""The verifier: segments, recordings, audit logs and how they agree. It only ever reads.

For every path given (segment files, recording folders, data directories) it checks each
segment on its own (:mod:`segment_check`), each recording whose folder was given as a whole
(:mod:`chain`), each audit log (:func:`evidence.audit.verify_log`) and, for each data directory
given as a whole, the log against the footage (:mod:`crosscheck`) and against the store's
receipts (:mod:`anchor`). Keys: the data directory's own, or the enrolled ones; the store key
pinned in one place (:mod:`keyring`). A camera's data directory given whole must hold its audit
log and its identity. Findings carry a status and a reason code (:mod:`findings`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.anchor import check_log_anchor, unlogged_upload, upload_entries
from evidence.audit import AUDIT_LOG, AuditReport, verify_log
from evidence.bounded import Refused, kind_of
from evidence.chain import check_recording
from evidence.crosscheck import check_log_against_footage
from evidence.findings import Finding, finding
from evidence.identity import (
    IDENTITY,
    PRIVATE_KEY,
    PUBLIC_KEY,
    verify_signature,
)
from evidence.kept import RECEIPT_SUFFIX
from evidence.keyring import (
    SIGNATURE_LENGTH,
    DataDir,
    KeyRing,
    data_dir_of,
    load_data_dir,
)
from evidence.layout import Layout
from evidence.numbering import check_numbering
from evidence.segment_check import Segment, check_segment, recording_hint

__all__ = ["SIGNATURE_LENGTH", "Finding", "KeyRing", "verify"]

#: Every file of a segment ``NAME.mp4``, by how its name ends.
SEGMENT_FILES = Layout.segment_files()


@dataclass
class _Camera:
    """What was found of one data directory."""

    home: DataDir
    log: Path | None = None
    #: recording id -> file name -> verified segment of this camera, in its place
    footage: dict[str, dict[str, Segment]] = field(default_factory=lambda: defaultdict(dict))
    #: recording id (as the folder or name claims) -> segment file names present
    present: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: recording id -> its verified segments in place / names of those that failed a check
    chains: dict[str, list[Segment]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: recording id -> the folder its first segment was found in
    folders: dict[str, Path] = field(default_factory=dict)
    #: segments whose MP4 left the camera with a receipt: (index of their finding, segment,
    #: recording claimed), for the audit log to vouch for
    released: list[tuple[int, Segment, str]] = field(default_factory=list)


def verify(paths: list[Path], keys: KeyRing | None = None,
           store_key: Path | Ed25519PublicKey | None = None) -> list[Finding]:
    """Check everything under ``paths``; one finding per item and problem. ``store_key``
    (``--store-key``): the store key receipts must verify with, instead of the pinned one
    (docs/FORMAT.md); a file that is not one raises IdentityError."""
    ring = (keys or KeyRing()).with_store_key(store_key)
    roots = [p.absolute() for p in paths if p.is_dir()]

    def whole(folder: Path) -> bool:
        folder = folder.absolute()
        return any(folder == r or r in folder.parents for r in roots)

    cameras: dict[Path, _Camera] = {}

    def camera(root: Path) -> _Camera:
        if root not in cameras:
            cameras[root] = _Camera(replace(load_data_dir(root), store=ring.store_key_for(root)))
        return cameras[root]

    found = _collect(paths)
    findings: list[Finding] = _strays(found)
    for mp4 in sorted(found.segments):
        cam = camera(data_dir_of(mp4))
        checked = check_segment(mp4, cam.home, ring)
        findings.append(checked.finding)
        claimed = recording_hint(mp4) or ""
        cam.present[claimed].add(mp4.name)
        cam.folders.setdefault(claimed, mp4.parent)
        if checked.finding.status not in ("ok", "interrupted", "error"):
            cam.failed[claimed].append(mp4.name)  # not a power cut, not an unusable key
        if checked.chainable and checked.segment is not None:
            rec = checked.segment.manifest.recording_id
            cam.chains[rec].append(checked.segment)
            cam.footage[rec][mp4.name] = checked.segment
            if checked.finding.code in ("uploaded", "no_store_key"):
                cam.released.append((len(findings) - 1, checked.segment, claimed))
    for key in found.keys:
        root = data_dir_of(key)
        if root != key.parent:
            findings.append(finding("key", key, "nested_data_dir",
                                    f"a device key inside the data directory {root}: the "
                                    f"files beside it are checked as {root}'s"))
    for log in found.logs:
        camera(log.parent.parent if log.parent.name == AUDIT_LOG.parent.name
               else log.parent).log = log
    _stripped_cameras(roots, cameras, camera)
    for root, cam in sorted(cameras.items()):
        own, records = _check_camera(root, cam, ring, whole(root))
        if records is not None or (whole(root) and is_camera_dir(root)):
            _vouch_for_uploads(findings, cam, records or [])
        for rec in sorted(set(cam.chains) | set(cam.failed)):
            folder = cam.folders.get(rec)
            if rec and folder is not None and whole(folder):
                findings.extend(check_recording(folder, rec, cam.chains[rec], cam.failed[rec]))
        findings.extend(own)
        if whole(root):
            findings.extend(check_numbering(root, cam.log, set(cam.present) | set(cam.footage),
                                            records or []))
    return findings


#: What a camera's data directory holds that a folder of segments (or a store export's device
#: folder) does not. Any one of them makes it a camera's: then its audit log and its identity
#: must be there too, whatever else is missing.
CAMERA_FILES = (Layout.RECORDINGS, AUDIT_LOG.parent, IDENTITY, PRIVATE_KEY.parent,
                Layout.COUNTER.parent)
#: Of those, what only a camera that has run has (a provisioned one has its key and identity).
RUN_FILES = (Layout.RECORDINGS, AUDIT_LOG.parent, Layout.COUNTER.parent)
#: A store export lays out each device's footage as ``devices/DEVICE_ID/`` (store/export.py).
EXPORT_DEVICES = "devices"


def is_export_device_folder(root: Path) -> bool:
    """``devices/DEVICE_ID`` of a store export: the device's key and its recordings, nothing
    of a camera's own (no log, identity, private key, state or receipts: the store never
    has them)."""
    if root.parent.name != EXPORT_DEVICES or not (root / PUBLIC_KEY).is_file():
        return False
    if load_data_dir(root).device_id != root.name or any(
            (root / name).exists() for name in CAMERA_FILES if name != Layout.RECORDINGS):
        return False
    # an export holds every MP4 it lists: a receipt in place of one is a camera's
    return not any((root / Layout.RECORDINGS).glob(f"*/*{RECEIPT_SUFFIX}"))


def is_camera_dir(root: Path) -> bool:
    """Is ``root`` a camera's data directory (rather than loose segments or an export)?"""
    return not is_export_device_folder(root) and any(
        (root / name).exists() for name in CAMERA_FILES)


def _stripped_cameras(roots: list[Path], cameras: dict[Path, _Camera],
                      camera: Any) -> None:
    """A data directory given whole with neither footage nor log left in it is still
    checked (for its log and identity), if it shows that the camera ran."""
    known = {root.resolve() for root in cameras}
    for root in roots:
        if root.resolve() not in known and any((root / name).exists() for name in RUN_FILES) \
                and is_camera_dir(root):
            camera(root)


def _vouch_for_uploads(findings: list[Finding], cam: _Camera,
                       records: list[dict[str, Any]]) -> None:
    """An MP4 gone with a store receipt must also have the ``upload_receipt`` entry the camera
    writes before deleting; else the segment is not uploaded (docs/DOCKING.md)."""
    entries = upload_entries(records)
    for index, segment, claimed in cam.released:
        why = unlogged_upload(entries, segment)
        if why is not None:
            if not records:
                why = "no readable audit log vouches for it"
            findings[index] = finding("segment", segment.mp4, "receipt_not_in_log",
                                      f"{segment.mp4.name} is gone with a store receipt, but "
                                      f"{why}")
            cam.failed[claimed].append(segment.mp4.name)


def _strays(found: _Found) -> list[Finding]:
    """Links and special files among the recordings, and folders that could not be read."""
    findings = [finding("file", path, "not_a_file", f"{what}, not a regular file: not followed")
                for path, what in found.strays]
    findings.extend(finding("file", path, "unreadable", f"cannot list it: {why}")
                    for path, why in found.unlisted)
    return findings


@dataclass
class _Found:
    """What a walk of the paths found, each once however many of the paths lead to it."""

    segments: list[Path] = field(default_factory=list)  # as NAME.mp4, whichever file was found
    logs: list[Path] = field(default_factory=list)
    keys: list[Path] = field(default_factory=list)  # every device.pub.pem below a given folder
    #: symlinks and special files in recordings that are no evidence file: (path, what it is)
    strays: list[tuple[Path, str]] = field(default_factory=list)
    #: folders that could not be listed: (path, why)
    unlisted: list[tuple[Path, str]] = field(default_factory=list)


def _collect(paths: list[Path]) -> _Found:
    """Walk the paths without following a symlink inside them (a loop, or a link out of the
    data directory, is reported, not entered) and without de-duplicating by what a link points
    to: a link is an item of its own, so the file it names is never blamed for it."""
    found = _Found()
    seen: set[str] = set()

    def add(bucket: list[Path], item: Path) -> None:
        key = os.path.abspath(item)
        if key not in seen:
            seen.add(key)
            bucket.append(item)

    def classify(f: Path, regular: bool) -> bool:
        """File ``f`` as a segment's or log file; False if its name is neither."""
        if f.name == AUDIT_LOG.name:
            add(found.logs, f)
            return True
        if f.name == PUBLIC_KEY.name:
            add(found.keys, f)
            return True
        for ending in SEGMENT_FILES:
            if f.name.endswith(ending):
                add(found.segments, f.with_name(f.name[: -len(ending)] + Layout.MP4))
                return True
        return regular

    for path in paths:
        if not path.is_dir():
            classify(path, True)
            continue
        stack = [path]
        while stack:
            folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                found.unlisted.append((folder, exc.strerror or str(exc)))
                continue
            for entry in entries:
                f = Path(entry.path)
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    regular = entry.is_file(follow_symlinks=False)
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError as exc:
                    found.unlisted.append((f, exc.strerror or str(exc)))
                    continue
                if is_dir:
                    stack.append(f)
                    if f.name == AUDIT_LOG.name or any(f.name.endswith(e)
                                                       for e in SEGMENT_FILES):
                        classify(f, False)  # a folder named like evidence: checked, refused
                    continue
                if not classify(f, regular) and _in_evidence(path, f):
                    what = kind_of(mode)
                    if entry.is_symlink():
                        what += f" to {_link_target(f)}"
                    found.strays.append((f, what))
    return found


def _in_evidence(root: Path, f: Path) -> bool:
    """Is ``f`` (found below ``root``) footage's or the log's place, where the camera writes
    only regular files and folders: ``recordings/`` or ``audit/`` (or themselves), or a
    recording's folder? (``control.sock`` beside them is the daemon's socket.)"""
    parts = (root.name, *f.relative_to(root).parts)
    return (Layout.RECORDINGS.name in parts or AUDIT_LOG.parent.name in parts
            or Layout.RECORDING_ID.fullmatch(f.parent.name) is not None)


def _link_target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _check_camera(root: Path, cam: _Camera, ring: KeyRing,
                  whole: bool) -> tuple[list[Finding], list[dict[str, Any]] | None]:
    """The key (against the enrolled ones), the identity, the audit log, the log against the
    footage and against the store's receipts. Also returns the log's entries (None: no log)."""
    findings = []
    home = cam.home
    camera_dir = whole and is_camera_dir(root)
    if camera_dir:
        findings.extend(_check_identity(root, home))
    if ring.enrolled is not None and home.key is not None and (whole or cam.log):
        findings.append(
            finding("key", home.key_file, "ok", f"the key enrolled for {home.device_id}")
            if ring.is_enrolled(home.key) else
            finding("key", home.key_file, "unenrolled", f"this data directory's key (device "
                                                        f"{home.device_id}) is not enrolled"))
    if cam.log is None:
        if camera_dir:
            findings.append(finding("audit", root / AUDIT_LOG, "no_audit_log",
                                    "a camera's data directory without its audit log"))
        return findings, None
    audit, report = _check_audit(cam.log, home, ring, _footage_device(cam))
    findings.extend(audit)
    if report is None:
        return findings, None
    findings.extend(check_log_anchor(cam.log, root, home, report.records))
    if whole:
        findings.extend(check_log_against_footage(cam.log, report.records, cam.footage,
                                                  cam.present))
    return findings, report.records


def _check_identity(root: Path, home: DataDir) -> list[Finding]:
    """A camera's data directory holds its identity: identity.json and device.pub.pem (both
    are made at provisioning and never removed)."""
    missing = [str(name) for name in (IDENTITY, PUBLIC_KEY) if not (root / name).exists()]
    if missing:
        return [finding("key", root / IDENTITY, "no_identity", f"a camera's data directory "
                                                               f"without its "
                                                               f"{' and '.join(missing)}")]
    return []


def _footage_device(cam: _Camera) -> str | None:
    """With the data directory's key gone: the one device its verified footage is of."""
    devices = {seg.manifest.device_id for segs in cam.footage.values() for seg in segs.values()}
    return devices.pop() if len(devices) == 1 else None


def _check_audit(log: Path, home: DataDir, ring: KeyRing,
                 device_id: str | None = None) -> tuple[list[Finding], AuditReport | None]:
    key = (ring.key_for(home.device_id or device_id) if ring.enrolled is not None
           else home.key)
    try:
        report = verify_log(log, None if key is None else
                            lambda sig, data: verify_signature(key, sig, data))
    except Refused as exc:
        return [finding("audit", log, exc.code, f"{log.name} is {exc.strerror}: not read")], None
    except OSError as exc:
        return [finding("audit", log, "unreadable", f"cannot read it: {exc.strerror}")], None
    findings = []
    if key is None:
        code, why = ((home.problem_code, home.problem) if home.key is None else
                     ("unenrolled", f"this data directory's key (device {home.device_id}) is "
                                    f"not enrolled: the log's signatures cannot be checked"))
        findings.append(finding("audit", log, code, why))
    by_code: dict[str, list[str]] = defaultdict(list)
    for issue in report.issues:
        by_code[issue.code].append(issue.text)
    for code, texts in by_code.items():
        count = max(len(texts), report.counts[code])
        more = f" (and {count - 1} more)" if count > 1 else ""
        findings.append(finding("audit", log, code, texts[0] + more))
    if not findings:
        notes = "".join(f"; {note}" for note in report.notes)
        findings.append(finding("audit", log, "ok", f"audit log: {report.entries} entries, "
                                                    f"{report.checkpoints} checkpoint(s), "
                                                    f"chain and signatures intact{notes}"))
    return findings, report
