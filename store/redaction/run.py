"""One redaction, from device-signed sources to ``redacted.mp4`` + ``derivation.json`` + its
signature (see the package docstring). The sources are a store export (zip or unpacked), any
folder laid out like one (``devices/ID/device.pub.pem``, ``devices/ID/recordings/REC/…``), or
one recording copied out of the store; they must verify against their device signatures first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.fsutil import atomic_write, durable_rename
from evidence.identity import IdentityError, fingerprint, load_public_key, public_pem
from evidence.manifest import Manifest, ManifestError, manifest_path, sha256_file
from evidence.verify import verify
from store.errors import StoreError
from store.export import remux
from store.redaction import RedactionError
from store.redaction.blur import Pixelate
from store.redaction.derivation import DERIVATION, FORMAT, REDACTED_MP4, VERSION, to_bytes
from store.redaction.detector import Box, FaceDetector
from store.redaction.media import Writer, frames, guarded, read_sound, silence_range
from store.redaction.plan import Plan
from store.redaction.tracker import Tracker

if TYPE_CHECKING:
    from store.service import Store

#: Finding statuses a source may have: intact, or a recording whose end never arrived (what is
#: there is still device-signed; the derivation names exactly what was used).
USABLE = {"ok", "unterminated"}


@dataclass
class Source:
    mp4: Path
    manifest: Manifest
    manifest_sha256: str
    device_key_sha256: str


@contextmanager
def unpacked(source: Path) -> Iterator[Path]:
    """The sources folder: ``source`` itself, or a store export zip unpacked to a temporary."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise RedactionError(f"{source}: no such export zip or folder")
    with tempfile.TemporaryDirectory(prefix="bodycam-redact-") as tmp:
        try:
            with zipfile.ZipFile(source) as z:
                for name in z.namelist():
                    parts = PurePosixPath(name).parts
                    if name.startswith("/") or ".." in parts or "\\" in name:
                        raise RedactionError(f"{source}: refusing zip member {name!r} (outside "
                                             "the export)")
                unpacked_size = sum(info.file_size for info in z.infolist())
                if unpacked_size > shutil.disk_usage(tmp).free:
                    raise RedactionError(f"{source}: unpacks to {unpacked_size:,} bytes, more "
                                         "than the free disk space")
                z.extractall(tmp)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise RedactionError(f"{source}: not a readable export zip ({exc})") from None
        yield Path(tmp)


def collect_sources(root: Path) -> list[Source]:
    """The device-signed segments under ``root``, checked, in playing order."""
    devices = sorted(p for p in (root / "devices").glob("*") if p.is_dir())
    mp4s = sorted(p for d in devices for p in d.glob("recordings/*/*.mp4"))
    if not mp4s:
        raise RedactionError(f"{root}: no source segments (expected devices/ID/recordings/REC/"
                             "*.mp4, as a store export holds)")
    bad = [f for f in verify(devices) if f.status not in USABLE]
    if bad:
        f = bad[0]
        where = os.path.relpath(f.path, root) if os.path.isabs(f.path) else f.path
        raise RedactionError(f"the sources do not verify ({f.code}: {where}: {f.detail}); only "
                             "device-signed footage is redacted")
    out = []
    for mp4 in mp4s:
        device_dir = mp4.parent.parent.parent
        try:
            raw = manifest_path(mp4).read_bytes()
            manifest = Manifest.from_bytes(raw, mp4.name)
            key = load_public_key(device_dir / "device.pub.pem")
        except (OSError, ManifestError, IdentityError) as exc:
            raise RedactionError(f"{mp4.name}: {exc}") from None
        out.append(Source(mp4, manifest, hashlib.sha256(raw).hexdigest(), fingerprint(key)))
    out.sort(key=lambda s: (s.manifest.start_utc, s.manifest.recording_id,
                            s.manifest.segment_index))
    sizes = {(s.manifest.width, s.manifest.height) for s in out}
    if len(sizes) > 1:
        raise RedactionError("the sources differ in picture size; redact one recording at a "
                             "time")
    return out


@contextmanager
def from_store(store: Store, recording_id: str, device_id: str | None = None
               ) -> Iterator[Path]:
    """One stored recording's segments copied out as an export lays them out."""
    from store.export import _copy_originals, select

    try:
        recordings = select(store, recording_id=recording_id, device_id=device_id)
    except StoreError as exc:
        raise RedactionError(str(exc)) from None
    store.exports_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.exports_dir) as tmp:
        _copy_originals(store, recordings, Path(tmp))
        yield Path(tmp)


def _runs(per_frame: dict[tuple[Any, ...], dict[int, Box]]) -> list[dict[str, Any]]:
    """Frame-by-frame boxes as ranges of consecutive frames with the same box."""
    out = []
    for key, boxes in per_frame.items():
        start = prev = None
        for f in sorted(boxes):
            if start is not None and f == prev + 1 and boxes[f] == boxes[start]:
                prev = f
                continue
            if start is not None:
                out.append({**dict(key), "frames": [start, prev], "box": list(boxes[start])})
            start = prev = f
        if start is not None:
            out.append({**dict(key), "frames": [start, prev], "box": list(boxes[start])})
    return sorted(out, key=lambda r: (r["frames"][0], r["box"]))


def redact(sources_root: Path, plan: Plan, out_dir: Path, private_key: Ed25519PrivateKey,
           store_id: str, now_utc: str, detector: FaceDetector | None = None,
           tracker: Tracker | None = None, method: Pixelate | None = None) -> dict[str, Any]:
    """Write ``out_dir``/redacted.mp4, derivation.json(.sig) and store.pub.pem; return the
    derivation. ``out_dir`` must not hold a redaction already."""
    if (out_dir / DERIVATION).exists() or (out_dir / REDACTED_MP4).exists():
        raise RedactionError(f"{out_dir} already holds a redacted copy; choose another --out")
    sources = collect_sources(sources_root)
    first = sources[0].manifest
    # the signed manifests' totals: refuse a plan outside the footage before decoding anything
    plan.check(sum(s.manifest.frame_count for s in sources), first.width, first.height,
               sum(s.manifest.duration_s for s in sources) + 1.0)
    detector = detector or FaceDetector()
    tracker = tracker or Tracker()
    method = method or Pixelate()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".redacting-") as tmp:
            return _redact(Path(tmp), sources, plan, out_dir, private_key, store_id, now_utc,
                           detector, tracker, method)
    except OSError as exc:
        raise RedactionError(f"{exc.filename or out_dir}: {exc.strerror}") from None


def _redact(work: Path, sources: list[Source], plan: Plan, out_dir: Path,
            private_key: Ed25519PrivateKey, store_id: str, now_utc: str,
            detector: FaceDetector, tracker: Tracker, method: Pixelate) -> dict[str, Any]:
    joined = work / "joined.mp4"
    try:
        offsets = remux([s.mp4 for s in sources], joined)
    except (StoreError, av.error.FFmpegError, IndexError) as exc:
        raise RedactionError(f"cannot read the sources' video: {exc or 'no video stream'}"
                             ) from None
    # pass 1: find faces, and learn the footage's length
    times: list[float] = []
    width, height = sources[0].manifest.width, sources[0].manifest.height
    for picture in frames(joined):
        times.append(picture.time_s)
        height, width = picture.image.shape[:2]  # what was decoded, whatever was claimed
        if plan.auto:
            tracker.update(picture.index, detector.detect(picture.image))
    if not times:
        raise RedactionError("the sources hold no video frames")
    fps = sources[0].manifest.fps
    step = 1 / fps if fps > 0 else 0.0
    duration = times[-1] + step
    plan.check(len(times), width, height, duration)
    auto = tracker.boxes(len(times)) if plan.auto else {}
    sound = read_sound([s.mp4 for s in sources], offsets, duration)
    silenced = []
    for s in plan.silence:
        a, b = silence_range(sound, s.from_s, min(s.to_s, duration))
        silenced.append({"from_s": s.from_s, "to_s": s.to_s, "silenced_from_s": round(a, 6),
                         "silenced_to_s": round(b, 6)})
    # pass 2: redact and encode
    blurred: dict[tuple[Any, ...], dict[int, Box]] = {}
    sharp: dict[tuple[Any, ...], dict[int, Box]] = {}
    adds = [(i, op) for i, op in enumerate(plan.boxes) if op.op == "add"]
    exempt = [(i, op) for i, op in enumerate(plan.boxes) if op.op != "add"]
    mp4 = work / REDACTED_MP4
    writer = guarded("cannot write the redacted MP4",
                     lambda: Writer(mp4, width, height, fps, sound))
    for picture in frames(joined):
        image = np.array(picture.image)
        f = picture.index
        for track_id, box in auto.get(f, []):
            by = next((i for i, op in exempt if op.covers(f, box)), None)
            grown = method.grow(box, width, height)
            if by is not None:
                sharp.setdefault((("track", track_id), ("by_operation", by)), {})[f] = grown
                continue
            method.apply(image, grown)
            blurred.setdefault((("source", "auto"), ("track", track_id)), {})[f] = grown
        for i, op in adds:
            if op.first <= f <= op.last:
                method.apply(image, op.box)
                blurred.setdefault((("source", "reviewer"), ("operation", i)), {})[f] = (
                    op.box)
        guarded("cannot encode the redacted MP4", lambda p=picture, im=image: writer.add(p, im))
    guarded("cannot finish the redacted MP4", writer.close)
    digest, size = sha256_file(mp4)
    starts = [float(o) for o in offsets]
    entries = []
    for i, s in enumerate(sources):
        end = starts[i + 1] if i + 1 < len(starts) else float("inf")
        mine = [n for n, t in enumerate(times) if starts[i] - 1e-6 <= t < end - 1e-6]
        m = s.manifest
        entries.append({
            "device_id": m.device_id, "device_key_sha256": s.device_key_sha256,
            "recording_id": m.recording_id, "segment_index": m.segment_index,
            "file": m.file, "sha256": m.sha256, "size": m.size,
            "manifest_sha256": s.manifest_sha256, "start_utc": m.start_utc,
            "offset_s": round(starts[i], 6),
            "frames": [mine[0], mine[-1]] if mine else None})
    derivation = {
        "format": FORMAT, "version": VERSION, "store_id": store_id, "created_utc": now_utc,
        "reviewer": plan.reviewer,
        "output": {"file": REDACTED_MP4, "sha256": digest, "size": size,
                   "frame_count": len(times), "width": width, "height": height,
                   "duration_s": round(duration, 6), **writer.describe(),
                   "sound": "the sources' sound, silenced where listed" if sound.from_source
                            else "silence (the sources have no sound)"},
        "sources": entries,
        "automatic": ({"detector": detector.describe(), "tracker": tracker.describe()}
                      if plan.auto else None),
        "method": method.describe(),
        "operations": plan.operations(),
        "blurred": _runs(blurred),
        "left_sharp": _runs(sharp),
        "silenced": silenced,
    }
    raw = to_bytes(derivation)
    durable_rename(mp4, out_dir / REDACTED_MP4)
    atomic_write(out_dir / "store.pub.pem", public_pem(private_key.public_key()))
    atomic_write(out_dir / (DERIVATION + ".sig"), private_key.sign(raw))
    atomic_write(out_dir / DERIVATION, raw)  # last: its presence means the copy is whole
    return derivation


def redact_in_store(store: Store, source: Path | None, recording_id: str | None,
                    device_id: str | None, plan: Plan, out_dir: Path) -> dict[str, Any]:
    """Redact an export or a stored recording, signed by ``store``; the audit log records it."""
    if (source is None) == (recording_id is None):
        raise RedactionError("name an export (zip or folder) or --recording, not both")
    if source is not None:
        with unpacked(source) as root:
            derivation = redact(root, plan, out_dir, store.private_key, store.store_id,
                                store.now_utc())
    else:
        assert recording_id is not None
        with from_store(store, recording_id, device_id) as root:
            derivation = redact(root, plan, out_dir, store.private_key, store.store_id,
                                store.now_utc())
    sources = [s["manifest_sha256"] for s in derivation["sources"]]
    store.tlog.export(store.now_utc(), out_dir.name, derivation["output"]["sha256"],
                      [list(r) for r in sorted({(s["device_id"], s["recording_id"])
                                                for s in derivation["sources"]})], sources,
                      redacted=True)
    store.audit.append("redaction", reviewer=plan.reviewer, out=str(out_dir),
                       redacted_mp4_sha256=derivation["output"]["sha256"],
                       sources=[s["manifest_sha256"] for s in derivation["sources"]],
                       operations=len(derivation["operations"]))
    return derivation


__all__ = ["collect_sources", "redact", "redact_in_store", "unpacked"]
