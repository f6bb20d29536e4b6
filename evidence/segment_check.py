"""Checking one segment on its own: its files, its signature, where it sits, its bytes.

A segment whose manifest verified is returned for the chain and the audit log to be checked
with, even when its MP4 does not match (the manifest is still the device's word). One that was
renamed or moved in from elsewhere is reported here and kept out of any chain, so it cannot make
the recording it was taken from look damaged.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from evidence.bounded import Refused, digest_regular, not_regular, read_head, read_regular
from evidence.crypt import CryptError, check_plaintext
from evidence.findings import Finding, finding
from evidence.kept import kept_receipt
from evidence.keyring import SIGNATURE_LENGTH, DataDir, KeyRing, authenticate
from evidence.layout import Layout
from evidence.manifest import (
    MAX_MANIFEST,
    Manifest,
    ManifestError,
    manifest_path,
    signature_path,
    utc_time,
)
from evidence.pending import examine

#: Timestamps are cut to the millisecond, so neighbours may seem to overlap by one.
TIME_SLACK = timedelta(milliseconds=1)
#: Failures that leave the manifest trustworthy and in its place: the chain still uses it.
CHAINABLE = {"ok", "recovered", "uploaded", "no_store_key", "unreadable", "missing_file",
             "size_mismatch", "hash_mismatch", "time_backwards", "other_force_key",
             "bad_wrapped_key", "wrapped_key_swapped", "plaintext_mismatch"}


@dataclass(frozen=True)
class Segment:
    """A segment whose manifest verified with a trusted key."""

    mp4: Path
    manifest: Manifest
    manifest_sha256: str


@dataclass(frozen=True)
class Checked:
    finding: Finding
    segment: Segment | None = None

    @property
    def chainable(self) -> bool:
        return self.segment is not None and self.finding.code in CHAINABLE


def _exists(path: Path) -> bool:
    """Something is there (a symlink counts, even a dangling one)."""
    return os.path.lexists(path)


def recording_hint(mp4: Path) -> str | None:
    """The recording a file claims by its folder or name (untrusted: for attributing failures)."""
    for name in (mp4.parent.name, mp4.name):
        match = Layout.RECORDING_ID.match(name)
        if match:
            return match.group(0)
    return None


def check_segment(mp4: Path, home: DataDir, ring: KeyRing) -> Checked:
    manifest_file, sig_file = manifest_path(mp4), signature_path(mp4)
    part = Layout.part(mp4)

    def bad(code: str, detail: str, segment: Segment | None = None) -> Checked:
        return Checked(finding("segment", mp4, code, detail), segment)

    for path in (mp4, manifest_file, sig_file, part):
        try:
            why = not_regular(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return bad("unreadable", f"cannot look at {path.name}: {exc.strerror}")
        if why is not None:  # the camera writes regular files only; never read through it
            return bad("not_a_file", f"{path.name} is {why}")
    if not _exists(mp4) and _exists(part):
        return bad(*_interrupted(mp4, part, home, ring))
    if not _exists(manifest_file):
        return bad("no_manifest", f"no manifest {manifest_file.name}")
    if not _exists(sig_file):
        return bad("no_signature", f"no signature {sig_file.name}")
    try:
        raw = read_regular(manifest_file, MAX_MANIFEST)
        # One byte more than a signature is enough to tell a longer file is none.
        signature = read_head(sig_file, SIGNATURE_LENGTH + 1)
    except Refused as exc:
        return bad(exc.code, f"{Path(exc.filename).name}: {exc.strerror}")
    except OSError as exc:
        return bad("unreadable", f"cannot read {Path(exc.filename or mp4).name}: "
                                 f"{exc.strerror}")
    manifest: Manifest | None = None
    invalid = ""
    try:
        manifest = Manifest.from_bytes(raw, manifest_file.name)
    except ManifestError as exc:
        invalid = str(exc)
    signer = authenticate(ring, home, raw, signature, manifest.device_id if manifest else None)
    if signer.device_id is None:
        where = "" if signer.code in ("no_key", "bad_key") else f"{sig_file.name}: "
        return bad(signer.code, where + signer.detail)
    if manifest is None:
        return bad("manifest_invalid", f"signed, but {invalid}")
    segment = Segment(mp4, manifest, hashlib.sha256(raw).hexdigest())
    problem = (_placement(mp4, manifest, signer.device_id, home)
               or _content(mp4, manifest, home, segment.manifest_sha256)
               or _plaintext(mp4, manifest, ring))
    if problem is not None:
        return bad(*problem, segment=segment)
    code = "recovered" if manifest.recovered else "ok"
    aside = (manifest.recovery or {}).get("unverified_bytes")
    return bad(code, f"{manifest.recording_id} #{manifest.segment_index}: "
                     f"{manifest.frame_count} frames, {manifest.duration_s:.1f} s from "
                     f"{manifest.start_utc}" + (", recovered after power loss"
                                                if manifest.recovered else "")
               + f"; tracks: {_tracks(manifest)}"
               + (f"; {aside} bytes found after its last fragment signature were set aside in "
                  f"{manifest.recovery.get('unverified_file')}, unverified"
                  if aside and manifest.recovery else ""), segment)


def _plaintext(mp4: Path, manifest: Manifest, ring: KeyRing) -> tuple[str, str] | None:
    """With the force's key (``--force-key``): does an encrypted segment decrypt to the
    plaintext the device signed? Without it the ciphertext's signed hash is all there is."""
    if manifest.encryption is None or ring.force_key is None:
        return None
    try:
        check_plaintext(mp4, manifest.encryption, ring.force_key)
    except CryptError as exc:
        return exc.code, str(exc)
    except OSError as exc:
        return "unreadable", f"cannot read {mp4.name}: {exc.strerror}"
    return None


def _tracks(manifest: Manifest) -> str:
    """The segment's tracks as its signed manifest names them (the verifier opens no media):
    the picture, and the sound with its muted spans, when there is sound."""
    video = f"{manifest.codec} video"
    sound = manifest.audio
    if not sound:
        return f"{video} only"
    muted = sound.get("muted")
    spans = len(muted) if isinstance(muted, list) else 0
    text = (f"{video}, {str(sound.get('codec'))[:16]} audio {str(sound.get('rate'))[:8]} Hz "
            f"{str(sound.get('channels'))[:2]} ch")
    if spans:
        text += f" ({spans} muted span{'s' if spans > 1 else ''})"
    if sound.get("sound_from_s"):
        text += f", sound from {str(sound.get('sound_from_s'))[:12]} s"
    return text


def _interrupted(mp4: Path, part: Path, home: DataDir, ring: KeyRing) -> tuple[str, str]:
    """A ``.part``: do its signed pending record and fragment log (evidence/pending.py)
    still match it, or was it edited after the camera stopped?"""
    stopped = f"{part.name}: the camera stopped while writing it"
    if ring.enrolled is None and home.key is None:
        return "part_file", f"{stopped}; the daemon recovers it at its next start"

    def valid(signature: bytes, data: bytes, claimed: str | None) -> bool:
        signer = authenticate(ring, home, data, signature, claimed).device_id
        return signer is not None and signer == claimed

    state = examine(mp4, part, Layout.pending(mp4), valid)
    if state.problem:
        return "part_tampered", f"{stopped}, and since then {state.problem}"
    if state.record is None:
        return "part_file", f"{stopped}; {state.unsigned}, so recovery leaves it as it is"
    return "part_file", (f"{stopped}; {state.signed_end} bytes were signed as they landed: the "
                         f"daemon recovers those at its next start")


def _placement(mp4: Path, manifest: Manifest, signer: str,
               home: DataDir) -> tuple[str, str] | None:
    """Is the segment where its device put it: this camera, this recording, this name?"""
    if manifest.device_id != signer:
        return "device_mismatch", (f"manifest names device {manifest.device_id}, signed by "
                                   f"{signer}'s key")
    if home.device_id is not None and signer != home.device_id:
        return "foreign_device", (f"segment of device {signer} in the data directory of "
                                  f"{home.device_id}")
    if manifest.file != mp4.name:
        return "misplaced", f"renamed: its manifest describes {manifest.file}"
    folder = mp4.parent.name
    if Layout.RECORDING_ID.fullmatch(folder) and folder != manifest.recording_id:
        return "foreign_recording", (f"segment of recording {manifest.recording_id} in the "
                                     f"folder of {folder}")
    return None


def _content(mp4: Path, manifest: Manifest, home: DataDir,
             manifest_sha256: str) -> tuple[str, str] | None:
    """Are the MP4's bytes and the manifest's times what the device signed?"""
    try:
        # Never more than the signed size (and one byte) is read: a larger file is a mismatch.
        digest, size = digest_regular(mp4, manifest.size)
    except FileNotFoundError:
        # docs/DOCKING.md: gone with a receipt from the pinned store key (the verifier checks
        # the audit log's upload_receipt entry for it as well)
        code, note = kept_receipt(mp4, manifest, home.store, manifest_sha256)
        if code == "uploaded":
            return code, f"{mp4.name} is in the evidence store ({note})"
        if code == "no_store_key":
            return code, f"{mp4.name} left the camera; {note}"
        return code, f"{mp4.name} is missing; its manifest and signature are here ({note})"
    except Refused as exc:
        return exc.code, f"{mp4.name} is {exc.strerror}"
    except OSError as exc:
        return "unreadable", f"cannot read {mp4.name}: {exc.strerror}"
    if size != manifest.size:
        return "size_mismatch", f"{size} bytes, its manifest says {manifest.size}"
    if digest != manifest.sha256:
        return "hash_mismatch", "SHA-256 of the MP4 differs from its manifest"
    try:
        start, end = utc_time(manifest.start_utc), utc_time(manifest.end_utc)
    except ManifestError as exc:
        return "manifest_invalid", str(exc)
    if end < start:
        return "time_backwards", f"ends ({manifest.end_utc}) before it starts"
    return None
