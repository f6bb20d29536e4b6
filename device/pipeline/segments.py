"""Writing one segment: a self-contained fragmented MP4, fsynced as it grows, then signed.

Life of a segment ``NAME.mp4``:

1. at open, ``NAME.mp4.part.json`` records what is already known (recording, index, previous
   manifest's hash, start time, markers so far), signed and written durably: recovery needs it
   if the power goes; then the fragment log ``NAME.mp4.part.sigs`` is created
   (``evidence/pending.py``);
2. packets are muxed (PyAV, no re-encoding) into ``NAME.mp4.part`` as fragmented MP4, a fragment
   per keyframe interval, holding the picture and (with a microphone) the sound of the same
   interval, each track timed from the capture clock relative to the segment's first frame;
   the file is fsynced whenever a fragment lands and at least every ``fsync_interval_s``, so a
   power cut loses at most the fragment being built; each time bytes have landed, the hash of
   everything landed so far is signed into the fragment log, so recovery vouches only for
   bytes the camera signed before the cut;
3. on close the muxer is finished and the file fsynced; the manifest and its signature are
   written (each durably); ``NAME.mp4.part`` is renamed to ``NAME.mp4``, the directory fsynced,
   and the fragment log and pending record dropped.

A ``.part`` found at start is an interrupted segment: ``device/pipeline/recovery.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from device.location import LocationSample, looks, segment_track
from device.pipeline.audio import AAC_FRAME, AudioPacket, AudioSettings
from device.pipeline.encrypting import EncryptingStream, decrypt_at
from evidence.crypt import SegmentKey, new_segment_key
from evidence.fsutil import atomic_write, durable_rename, fsync, open_stream
from evidence.identity import DeviceIdentity
from evidence.layout import Layout
from evidence.manifest import Manifest, Marker, sha256_file, write_signed_manifest
from evidence.pending import (
    FragmentLog,
    encode_record,
    fragment_log_path,
    record_hash,
    signed_record,
)
from evidence.utc import utc_iso, utc_seconds
from hal.encoder import EncodedPacket, Tuning, parameter_sets

PART_SUFFIX = Layout.PART
#: Sound missing this long (samples) at a segment's start or end is a gap in the manifest.
EDGE_GAP = 2 * AAC_FRAME
PENDING_SUFFIX = Layout.PENDING
#: ``max_interleave_delta``: the recorder already orders the tracks by capture time
#: (``interleave.py``), so the muxer writes each packet at once rather than wait for the
#: other track (which, with the microphone gone, would hold the picture back for 10 s).
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
               "max_interleave_delta": "1"}


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
    #: Looks at the receiver during the recording (device/location.py); None: the camera has
    #: no receiver, and its manifests carry no track.
    track: list[LocationSample] | None = None
    #: the sound track's settings; None: picture only (no microphone, or audio off)
    audio: AudioSettings | None = None
    #: muted spans [from, from UTC, to or None, to UTC or None], capture times (the recorder's)
    mutes: list[list[Any]] = field(default_factory=list)
    #: capture time sound begins (pre-event audio off: the press); None: sound throughout
    sound_from: float | None = None
    #: the force's RSA public key: every segment is encrypted to it (None: encryption off,
    #: a development setting; docs/FORMAT.md, "Encryption at rest")
    force_key: Any = None
    #: who wore the camera: the store's assignment when the recording started, or
    #: "unassigned" (device/assignment.py); None: not said (older pending records)
    officer: dict[str, Any] | str | None = None

    def segment_key(self, index: int) -> SegmentKey | None:
        """A fresh key for segment ``index``, wrapped to the force key (None: not
        encrypted)."""
        return (None if self.force_key is None
                else new_segment_key(self.force_key, self.segment_path(index).name))

    def segment_path(self, index: int) -> Path:
        return self.directory / Layout.segment_name(self.recording_id, index)


def part_path(mp4: Path) -> Path:
    return Layout.part(mp4)


def pending_path(mp4: Path) -> Path:
    return Layout.pending(mp4)


def mp4_boxes(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(type, end offset) of each whole top-level box of MP4 bytes, until one is torn."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:
            if offset + 16 > len(data):
                return
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
            header = 16
        elif size == 0:
            size = len(data) - offset
        if size < header or offset + size > len(data):
            return  # torn box
        offset += size
        yield kind, offset


def video_samples(moof: bytes) -> int:
    """Video samples (frames) in one ``moof`` box: the ``trun`` counts of its track-1
    ``traf``s. The camera counts them in the plaintext it wrote, so that recovery of an
    encrypted segment knows its frames without the key."""
    return track_samples(moof, 1)


def track_samples(moof: bytes, wanted: int) -> int:
    """Samples of track ``wanted`` (1: the picture, 2: the sound) in one ``moof`` box."""
    count = 0
    for kind, start, end in _children(moof, 8):
        if kind != b"traf":
            continue
        track, runs = None, 0
        for inner, at, _ in _children(moof[:end], start + 8):
            if inner == b"tfhd" and at + 16 <= end:
                track = struct.unpack(">I", moof[at + 12:at + 16])[0]
            elif inner == b"trun" and at + 16 <= end:
                runs += struct.unpack(">I", moof[at + 12:at + 16])[0]
        count += runs if track == wanted else 0
    return count


def landed_sound(slots: list[tuple[int, int]]) -> dict[str, Any]:
    """What an encrypted segment's fragment line says of the sound landed so far (``slots``:
    each landed packet's offset and length, in samples): its packets, samples, first offset
    and the gaps between packets, as recovery's manifest needs them without the key."""
    gaps: list[list[int]] = []
    end = 0
    for n, (pts, samples) in enumerate(slots):
        if n and pts - end >= samples // 2:
            gaps.append([end, pts])
        end = pts + samples
    return {"packets": len(slots), "samples": sum(s for _, s in slots),
            "first": slots[0][0] if slots else 0, "gaps": gaps}


def _children(data: bytes, offset: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each whole box in ``data`` from ``offset`` on."""
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size < 8 or offset + size > len(data):
            return
        yield kind, offset, offset + size
        offset += size


def digest_stored(path: Path, key: SegmentKey | None) -> tuple[str, int, dict[str, Any] | None]:
    """SHA-256 and size of a segment's file as stored, and (encrypted) its manifest's
    ``encryption`` object with the plaintext's SHA-256 and size, in one pass over the file."""
    if key is None:
        digest, size = sha256_file(path)
        return digest, size, None
    stored, plain, cipher, size = hashlib.sha256(), hashlib.sha256(), key.cipher(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            stored.update(chunk)
            plain.update(cipher.update(chunk))
            size += len(chunk)
    return stored.hexdigest(), size, {**key.header, "plaintext_sha256": plain.hexdigest(),
                                      "plaintext_size": size}


def build_manifest(info: RecordingInfo, index: int, prev: str | None, mp4: Path, *,
                   digest: str, size: int, start_wall: float, frames: int, duration_s: float,
                   markers: tuple[Marker, ...], gaps: tuple[dict[str, Any], ...], last: bool,
                   recovered: bool = False, end_wall: float | None = None,
                   audio: dict[str, Any] | None = None,
                   encryption: dict[str, Any] | None = None,
                   encoding: tuple[dict[str, Any], ...] | None = None) -> Manifest:
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
        markers=markers, gaps=gaps, audio=audio, encryption=encryption, encoding=encoding,
        officer=info.officer)


def audio_fields(settings: AudioSettings, start: float, end: float, mutes: list[list[Any]],
                 sound_from: float | None, **counts: Any) -> dict[str, Any]:
    """The manifest's ``audio`` object for a segment of capture times ``start`` to ``end``:
    the track's settings, what was muxed (``counts``), each muted span that overlaps the
    segment (offsets clipped to it, UTC as audited), and where sound begins when the segment
    starts silent (pre-event audio off)."""
    muted = []
    for t_from, utc_from, t_to, utc_to in mutes:
        # a span that ended at this segment's first frame may have closed after the segment
        # before was signed (its end then open): it is listed here, zero long, with its end
        if t_from < end and (t_to is None or t_to > start or t_from < start <= t_to):
            muted.append({"from_s": round(max(0.0, t_from - start), 6),
                          "to_s": round(min(end, end if t_to is None else t_to) - start, 6),
                          "from_utc": utc_from, "to_utc": utc_to})
    fields: dict[str, Any] = {"codec": settings.codec, "rate": settings.rate,
                              "channels": settings.channels,
                              "bitrate_kbps": settings.bitrate_kbps, **counts, "muted": muted}
    if sound_from is not None and sound_from > start:
        fields["sound_from_s"] = round(min(sound_from, end) - start, 6)
    return fields


def publish(info: RecordingInfo, mp4: Path, manifest: Manifest) -> str:
    """Sign the manifest, then rename the ``.part`` into place; returns the manifest's hash."""
    sha = write_signed_manifest(info.identity, mp4, manifest)
    durable_rename(part_path(mp4), mp4)
    drop_pending(mp4)
    return sha


def drop_pending(mp4: Path) -> None:
    """Once ``mp4`` is published its manifest speaks for it: the open segment's records go."""
    fragment_log_path(mp4).unlink(missing_ok=True)
    pending_path(mp4).unlink(missing_ok=True)


def _open_part(part: Path, key: SegmentKey | None) -> Any:
    """The file a segment's muxer writes into: the ``.part`` itself, or (encrypted) the
    stream that encrypts on its way there."""
    file = open_stream(part)
    return file if key is None else EncryptingStream(file, key)


def _open_muxer(file: Any, info: RecordingInfo, extradata: bytes) -> tuple[Any, Any, Any]:
    """The container with its H.264 track and, when the recording has sound, its AAC track."""
    container = av.open(file, "w", format="mp4", options=MP4_OPTIONS)
    stream = container.add_stream("h264", rate=info.fps)
    stream.width, stream.height = info.width, info.height
    stream.codec_context.extradata = extradata
    sound = None
    if info.audio is not None:
        sound = container.add_stream(info.audio.codec, rate=info.audio.rate,
                                     layout="mono" if info.audio.channels == 1 else "stereo")
        sound.codec_context.bit_rate = info.audio.bitrate_kbps * 1000
        sound.time_base = Fraction(1, info.audio.rate)
    return container, stream, sound


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
        #: the sound muxed: packets, samples, first sample's offset, gaps, overlaps dropped
        self.audio_packets = self.audio_samples = self.audio_dropped = 0
        self.audio_first: int | None = None
        self.audio_end = 0  # the next sample expected, in samples from the segment's start
        self.audio_gaps: list[dict[str, float]] = []
        self._rev, self._record = -1, ""
        self._log: FragmentLog | None = None
        self._key = info.segment_key(index)  # wrapped, into the pending record, before any byte
        self._signed_end, self._signed = 0, hashlib.sha256()
        self._plain, self._plain_counts = hashlib.sha256(), {"frames": 0, "fragments": 0,
                                                             "audio": 0}
        #: each muxed sound packet's (offset, samples), for what of the sound has landed
        self._audio_slots: list[tuple[int, int]] = []
        self._slots: list[int] = []  # each muxed frame's slot, for the span of landed frames
        #: the encoder's settings in force, per interval from the first frame (adapt.py)
        self.encoding: list[dict[str, Any]] = []
        self._tuning: Tuning | None = None
        self._note_tuning(first)  # the first interval is in the first pending record
        self.write_pending()
        self._log = FragmentLog(self.path, info.identity.sign)  # before the .part exists
        self._file = _open_part(self.part, self._key)  # closed in close() or abort(); 0600
        self._reader = os.open(self.part, os.O_RDONLY)
        self._time_base = Fraction(1, info.fps)
        self._synced_at = first.t_mono
        self._synced_size = 0
        try:
            self._container, self._stream, self._sound = _open_muxer(
                self._file, info, parameter_sets(first.data))
            self.write(first)
        except BaseException:
            with contextlib.suppress(Exception):
                self._close_files()
            raise

    def write_pending(self) -> None:
        """Durably note what recovery would need, signed; rewritten when a marker is added or
        the location looked at (and the fragment log told, so an older revision put back is
        caught)."""
        fields = {"recording_id": self.info.recording_id, "segment_index": self.index,
                  "prev_manifest_sha256": self.prev, "start_wall": self.first.wall,
                  "start_mono": self.first.t_mono, "reason": self.info.reason,
                  "pre_event_s": self.info.pre_event_s, "clock_set": self.info.clock_set,
                  "fps": self.info.fps, "width": self.info.width, "height": self.info.height,
                  "extradata": parameter_sets(self.first.data).hex(),
                  "markers": [list(m) for m in self.info.markers if m[0] >= self.first.t_mono],
                  "gaps": list(self.gaps)}
        if self._key is not None:
            fields["encryption"] = self._key.header
        if self.encoding:  # so a segment recovered after a cut lists its settings too
            fields["encoding"] = list(self.encoding)
        if self.info.officer is not None:  # a segment recovered after a cut names its wearer
            fields["officer"] = self.info.officer
        if self.info.track is not None:  # so a segment recovered after a cut keeps its track
            fields["location"] = [list(look) for look in looks(self.info.track,
                                                                self.first.t_mono)]
        if self.info.audio is not None:  # recovery names the sound track too
            fields["audio"] = dataclasses.asdict(self.info.audio)
            fields["mutes"] = [list(m) for m in self.info.mutes]
            fields["sound_from"] = self.info.sound_from
        self._rev += 1
        record = signed_record(fields, self.path.name, self.info.identity.device_id, self._rev,
                               self._record or None, self.info.identity.sign)
        atomic_write(pending_path(self.path), encode_record(record))
        self._record = record_hash(record)
        if self._log is not None:
            self._log.append(self._signed_end, self._signed.hexdigest(), self._record,
                             plain=self._plain_line())

    def _plain_line(self) -> dict[str, Any] | None:
        """What an encrypted segment's fragment line says of its plaintext so far."""
        if self._key is None:
            return None
        frames = self._plain_counts["frames"]
        line = {"plain_sha256": self._plain.hexdigest(), "frames": frames,
                "fragments": self._plain_counts["fragments"],
                "span": self._slots[frames - 1] + 1 if 0 < frames <= len(self._slots) else 0}
        if self.info.audio is not None:
            line["audio"] = landed_sound(self._audio_slots[:self._plain_counts["audio"]])
        return line

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
        self._slots.append(packet.pts - self.first_pts)
        if self._note_tuning(packet):
            self.write_pending()  # a change (rare): so a segment recovered after a cut keeps it
        self.last = packet
        self.frames += 1
        # The muxer writes a fragment when the next keyframe arrives: make it durable now.
        if sync and (packet.keyframe or self._landed()
                     or packet.t_mono - self._synced_at >= self.fsync_interval_s):
            self._sync(packet.t_mono)

    def _note_tuning(self, packet: EncodedPacket) -> bool:
        """Start an ``encoding`` interval when ``packet`` was encoded with other settings than
        the one before it; whether it did."""
        if packet.tuning is None or packet.tuning == self._tuning:
            return False
        self._tuning = packet.tuning
        self.encoding.append({"from_s": round(packet.t_mono - self.first.t_mono, 6),
                              "from_utc": utc_iso(packet.wall), **packet.tuning.as_dict()})
        return True

    def write_audio(self, packet: AudioPacket, sync: bool = True) -> None:
        """Mux one AAC packet at its capture time's offset from the segment's first frame.
        Sound from before that frame belongs to the segment before (or to nothing); a packet
        overlapping what is muxed (a new encoder run's priming) is dropped; a jump forward is
        a gap in the sound, listed in the manifest, and the picture is not moved."""
        if self._sound is None:
            return
        rate = packet.rate
        pts = round((packet.t_mono - self.first.t_mono) * rate)
        if pts < 0 or (self.audio_first is not None and pts < self.audio_end):
            self.audio_dropped += 1
            return
        if self.audio_first is None:
            self.audio_first = pts
        elif pts - self.audio_end >= packet.samples // 2:
            self.audio_gaps.append({"from_s": round(self.audio_end / rate, 6),
                                    "to_s": round(pts / rate, 6)})
        pkt = av.Packet(packet.data)
        pkt.pts = pkt.dts = pts
        pkt.duration = packet.samples
        pkt.time_base = Fraction(1, rate)
        pkt.stream = self._sound
        self._container.mux(pkt)
        self._audio_slots.append((pts, packet.samples))
        self.audio_end = pts + packet.samples
        self.audio_packets += 1
        self.audio_samples += packet.samples
        if sync and (self._landed() or packet.t_mono - self._synced_at >= self.fsync_interval_s):
            self._sync(packet.t_mono)

    def _landed(self) -> bool:
        """Whether the muxer wrote out a fragment (it writes nothing else between them): with
        two tracks it may do so on a later packet of either, not on the keyframe itself."""
        return self._file.tell() != self._synced_size

    def audio_manifest(self, end: float) -> dict[str, Any] | None:
        """The ``audio`` object of this segment's manifest (None: no sound track)."""
        if self.info.audio is None:
            return None
        rate = self.info.audio.rate
        gaps = list(self.audio_gaps)
        # sound missing at either end (the microphone out across a cut): a gap there too;
        # the encoder's own lead-in and the stop's last samples are less than EDGE_GAP
        span = round((end - self.first.t_mono) * rate)
        first = span if self.audio_first is None else self.audio_first
        if first >= EDGE_GAP:
            gaps.insert(0, {"from_s": 0.0, "to_s": round(first / rate, 6)})
        # the sound ends with the last frame's capture (the stop, or the next segment's first
        # frame), not with the time that frame is shown for
        heard_to = round((self.last.t_mono - self.first.t_mono) * rate)
        if self.audio_first is not None and heard_to - self.audio_end >= EDGE_GAP:
            gaps.append({"from_s": round(self.audio_end / rate, 6),
                         "to_s": round(span / rate, 6)})
        return audio_fields(
            self.info.audio, self.first.t_mono, end, self.info.mutes, self.info.sound_from,
            packets=self.audio_packets, duration_s=round(self.audio_samples / rate, 6),
            first_s=round((self.audio_first or 0) / rate, 6), gaps=gaps)

    def flush(self) -> None:
        self._sync(self.last.t_mono)

    def _sync(self, now: float) -> None:
        self._file.flush()
        size = self._file.tell()
        if size != self._synced_size:
            self._synced_size = size
            try:
                signed = self._sign_landed()  # at once: a process killed now leaves it signed
            finally:
                fsync(self._file.fileno())  # the bytes are durable first (signed or not),
            if signed and self._log is not None:
                self._log.sync()  # then their signature
        self._synced_at = now

    def _sign_landed(self) -> bool:
        """Sign what landed since the last signature, up to the end of its last whole box:
        the bytes are read back from the file, so what is signed is what the file holds.
        About a keyframe interval's bytes, one Ed25519 signature; the line is fsynced by the
        caller after the bytes (docs/FORMAT.md, "An open segment")."""
        assert self._log is not None
        landed = os.pread(self._reader, self._synced_size - self._signed_end, self._signed_end)
        plain = landed if self._key is None else decrypt_at(self._key, self._signed_end, landed)
        boxes = list(mp4_boxes(plain))
        whole = max((end for _, end in boxes), default=0)
        if whole:
            self._signed.update(landed[:whole])
            if self._key is not None:
                self._plain.update(plain[:whole])
                start = 0
                for kind, end in boxes:
                    if kind == b"moof":
                        self._plain_counts["fragments"] += 1
                        self._plain_counts["frames"] += video_samples(plain[start:end])
                        self._plain_counts["audio"] += track_samples(plain[start:end], 2)
                    start = end
            self._signed_end += whole
            self._log.append(self._signed_end, self._signed.hexdigest(), self._record,
                             sync=False, plain=self._plain_line())
        return bool(whole)

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
        self._sync(self.last.t_mono)  # the last fragment is signed too, should publishing fail
        self._close_files()
        digest, size, encryption = digest_stored(self.part, self._key)
        manifest = build_manifest(
            self.info, self.index, self.prev, self.path, digest=digest, size=size,
            start_wall=self.first.wall, frames=self.frames, duration_s=self.duration_s,
            markers=self._markers(), gaps=self.gaps, last=last, end_wall=self.end_wall(until),
            encryption=encryption, encoding=tuple(self.encoding) or None,
            audio=self.audio_manifest(self.last.t_mono + 1 / self.info.fps))
        if self.info.track is not None:
            # a cut's next segment takes the looks from its first frame on: none in both
            track, no_fix = segment_track(
                [s for s in self.info.track if until is None or s.wall < until],
                self.first.t_mono, self.first.wall, utc_seconds(manifest.end_utc))
            manifest = dataclasses.replace(manifest, track=track, no_fix=no_fix)
        return manifest, publish(self.info, self.path, manifest)

    def abort(self) -> None:
        """Close the files without publishing (the daemon is dying, or the card refused a
        write); recovery takes it up. Never raises: the muxer or the file may be broken. The
        fragment the muxer still held is written out, fsynced and signed like any other."""
        with contextlib.suppress(Exception):
            self._container.close()
            self._sync(self.last.t_mono)
        with contextlib.suppress(Exception):
            self._close_files()

    def _close_files(self) -> None:
        """Each closed even if another fails (the card may refuse the flush of one)."""
        try:
            self._file.close()
        finally:
            os.close(self._reader)
            if self._log is not None:
                self._log.close()


def write_terminator(info: RecordingInfo, index: int, prev: str | None, extradata: bytes,
                     wall: float, gaps: tuple[dict[str, Any], ...], recovered: bool = False,
                     recovery: dict[str, Any] | None = None) -> tuple[Manifest, str]:
    """A zero-frame closing segment, for a recording that ended with no footage left to put
    in its last segment (stopped while the camera was out; power lost before the segment's
    first fragment): it carries ``last`` and the gap, so the recording is complete and says
    why it has no picture at its end. It holds no footage, so none is invented."""
    mp4 = info.segment_path(index)
    key = info.segment_key(index)
    try:
        with _open_part(part_path(mp4), key) as file:
            container, _, _ = _open_muxer(file, info, extradata)
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
    digest, size, encryption = digest_stored(part_path(mp4), key)
    manifest = build_manifest(info, index, prev, mp4, digest=digest, size=size, start_wall=wall,
                              frames=0, duration_s=0.0, markers=(), gaps=gaps, last=True,
                              recovered=recovered, end_wall=wall, encryption=encryption)
    manifest = dataclasses.replace(manifest, recovery=recovery)
    return manifest, publish(info, mp4, manifest)
