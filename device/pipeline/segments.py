"""Writing one segment: a self-contained fragmented MP4, fsynced as it grows, then signed.

Life of a segment ``NAME.mp4``:

1. packets are muxed (PyAV, no re-encoding) into ``NAME.mp4.part`` as fragmented MP4, a fragment
   per keyframe interval; the file is fsynced whenever a fragment lands and at least every
   ``fsync_interval_s``, so a power cut loses at most the fragment being built;
2. on close the muxer is finished and the file fsynced; the manifest and its signature are
   written (each durably); ``NAME.mp4.part`` is renamed to ``NAME.mp4`` and the directory fsynced.

A ``.part`` found at start is an interrupted segment: see ``device/pipeline/recovery.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from device.evidence.identity import DeviceIdentity
from device.evidence.manifest import Manifest, Marker, sha256_file, write_signed_manifest
from device.fsutil import durable_rename
from device.pipeline.packets import EncodedPacket, parameter_sets
from device.pipeline.watermark import Watermark

PART_SUFFIX = ".part"
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


class SegmentWriter:
    """One open segment. Not thread-safe: the recorder thread owns it."""

    def __init__(self, info: RecordingInfo, index: int, prev_manifest_sha256: str | None,
                 first: EncodedPacket, fsync_interval_s: float) -> None:
        if not first.keyframe:
            raise ValueError("a segment must start on a keyframe")
        self.info = info
        self.index = index
        self.prev = prev_manifest_sha256
        self.path = info.segment_path(index)
        self.part = self.path.with_name(self.path.name + PART_SUFFIX)
        self.fsync_interval_s = fsync_interval_s
        self.first_pts = first.pts
        self.first = first
        self.last = first
        self.frames = 0
        self.gaps: list[dict[str, object]] = []
        self._file = open(self.part, "wb")  # noqa: SIM115 - closed in close()
        self._container = av.open(self._file, "w", format="mp4", options=MP4_OPTIONS)
        stream = self._container.add_stream("h264", rate=info.fps)
        stream.width, stream.height = info.width, info.height
        stream.codec_context.extradata = parameter_sets(first.data)
        self._stream = stream
        self._time_base = Fraction(1, info.fps)
        self._synced_at = first.t_mono
        self._synced_size = 0
        self.write(first)

    @property
    def duration_s(self) -> float:
        return (self.last.pts - self.first_pts + 1) / self.info.fps

    def write(self, packet: EncodedPacket) -> None:
        pkt = av.Packet(packet.data)
        pkt.pts = pkt.dts = packet.pts - self.first_pts
        pkt.time_base = self._time_base
        pkt.stream = self._stream
        pkt.is_keyframe = packet.keyframe
        self._container.mux(pkt)
        self.last = packet
        self.frames += 1
        # The muxer writes a fragment when the next keyframe arrives: make it durable now.
        if packet.keyframe or packet.t_mono - self._synced_at >= self.fsync_interval_s:
            self._sync(packet.t_mono)

    def _sync(self, now: float) -> None:
        self._file.flush()
        size = self._file.tell()
        if size != self._synced_size:
            os.fsync(self._file.fileno())
            self._synced_size = size
        self._synced_at = now

    def close(self, last: bool) -> tuple[Manifest, str]:
        """Finish, sign and publish the segment; returns its manifest and the manifest's hash."""
        self._container.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest, size = sha256_file(self.part)
        info = self.info
        start = self.first.t_mono
        end = self.last.t_mono + 1 / info.fps
        markers = tuple(Marker(utc, round(t - start, 3), note)
                        for t, utc, note in info.markers if start <= t < end)
        manifest = Manifest(
            device_id=info.identity.device_id, model=info.identity.model,
            serial=info.identity.serial, recording_id=info.recording_id,
            segment_index=self.index, file=self.path.name, sha256=digest, size=size,
            start_utc=Watermark.timestamp(self.first.wall),
            end_utc=Watermark.timestamp(self.last.wall + 1 / info.fps),
            duration_s=round(self.duration_s, 6), frame_count=self.frames, codec="h264",
            width=info.width, height=info.height, fps=info.fps,
            prev_manifest_sha256=self.prev, last=last, clock_set=info.clock_set,
            reason=info.reason, pre_event_s=round(info.pre_event_s, 3) if self.index == 0 else 0,
            markers=markers,
            gaps=tuple(self.gaps))
        manifest_sha = write_signed_manifest(info.identity, self.path, manifest)
        durable_rename(self.part, self.path)
        return manifest, manifest_sha

    def abort(self) -> None:
        """Close the files without publishing (the daemon is dying); recovery takes it up."""
        try:
            self._container.close()
        finally:
            self._file.close()
