"""Export for court or a subject-access request: one playable MP4 plus the evidence to check it.

The selection is one recording, or every recording of one device that overlaps a time window.
Whole recordings are exported: the segment is the unit the device signed and the recording the
unit of its hash chain, so anything smaller could not be verified.

The zip holds:

- ``export.mp4``: the segments' packets remuxed in order into one MP4 (PyAV, no re-encoding;
  each segment's timestamps start at 0, so each is shifted to follow the one before), carrying
  the store's C2PA Content Credentials;
- ``devices/DEVICE_ID/device.pub.pem`` and ``devices/DEVICE_ID/recordings/REC/…`` the original
  segments, manifests and signatures, laid out like a camera's data directory so
  ``bodycam verify devices/DEVICE_ID`` (or sha256sum and openssl) checks them;
- ``plaintext/REC/NAME.mp4`` for each encrypted segment (docs/FORMAT.md, "Encryption at
  rest"): the store decrypts at export, with the force's key (``STORE_DIR/force.key.pem``),
  and checks each against the plaintext SHA-256 the device signed, so ``sha256sum`` checks it
  against the manifest; the originals beside the manifests stay the ciphertext the device
  signed, so they verify as always;
- ``c2pa-ca.pem`` the force CA that ``export.mp4``'s C2PA Content Credentials chain to
  (:mod:`store.c2pa_sign`);
- ``report.json`` (findings of the verifier, where each segment sits in ``export.mp4``, flags and
  receipts, and each recording's timeline: where the pre-event footage ends and the recording
  was started, every marker with its note, every gap, each at its time in ``export.mp4``) with
  ``report.json.sig``, signed by the store key in ``store.pub.pem``; ``transparency_leaf_index``
  names the export's leaf in the store's public log.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from evidence.crypt import CryptError, decrypt_segment, load_force_private_key
from evidence.fsutil import durable_rename, open_private, private_dir
from evidence.identity import public_pem
from evidence.layout import Layout
from evidence.manifest import (
    Manifest,
    ManifestError,
    manifest_path,
    sha256_file,
    signature_path,
)
from evidence.timeline import recording_timeline
from evidence.verify import verify
from store.c2pa_sign import sign_export
from store.errors import StoreError, bad_request, not_found

if TYPE_CHECKING:
    from store.service import Store

EXPORT_MP4 = "export.mp4"
#: The force's RSA private key, when the store decrypts encrypted footage at export.
FORCE_PRIVATE_KEY = "force.key.pem"
PLAINTEXT = "plaintext"
REPORT = "report.json"
REPORT_FORMAT = "bodycam.export-report"


def select(store: Store, recording_id: str | None = None, device_id: str | None = None,
           since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
    """The recordings to export, oldest first; refuses an empty or an unbounded selection."""
    if recording_id:
        found = store.find_recording(recording_id, device_id)
        recordings = [store.recording(*found)]
    elif device_id and since and until:
        recordings = store.recordings(device_id, since, until)
    else:
        raise bad_request("export needs a recording id, or a device id with a window "
                          "(from and to)")
    deleted = [r["recording_id"] for r in recordings if r["deleted_utc"]]
    if deleted:
        raise StoreError(410, f"recording {deleted[0]} was deleted by retention")
    if not recordings:
        raise not_found("no footage from that device in that window")
    return recordings


def export(store: Store, out: Path, **selection: str | None) -> dict[str, Any]:
    """Write the export zip to ``out`` (durably, by rename); return the report."""
    recordings = select(store, **selection)
    private_dir(store.exports_dir)
    with tempfile.TemporaryDirectory(dir=store.exports_dir) as tmp:
        work = Path(tmp)
        segments = _copy_originals(store, recordings, work)
        _check_same_picture(segments)
        offsets = remux(_playable(store, work, segments), work / EXPORT_MP4)
        c2pa = sign_export(store, work / EXPORT_MP4, segments)  # before its hash is taken
        findings = verify([work / "devices"])
        digest, size = sha256_file(work / EXPORT_MP4)
        timeline = export_timeline(work, segments, offsets)
        leaf = store.tlog.export(  # logged before the zip exists (store/transparency.py)
            store.now_utc(), out.name, digest,
            [[r["device_id"], r["recording_id"]] for r in recordings],
            [s["manifest_sha256"] for s in segments])
        report = {
            "format": REPORT_FORMAT, "version": 1, "store_id": store.store_id,
            "created_utc": store.now_utc(), "selection": selection,
            "export_mp4": {"file": EXPORT_MP4, "sha256": digest, "size": size,
                           "frame_count": sum(s["frame_count"] for s in segments),
                           "method": "the original segments' H.264 packets, remuxed in order "
                                     "without re-encoding"},
            "c2pa": c2pa,
            "recordings": recordings,
            "segments": [{**{k: v for k, v in s.items() if k != "path"},
                          "export_offset_s": round(float(offset), 6)}
                         for s, offset in zip(segments, offsets, strict=True)],
            "timeline": timeline,
            "markers": [m for m in timeline if m["kind"] == "marker"],
            "findings": [_in_zip(asdict(f), work) for f in findings],
            "all_verified": bool(findings) and all(f.ok for f in findings),
            "transparency_leaf_index": leaf,
        }
        raw = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
        (work / REPORT).write_bytes(raw)
        (work / (REPORT + ".sig")).write_bytes(store.private_key.sign(raw))
        (work / "store.pub.pem").write_bytes(public_pem(store.public_key))
        _zip(work, out)
    store.audit.append("export", selection=selection, file=out.name,
                       export_mp4_sha256=digest,
                       recordings=[[r["device_id"], r["recording_id"]] for r in recordings],
                       all_verified=report["all_verified"])
    return report


def _in_zip(finding: dict[str, Any], work: Path) -> dict[str, Any]:
    """A finding naming files as the zip holds them (``devices/ID/…``), not in the build
    folder, which is deleted once the zip is written."""
    root = str(work) + os.sep
    path = Path(finding["path"])
    if path.is_relative_to(work):
        finding["path"] = path.relative_to(work).as_posix()
    finding["detail"] = finding["detail"].replace(root, "")
    return finding


def _playable(store: Store, work: Path, segments: list[dict[str, Any]]) -> list[Path]:
    """Each segment as an MP4 to remux: the original, or (encrypted) its plaintext, decrypted
    here with the force key and checked against the device's signed plaintext hash. The store
    keeps the ciphertext it received (its receipts name those bytes): plaintext exists only in
    the export."""
    playable = []
    key = None
    for seg in segments:
        mp4 = work / seg["path"]
        manifest = Manifest.from_bytes(manifest_path(mp4).read_bytes(), mp4.name)
        if manifest.encryption is None:
            playable.append(mp4)
            continue
        if key is None:
            try:
                key = load_force_private_key(store.directory / FORCE_PRIVATE_KEY)
            except CryptError as exc:
                raise StoreError(422, f"{seg['recording_id']} is encrypted and the store cannot "
                                      f"decrypt it: {exc}") from None
        out = work / PLAINTEXT / seg["recording_id"] / mp4.name
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            seg["plaintext_sha256"] = decrypt_segment(mp4, manifest.encryption, key, out)
        except CryptError as exc:
            raise StoreError(422, f"{mp4.name}: {exc}") from None
        seg["plaintext"] = out.relative_to(work).as_posix()
        playable.append(out)
    return playable


def _copy_originals(store: Store, recordings: list[dict[str, Any]],
                    work: Path) -> list[dict[str, Any]]:
    """Copy segments, manifests and signatures out of the object store, in playing order."""
    segments = []
    for rec in recordings:
        device_id, recording_id = rec["device_id"], rec["recording_id"]
        device_dir = work / "devices" / device_id
        folder = device_dir / Layout.RECORDINGS / recording_id
        folder.mkdir(parents=True, exist_ok=True)
        key = store.device_key(device_id)
        assert key is not None
        (device_dir / "device.pub.pem").write_bytes(public_pem(key))
        rows = store.catalogue.all(
            "SELECT * FROM segments WHERE device_id = ? AND recording_id = ? AND deleted_utc IS "
            "NULL ORDER BY segment_index", device_id, recording_id)
        for row in rows:
            mp4 = folder / row["file"]
            store.objects.copy_to(row["sha256"], mp4)
            store.objects.copy_to(row["manifest_sha256"], manifest_path(mp4))
            signature_path(mp4).write_bytes(row["signature"])
            segments.append({
                "path": str(mp4.relative_to(work)), "device_id": device_id,
                "recording_id": recording_id, "segment_index": row["segment_index"],
                "file": row["file"], "sha256": row["sha256"],
                "manifest_sha256": row["manifest_sha256"], "start_utc": row["start_utc"],
                "end_utc": row["end_utc"], "frame_count": row["frame_count"],
                "width": row["width"], "height": row["height"],
                "stored_utc": row["stored_utc"]})
    return segments


def export_timeline(work: Path, segments: list[dict[str, Any]],
                    offsets: list[Fraction]) -> list[dict[str, Any]]:
    """Every recording's marks (:mod:`evidence.timeline`), each also at its time in
    ``export.mp4`` (``export_at_s``, and ``export_to_s`` for an interval), in playing order."""
    by_recording: dict[tuple[str, str], list[tuple[dict[str, Any], Fraction]]] = {}
    for seg, offset in zip(segments, offsets, strict=True):
        by_recording.setdefault((seg["device_id"], seg["recording_id"]), []).append((seg, offset))
    marks = []
    for (device_id, recording_id), placed in by_recording.items():
        manifests = []
        for seg, _ in placed:
            try:
                manifest: Manifest | None = Manifest.from_bytes(
                    manifest_path(work / seg["path"]).read_bytes())
            except ManifestError:  # the findings say so; its segment has no marks
                manifest = None
            manifests.append((seg["file"], manifest))
        for mark in recording_timeline(manifests)["marks"]:
            seg, offset = placed[mark["segment"]]
            shift = float(offset) - (mark["at_s"] - mark["segment_s"])
            marks.append({"device_id": device_id, "recording_id": recording_id,
                          "segment_index": seg["segment_index"], "file": seg["file"],
                          **{k: v for k, v in mark.items() if k != "segment"},
                          "export_at_s": round(float(offset) + mark["segment_s"], 3),
                          **({"export_to_s": round(mark["to_s"] + shift, 3)}
                             if "to_s" in mark else {})})
    return sorted(marks, key=lambda m: m["export_at_s"])


def _check_same_picture(segments: list[dict[str, Any]]) -> None:
    sizes = {(s["width"], s["height"]) for s in segments}
    if len(sizes) > 1:
        raise StoreError(422, "the selected recordings differ in picture size "
                              f"({', '.join(f'{w}x{h}' for w, h in sorted(sizes))}); export "
                              "them one recording at a time")


def remux(inputs: list[Path], output: Path) -> list[Fraction]:
    """Concatenate segments' video packets, and their sound where they have it, into one MP4;
    return each one's start in seconds.

    A segment's timestamps start at 0, so each is shifted by the end of the one before (the
    last video packet's presentation time plus its duration), computed in seconds so segments
    with different time bases still line up. Both tracks of a segment get the same shift, so
    its sound stays with its picture; a segment's sound may run a packet past its last frame,
    and the overlap with the next segment's first sound packet is dropped (the muxer takes no
    timestamps going back)."""
    offsets: list[Fraction] = []
    offset_s = Fraction(0)
    with av.open(str(output), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        ostream = osound = None
        sound_end = None  # the end of the sound written so far, in seconds
        for index, path in enumerate(inputs):
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                sound = container.streams.audio[0] if container.streams.audio else None
                if ostream is None:
                    ostream = out.add_stream_from_template(stream)
                    if sound is not None and index == 0:  # a track exists from the start
                        osound = out.add_stream_from_template(sound)
                tb = stream.time_base
                if tb is None:
                    raise StoreError(422, f"{path.name}: video stream without a time base")
                end = round(offset_s / tb)
                wanted = [stream] + ([sound] if sound is not None and osound is not None else [])
                for packet in container.demux(wanted):
                    if packet.dts is None or packet.stream.time_base is None:
                        continue  # the demuxer's end-of-stream marker
                    shift = round(offset_s / packet.stream.time_base)
                    packet.pts = (packet.pts if packet.pts is not None else packet.dts) + shift
                    packet.dts += shift
                    if packet.stream.index == stream.index:
                        end = max(end, packet.pts + (packet.duration or 0))
                        packet.stream = ostream
                    else:
                        atb = packet.stream.time_base
                        if sound_end is not None and packet.dts * atb < sound_end:
                            continue
                        sound_end = (packet.dts + (packet.duration or 0)) * atb
                        packet.stream = osound
                    out.mux(packet)
                offsets.append(offset_s)
                offset_s = end * tb
    return offsets


def _zip(work: Path, out: Path) -> None:
    """Zip ``work`` (video stored as is: it does not compress) to ``out`` via a temporary."""
    tmp = out.with_name(out.name + ".tmp")
    with open_private(tmp) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            for path in sorted(work.rglob("*")):
                if path.is_file():
                    compress = zipfile.ZIP_DEFLATED if path.suffix in (".json", ".pem") else None
                    z.write(path, path.relative_to(work).as_posix(),
                            compress_type=compress or zipfile.ZIP_STORED)
        f.flush()
        os.fsync(f.fileno())
    durable_rename(tmp, out)

