"""Recovering segments interrupted by a power cut or a crash, at the daemon's next start.

An interrupted segment is a ``NAME.mp4.part``: a fragmented MP4 whose last fragment may be torn,
with its signed pending record and fragment log (``evidence/pending.py``). Recovery
vouches only for what the camera signed before the cut: every fragment whose landing was signed
is kept, so at most the fragment being built is lost (one keyframe interval: a second by
default), and nothing is deleted:

1. the pending record, the fragment log and the ``.part`` are checked against each other
   (:func:`evidence.pending.examine`); if a signature is contradicted (the record
   edited or put back from elsewhere, signed bytes replaced or cut, the log removed), nothing
   is signed: every file stays as it is and the failure is reported;
2. the bytes after the last signed landing (a torn write, or anything appended since) are saved
   to ``NAME.mp4.torn`` first, then cut from the ``.part``: kept, never vouched for;
3. the frames are counted by demuxing what remains, and a manifest is written from the pending
   record with ``recovered: true`` and ``last: true`` (the recording ended there) and a
   ``recovery`` object (signed bytes and fragments, the unverified bytes set aside), signed,
   and the ``.part`` renamed into place.

A ``.part`` whose manifest was already written (a crash between signing and renaming) is just
renamed; records left beside a segment already in place are dropped. When not one fragment
landed (or the ``.part`` was never created), the bytes there are kept in ``.torn`` and the
recording is closed by a zero-frame segment saying so. A ``.part`` with no usable (signed)
pending record cannot be described, so it stays where it is and is reported.
Each step is idempotent, so a crash during recovery is recovered by the next start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from device.location import segment_track
from device.pipeline.audio import AudioSettings
from device.pipeline.segments import (
    EDGE_GAP,
    PART_SUFFIX,
    PENDING_SUFFIX,
    RecordingInfo,
    audio_fields,
    build_manifest,
    drop_pending,
    mp4_boxes,
    pending_path,
    publish,
    write_terminator,
)
from device.recordings import recordings_dir
from evidence.bounded import Refused, open_regular, read_regular
from evidence.fsutil import atomic_write, durable_rename
from evidence.identity import DeviceIdentity, verify_signature
from evidence.manifest import (
    MAX_MANIFEST,
    Manifest,
    ManifestError,
    Marker,
    check_encoding,
    check_officer,
    manifest_path,
    sha256_file,
    signature_path,
)
from evidence.pending import FRAGMENT_LOG_SUFFIX, examine
from evidence.utc import utc_iso, utc_seconds

TORN_SUFFIX = ".torn"


@dataclass(frozen=True)
class Recovered:
    file: str
    recording_id: str
    frames: int
    kept_bytes: int
    torn_bytes: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.detail


def complete_prefix(data: bytes) -> int:
    """Length of the playable prefix of a fragmented MP4: through the last ``mdat`` that follows
    a ``moof``, or through ``moov`` when no fragment is complete; 0 when there is no ``moov``."""
    end, seen_moov, after_moof = 0, False, False
    for kind, offset in mp4_boxes(data):
        if kind == b"moov":
            seen_moov, end = True, offset
        elif kind == b"moof":
            after_moof = True
        elif kind == b"mdat" and after_moof and seen_moov:
            end, after_moof = offset, False
    return end if seen_moov else 0


def count_frames(path: Path) -> tuple[int, int]:
    """(frames, last pts + 1) of the video stream in a (possibly fragment-short) MP4."""
    frames, span = 0, 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                frames += 1
                span = max(span, int(packet.pts * packet.time_base * stream.average_rate) + 1
                           if stream.average_rate else frames)
    return frames, span


def count_audio(path: Path, rate: int) -> dict[str, Any]:
    """What the sound track of a (fragment-short) MP4 holds, for its recovered manifest:
    packets, seconds, the first sample's offset and the gaps between packets."""
    packets, samples, first, end = 0, 0, None, 0
    gaps: list[dict[str, float]] = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return {"packets": 0, "duration_s": 0.0, "first_s": 0.0, "gaps": []}
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            pts = round(packet.pts * packet.time_base * rate)
            length = int(packet.duration or 1024)
            if first is None:
                first = pts
            elif pts - end >= length // 2:
                gaps.append({"from_s": round(end / rate, 6), "to_s": round(pts / rate, 6)})
            end = pts + length
            packets += 1
            samples += length
    if first is not None and first >= EDGE_GAP:
        gaps.insert(0, {"from_s": 0.0, "to_s": round(first / rate, 6)})
    return {"packets": packets, "duration_s": round(samples / rate, 6),
            "first_s": round((first or 0) / rate, 6), "gaps": gaps}


def signed_sound(landed: Any, rate: int) -> dict[str, Any]:
    """:func:`count_audio`'s answer for an encrypted segment, from its fragment log's last
    vouching line (the camera's count of the sound landed, signed): the ciphertext is never
    decrypted. A line without it (older firmware) or not as the camera writes it: no sound
    counted, rather than a guess."""
    none = {"packets": 0, "duration_s": 0.0, "first_s": 0.0, "gaps": []}
    try:
        packets, samples, first = (int(landed[k]) for k in ("packets", "samples", "first"))
        gaps = [{"from_s": round(int(a) / rate, 6), "to_s": round(int(b) / rate, 6)}
                for a, b in landed["gaps"]]
    except (TypeError, KeyError, ValueError):
        return none
    if packets and first >= EDGE_GAP:
        gaps.insert(0, {"from_s": 0.0, "to_s": round(first / rate, 6)})
    return {"packets": packets, "duration_s": round(samples / rate, 6),
            "first_s": round(first / rate, 6) if packets else 0.0, "gaps": gaps}


def find_interrupted(data_dir: Path) -> list[Path]:
    """Every interrupted segment (a ``.part``, or only its pending record when the power went
    before the file was created), as the final ``NAME.mp4`` path it should get."""
    found = {p.with_name(p.name[: -len(suffix)])
             for suffix in (PART_SUFFIX, PENDING_SUFFIX, FRAGMENT_LOG_SUFFIX)
             for p in recordings_dir(data_dir).glob("*/*.mp4" + suffix)
             if not p.parent.is_symlink()}  # a linked folder is not this camera's to write
    return sorted(found)


def recover_segment(mp4: Path, identity: DeviceIdentity, force_key: Any = None) -> Recovered:
    """Recover one interrupted segment (the module's docstring). An encrypted one is never
    decrypted: its fragment log's signed lines give its plaintext's hash, frames and span
    up to the cut, and the ciphertext is cut there (CTR: any prefix is a valid one)."""
    part = mp4.with_name(mp4.name + PART_SUFFIX)
    recording_id = mp4.parent.name
    if manifest_path(mp4).exists() and signature_path(mp4).exists():
        # signed, not renamed (or renamed, its pending record not yet dropped): finish it
        existing = Manifest.from_bytes(read_regular(manifest_path(mp4), MAX_MANIFEST),
                                      mp4.name)
        if part.exists() and sha256_file(part)[0] == existing.sha256:
            durable_rename(part, mp4)
        if not part.exists() and mp4.exists() and sha256_file(mp4)[0] == existing.sha256:
            drop_pending(mp4)  # published: what it left beside it is no longer needed
            return Recovered(mp4.name, recording_id, existing.frame_count, existing.size, 0)
    if mp4.exists() and not part.exists():  # never write over footage in place
        return Recovered(mp4.name, recording_id, 0, 0, 0,
                         f"{mp4.name} is in place but not as a signed manifest describes it; "
                         f"its pending record is left as it is")
    state = examine(mp4, part, pending_path(mp4), lambda sig, data, _: verify_signature(
        identity.public_key, sig, data))
    pending = state.record
    if pending is None:
        return Recovered(mp4.name, recording_id, 0, 0, 0,
                         f"{state.problem or state.unsigned}; left as .part")
    data = _read_part(part) if part.exists() else b""
    keep = state.signed_end  # a whole box boundary: the camera signs whole boxes only
    torn = data[keep:]
    aside = mp4.with_name(mp4.name + TORN_SUFFIX)
    if torn:
        _set_aside(aside, torn)  # kept, never dropped, never vouched for
        with open(part, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    info = _info(pending, mp4, identity, force_key)
    header = pending.get("encryption")
    recovery = _recovery(data[:keep], aside, state.line if header is not None else None)
    if keep == 0:  # not one fragment landed: close the recording with a zero-frame segment
        start = float(pending["start_wall"])
        gap = {"from_utc": utc_iso(start), "to_utc": utc_iso(start),
               "reason": "power lost before the segment's first fragment was written"}
        write_terminator(info, int(pending["segment_index"]), pending["prev_manifest_sha256"],
                         bytes.fromhex(pending.get("extradata", "")), start,
                         (*pending["gaps"], gap), recovered=True, recovery=recovery)
        return Recovered(mp4.name, info.recording_id, 0, 0, len(torn))
    encryption = None
    if header is not None:  # counted by the camera as the fragments landed, and signed
        line = state.line or {}
        frames, span = int(line.get("frames", 0)), int(line.get("span", 0))
        encryption = {**header, "plaintext_sha256": line.get("plain_sha256"),
                      "plaintext_size": keep}
    else:
        try:
            frames, span = count_frames(part)
        except (av.error.FFmpegError, IndexError) as exc:
            return Recovered(mp4.name, recording_id, 0, keep, len(torn),
                             f"kept fragments do not demux ({exc}); left as .part")
    fps = info.fps
    markers = tuple(Marker(utc, round(t - pending["start_mono"], 3), note)
                    for t, utc, note in pending["markers"])
    digest, size = sha256_file(part)
    audio = None
    if info.audio is not None:  # the sound kept, up to the same last whole fragment
        start = float(pending["start_mono"])
        counts = (count_audio(part, info.audio.rate) if header is None
                  else signed_sound((state.line or {}).get("audio"), info.audio.rate))
        audio = audio_fields(info.audio, start, start + span / fps, pending.get("mutes", []),
                             pending.get("sound_from"), **counts)
    manifest = build_manifest(
        info, int(pending["segment_index"]), pending["prev_manifest_sha256"], mp4,
        digest=digest, size=size, start_wall=float(pending["start_wall"]), frames=frames,
        duration_s=span / fps, markers=markers, gaps=tuple(pending["gaps"]), last=True,
        recovered=True, audio=audio, encryption=encryption,
        encoding=_encoding(pending, span / fps))
    if isinstance(pending.get("location"), list):  # the looks at the receiver, signed
        manifest = dataclasses.replace(manifest, **_track(pending, manifest))
    publish(info, mp4, dataclasses.replace(manifest, recovery=recovery))
    return Recovered(mp4.name, info.recording_id, frames, keep, len(torn))


def _encoding(pending: dict[str, Any], kept_s: float) -> tuple[dict[str, Any], ...] | None:
    """The encoder's settings per interval, as the pending record last noted them, cut to the
    ``kept_s`` seconds that landed; None when it noted none (older records) or its list is
    not one a manifest may carry (the segment is recovered without it, not refused)."""
    entries = pending.get("encoding")
    if entries is None:
        return None
    try:
        check_encoding({"encoding": entries}, "pending record")
    except ManifestError:
        return None
    return tuple(e for e in entries if e["from_s"] == 0 or e["from_s"] < kept_s)


def _track(pending: dict[str, Any], manifest: Manifest) -> dict[str, Any]:
    """The recovered segment's ``track`` and ``no_fix`` from its pending record's looks at
    the receiver; none (the fields absent) if they are not as the camera writes them."""
    try:
        looks = [(float(t), float(wall), entry if isinstance(entry, dict) else None)
                 for t, wall, entry in pending["location"]]
        track, no_fix = segment_track(looks, float(pending["start_mono"]),
                                      float(pending["start_wall"]),
                                      utc_seconds(manifest.end_utc))
        checked = dataclasses.replace(manifest, track=track, no_fix=no_fix)
        Manifest.from_bytes(checked.to_bytes(), manifest.file)  # as the verifier will read it
    except (TypeError, ValueError):
        return {}
    return {"track": track, "no_fix": no_fix}


def _set_aside(aside: Path, torn: bytes) -> None:
    """Save ``torn`` in ``aside``, or beside it as ``.torn.1``, ``.torn.2`` … when an earlier
    attempt already set other bytes aside there (a recovery cut while writing its terminator
    segment): nothing set aside is ever overwritten."""
    candidate, n = aside, 0
    while candidate.exists():
        if candidate.read_bytes() == torn:
            return  # this attempt's bytes, saved before it was cut
        n += 1
        candidate = aside.with_name(f"{aside.name}.{n}")
    atomic_write(candidate, torn)


def _recovery(signed: bytes, aside: Path, line: dict[str, Any] | None) -> dict[str, Any]:
    """The recovered manifest's account of what was signed and what was set aside unverified
    (the aside file may be from an earlier attempt that crashed after saving it). Encrypted
    (``line``: the fragment log's last vouching line), the signed fragments are the camera's
    count, and the unverified ones cannot be counted without the key (null)."""
    unverified = aside.read_bytes() if aside.exists() else b""
    encrypted = line is not None
    return {"signed_bytes": len(signed),
            "signed_fragments": int(line.get("fragments", 0)) if line is not None else sum(
                kind == b"moof" for kind, _ in mp4_boxes(signed)),
            "unverified_bytes": len(unverified),
            "unverified_fragments": None if encrypted else sum(
                kind == b"moof" for kind, _ in mp4_boxes(unverified)),
            "unverified_file": aside.name if unverified else None,
            "unverified_sha256": hashlib.sha256(unverified).hexdigest() if unverified else None}


def _info(pending: dict[str, Any], mp4: Path, identity: DeviceIdentity,
          force_key: Any = None) -> RecordingInfo:
    sound = pending.get("audio")
    return RecordingInfo(
        audio=None if sound is None else AudioSettings(
            str(sound["codec"]), int(sound["rate"]), int(sound["channels"]),
            int(sound["bitrate_kbps"])),
        recording_id=pending["recording_id"], directory=mp4.parent, reason=pending["reason"],
        identity=identity, codec="h264", width=int(pending["width"]),
        height=int(pending["height"]), fps=int(pending["fps"]),
        clock_set=bool(pending["clock_set"]), pre_event_s=float(pending["pre_event_s"]),
        force_key=force_key, officer=_officer(pending.get("officer")))


def _officer(officer: Any) -> dict[str, Any] | str | None:
    """The pending record's ``officer``, if it is one a manifest may carry (else left out)."""
    try:
        check_officer(officer, "pending officer")
    except ManifestError:
        return None
    return officer


def find_unfinished(data_dir: Path) -> list[Path]:
    """Recordings whose newest segment is not their last and that have nothing in progress:
    the power went between closing one segment and opening the next."""
    unfinished = []
    for folder in sorted(p for p in recordings_dir(data_dir).glob("*")
                         if p.is_dir() and not p.is_symlink()):
        if any(folder.glob("*" + PART_SUFFIX)) or any(folder.glob("*" + PENDING_SUFFIX)):
            continue
        manifests = sorted(folder.glob("*.mp4.json"))
        if manifests:
            try:
                newest = Manifest.from_bytes(read_regular(manifests[-1], MAX_MANIFEST),
                                             manifests[-1].name)
            except (OSError, ValueError):
                continue  # not the camera's: the verifier reports it; recovery leaves it be
            if not newest.last:
                unfinished.append(manifests[-1])
    return unfinished


def terminate(manifest_file: Path, identity: DeviceIdentity, force_key: Any = None) -> Recovered:
    """Close an unfinished recording with a zero-frame, recovered segment after its newest."""
    raw = read_regular(manifest_file, MAX_MANIFEST)
    newest = Manifest.from_bytes(raw, manifest_file.name)
    mp4 = manifest_file.with_name(newest.file)
    if newest.device_id != identity.device_id:
        return Recovered(newest.file, newest.recording_id, 0, 0, 0,
                         f"recorded by {newest.device_id}, not this device; left as it is")
    extradata = b""  # an encrypted segment's stream headers are not readable without the key
    if newest.encryption is None:
        with av.open(str(mp4)) as container:
            extradata = bytes(container.streams.video[0].codec_context.extradata or b"")
    info = RecordingInfo(
        recording_id=newest.recording_id, directory=mp4.parent, reason=newest.reason,
        identity=identity, codec=newest.codec, width=newest.width, height=newest.height,
        fps=int(newest.fps), clock_set=newest.clock_set, force_key=force_key,
        officer=newest.officer)
    end = utc_seconds(newest.end_utc)
    gap = {"from_utc": newest.end_utc, "to_utc": newest.end_utc,
           "reason": "power lost between two segments"}
    manifest, _ = write_terminator(info, newest.segment_index + 1, hashlib.sha256(raw).hexdigest(),
                                   extradata, end, (gap,), recovered=True)
    return Recovered(manifest.file, newest.recording_id, 0, 0, 0)


def recover_all(data_dir: Path, identity: DeviceIdentity,
                force_key: Any = None) -> list[Recovered]:
    """Every interrupted segment, then every recording cut between segments (closing
    segments encrypted to ``force_key`` when encryption is on)."""
    results = [_safely(recover_segment, mp4, identity, force_key)
               for mp4 in find_interrupted(data_dir)]
    return results + [_safely(terminate, m, identity, force_key)
                      for m in find_unfinished(data_dir)]


def _safely(recover: Callable[[Path, DeviceIdentity, Any], Recovered], path: Path,
            identity: DeviceIdentity, force_key: Any = None) -> Recovered:
    """Whatever was put in place of an interrupted segment's files (a FIFO, a record with
    fields missing or of the wrong type), the camera still boots: the files are left as they
    are, and the audit log says why."""
    try:
        return recover(path, identity, force_key)
    except (Refused, ValueError, KeyError, TypeError, av.error.FFmpegError) as exc:
        # (any other OSError is the card's: the daemon retries when it recovers)
        why = str(exc).splitlines()[0][:200] if str(exc) else ""
        return Recovered(path.name, path.parent.name, 0, 0, 0,
                         f"cannot recover it ({exc.__class__.__name__}: {why}); left as it is")


def _read_part(part: Path) -> bytes:
    """A .part's bytes, if it is a regular file (a FIFO would block the boot forever)."""
    with open_regular(part) as f:
        return f.read()
