"""Writing one segment: a self-contained fragmented MP4, fsynced as it grows, then signed.

Life of a segment ``NAME.mp4``:

1. at open, ``NAME.mp4.part.json`` records what is already known (recording, index, previous
   manifest's hash, start time, markers so far), written durably: recovery needs it if the power
   goes;
2. packets are muxed (PyAV, no re-encoding) into ``NAME.mp4.part`` as fragmented MP4, a fragment
   per keyframe interval; the file is fsynced whenever a fragment lands and at least every
   ``fsync_interval_s``, so a power cut loses at most the fragment being built;
3. on close the muxer is finished and the file fsynced; the manifest and its signature are
   written (each durably); ``NAME.mp4.part`` is renamed to ``NAME.mp4``, the directory fsynced,
   and the pending record dropped.

A ``.part`` found at start is an interrupted segment: ``device/pipeline/recovery.py``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from device.evidence.identity import DeviceIdentity
from device.evidence.manifest import Manifest, Marker, sha256_file, write_signed_manifest
from device.fsutil import atomic_write, durable_rename, fsync, open_stream
from device.pipeline.packets import EncodedPacket, parameter_sets
from hal.clock import utc_iso

PART_SUFFIX = ".part"
PENDING_SUFFIX = ".part.json"
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


@dataclass
class RecordingInfo:
    """What every segment of one recording shares."""

    recording_id: str
    directory: Path
    reason: str
    identity: DeviceIdentity
    codec: str
    width: int
    height: int
    fps: int
    clock_set: bool
    pre_event_s: float = 0.0
    #: (capture time, UTC, note) of each marker the officer set during the recording.
    markers: list[tuple[float, str, str]] = field(default_factory=list)

    def segment_path(self, index: int) -> Path:
        return self.directory / f"{self.recording_id}-S{index:04d}.mp4"


def part_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + PART_SUFFIX)


def pending_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name + PENDING_SUFFIX)


def build_manifest(info: RecordingInfo, index: int, prev: str | None, mp4: Path, *,
                   digest: str, size: int, start_wall: float, frames: int, duration_s: float,
                   markers: tuple[Marker, ...], gaps: tuple[dict[str, Any], ...], last: bool,
                   recovered: bool = False, end_wall: float | None = None) -> Manifest:
    """The one place a segment's manifest is assembled (live, terminator or recovered).

    ``end_wall``: when the last frame's picture ended, by the capture clock. Without it (a
    segment rebuilt from its file alone) the end is the start plus the slot span, which runs
    ahead of capture when frames came late or fast; the manifest then says so
    (``capture_times`` false) and the verifier only asks its start to be in order."""
    ident = info.identity
    end = start_wall + duration_s if end_wall is None else max(start_wall, end_wall)
    return Manifest(
        device_id=ident.device_id, model=ident.model, serial=ident.serial,
        recording_id=info.recording_id, segment_index=index, file=mp4.name, sha256=digest,
        size=size, start_utc=utc_iso(start_wall), capture_times=end_wall is not None,
        end_utc=utc_iso(end), duration_s=round(duration_s, 6),
        frame_count=frames, codec="h264", width=info.width, height=info.height, fps=info.fps,
        prev_manifest_sha256=prev, last=last, recovered=recovered, clock_set=info.clock_set,
        reason=info.reason, pre_event_s=round(info.pre_event_s, 3) if index == 0 else 0,
        markers=markers, gaps=gaps)


def publish(info: RecordingInfo, mp4: Path, manifest: Manifest) -> str:
    """Sign the manifest, then rename the ``.part`` into place; returns the manifest's hash."""
    sha = write_signed_manifest(info.identity, mp4, manifest)
    durable_rename(part_path(mp4), mp4)
    pending = pending_path(mp4)
    if pending.exists():
        pending.unlink()
    return sha


def _open_muxer(file: Any, info: RecordingInfo, extradata: bytes) -> tuple[Any, Any]:
    container = av.open(file, "w", format="mp4", options=MP4_OPTIONS)
    stream = container.add_stream("h264", rate=info.fps)
    stream.width, stream.height = info.width, info.height
    stream.codec_context.extradata = extradata
    return container, stream


class SegmentWriter:
    """One open segment. Not thread-safe: the recorder thread owns it."""

    def __init__(self, info: RecordingInfo, index: int, prev_manifest_sha256: str | None,
                 first: EncodedPacket, fsync_interval_s: float,
                 gaps: tuple[dict[str, Any], ...] = ()) -> None:
        if not first.keyframe:
            raise ValueError("a segment must start on a keyframe")
        self.info = info
        self.index = index
        self.prev = prev_manifest_sha256
        self.path = info.segment_path(index)
        self.part = part_path(self.path)
        self.fsync_interval_s = fsync_interval_s
        self.first_pts = first.pts
        self.first = first
        self.last = first
        self.frames = 0
        self.gaps = gaps
        self.write_pending()
        self._file = open_stream(self.part)  # closed in close() or abort(); 0600
        self._time_base = Fraction(1, info.fps)
        self._synced_at = first.t_mono
        self._synced_size = 0
        try:
            self._container, self._stream = _open_muxer(self._file, info,
                                                        parameter_sets(first.data))
            self.write(first)
        except BaseException:
            with contextlib.suppress(Exception):
                self._file.close()
            raise

    def write_pending(self) -> None:
        """Durably note what recovery would need; rewritten when a marker is added."""
        record = {"recording_id": self.info.recording_id, "segment_index": self.index,
                  "prev_manifest_sha256": self.prev, "start_wall": self.first.wall,
                  "start_mono": self.first.t_mono, "reason": self.info.reason,
                  "pre_event_s": self.info.pre_event_s, "clock_set": self.info.clock_set,
                  "fps": self.info.fps, "width": self.info.width, "height": self.info.height,
                  "extradata": parameter_sets(self.first.data).hex(),
                  "markers": [list(m) for m in self.info.markers if m[0] >= self.first.t_mono],
                  "gaps": list(self.gaps)}
        atomic_write(pending_path(self.path), json.dumps(record, indent=1).encode())

    def _markers(self) -> tuple[Marker, ...]:
        start = self.first.t_mono
        return tuple(Marker(utc, round(t - start, 3), note)
                     for t, utc, note in self.info.markers if t >= start)

    @property
    def duration_s(self) -> float:
        return (self.last.pts - self.first_pts + 1) / self.info.fps

    def write(self, packet: EncodedPacket, sync: bool = True) -> None:
        """Mux one packet; ``sync=False`` for a burst (the pre-event backlog) that the caller
        makes durable once with :meth:`flush` at its end."""
        pkt = av.Packet(packet.data)
        pkt.pts = pkt.dts = packet.pts - self.first_pts
        pkt.time_base = self._time_base
        pkt.stream = self._stream
        pkt.is_keyframe = packet.keyframe
        self._container.mux(pkt)
        self.last = packet
        self.frames += 1
        # The muxer writes a fragment when the next keyframe arrives: make it durable now.
        if sync and (packet.keyframe or packet.t_mono - self._synced_at >= self.fsync_interval_s):
            self._sync(packet.t_mono)

    def flush(self) -> None:
        self._sync(self.last.t_mono)

    def _sync(self, now: float) -> None:
        self._file.flush()
        size = self._file.tell()
        if size != self._synced_size:
            fsync(self._file.fileno())
            self._synced_size = size
        self._synced_at = now

    def end_wall(self, until: float | None) -> float:
        """When the last frame's picture ends: one frame interval after its capture, but never
        after ``until`` (the capture of the next segment's first frame, or the moment the camera
        was lost), so an honest recording's segments never overlap."""
        end = self.last.wall + 1 / self.info.fps
        return end if until is None else min(end, until)

    def close(self, last: bool, until: float | None = None) -> tuple[Manifest, str]:
        """Finish, sign and publish the segment; returns its manifest and the manifest's hash.
        ``until``: see :meth:`end_wall`."""
        self._container.close()
        self._file.flush()
        fsync(self._file.fileno())
        self._file.close()
        digest, size = sha256_file(self.part)
        manifest = build_manifest(
            self.info, self.index, self.prev, self.path, digest=digest, size=size,
            start_wall=self.first.wall, frames=self.frames, duration_s=self.duration_s,
            markers=self._markers(), gaps=self.gaps, last=last, end_wall=self.end_wall(until))
        return manifest, publish(self.info, self.path, manifest)

    def abort(self) -> None:
        """Close the files without publishing (the daemon is dying, or the card refused a
        write); recovery takes it up. Never raises: the muxer or the file may be broken."""
        with contextlib.suppress(Exception):
            self._container.close()
        with contextlib.suppress(Exception):
            self._file.close()


def write_terminator(info: RecordingInfo, index: int, prev: str | None, extradata: bytes,
                     wall: float, gaps: tuple[dict[str, Any], ...], recovered: bool = False
                     ) -> tuple[Manifest, str]:
    """A zero-frame closing segment, for a recording that ended with no footage left to put
    in its last segment (stopped while the camera was out; power lost before the segment's
    first fragment): it carries ``last`` and the gap, so the recording is complete and says
    why it has no picture at its end. It holds no footage, so none is invented."""
    mp4 = info.segment_path(index)
    try:
        with open_stream(part_path(mp4)) as file:
            container, _ = _open_muxer(file, info, extradata)
            container.start_encoding()
            container.close()
            file.flush()
            fsync(file.fileno())
    except BaseException:
        # No footage and no pending record: a .part left here would block closing the
        # recording later (recovery's terminate), so it goes; it is made again then.
        with contextlib.suppress(OSError):
            part_path(mp4).unlink()
        raise
    digest, size = sha256_file(part_path(mp4))
    manifest = build_manifest(info, index, prev, mp4, digest=digest, size=size, start_wall=wall,
                              frames=0, duration_s=0.0, markers=(), gaps=gaps, last=True,
                              recovered=recovered, end_wall=wall)
    return manifest, publish(info, mp4, manifest)
