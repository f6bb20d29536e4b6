"""The sound's path: microphone blocks -> the gate (mute, pre-event silence) -> AAC packets.

    microphone -> [audio queue] -> audio thread -> [packet queue] -> recorder (with the frames)
                  (bounded)        (gate, AAC-LC)

Every sample keeps the capture time the microphone gave it: a packet's ``t_mono`` is the
capture time of the first sample it encodes (the encoder's priming included), on the same
monotonic clock as the frames, never the wall clock. A block that does not follow on from the
last (the microphone paused or failed) ends the encoder's run and starts a new one at the
block's own time, so a gap in the sound is a gap in its timestamps, never a shift.

The gate makes silence digital: while muted, and (unless ``recording.pre_event_audio``) while
no recording is live, the samples are zeros, sample-exactly from the moment the command names;
the track goes on, continuous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from hal.encoder import EncodedPacket, EncoderError
from hal.microphone import AudioBlock

#: Samples per AAC-LC frame.
AAC_FRAME = 1024
#: The level digital silence is shown at (dBFS).
SILENCE_DBFS = -120.0


def level_dbfs(block: AudioBlock) -> float:
    """The block's RMS level in dB below full scale, for the panel's meter."""
    if not len(block.samples):
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(np.square(block.samples.astype(np.float64))))) / 32768.0
    return round(max(SILENCE_DBFS, 20 * np.log10(rms)) if rms > 0 else SILENCE_DBFS, 1)


@dataclass(frozen=True, slots=True)
class AudioPacket:
    """One AAC frame; ``t_mono`` is the capture time of its first sample."""

    data: bytes
    t_mono: float
    samples: int
    rate: int
    keyframe = False  # every packet stands alone for the outputs' keyframe logic

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def t_end(self) -> float:
        return self.t_mono + self.samples / self.rate


#: What the outputs take: a video or an audio packet.
Packet = EncodedPacket | AudioPacket


@dataclass(frozen=True)
class AudioSettings:
    """The track's settings, from ``[audio]``; also what each manifest's ``audio`` names."""

    codec: str = "aac"
    rate: int = 48000
    channels: int = 1
    bitrate_kbps: int = 64


@dataclass(frozen=True)
class SetMuted:
    """Mute on or off from capture time ``t_mono`` (``utc``: the audited moment)."""

    on: bool
    t_mono: float
    utc: str


@dataclass(frozen=True)
class SetLive:
    """A recording is live (or not) from ``t_mono``: without pre-event audio, sound is kept
    only while one is."""

    on: bool
    t_mono: float


@dataclass(frozen=True)
class AudioFlushed:
    """The audio thread drained its encoder at a recording's stop (``t_mono``): every sample
    captured before it has reached the recorder, which may close the recording now."""

    t_mono: float


def split_block(block: AudioBlock, at: float) -> tuple[AudioBlock | None, AudioBlock | None]:
    """``block`` cut at capture time ``at``: the samples before it and those from it (None
    for an empty part)."""
    cut = min(len(block.samples), max(0, math.ceil((at - block.t_mono) * block.rate - 1e-6)))
    before = AudioBlock(block.samples[:cut], block.t_mono, block.rate) if cut else None
    after = AudioBlock(block.samples[cut:], block.t_mono + cut / block.rate, block.rate) \
        if cut < len(block.samples) else None
    return before, after


class AacEncoder:
    """FFmpeg's native AAC-LC encoder through PyAV, timed by the capture clock."""

    def __init__(self, settings: AudioSettings) -> None:
        self.settings = settings
        self.rate = settings.rate
        self._ctx = self._open()
        self._origin: float | None = None  # capture time of the run's sample 0
        self._fed = 0  # samples handed to the codec in this run
        self._pending = np.zeros((0, settings.channels), np.int16)

    def _open(self) -> av.AudioCodecContext:
        s = self.settings
        try:
            ctx = av.CodecContext.create(s.codec, "w")
            ctx.sample_rate = s.rate
            ctx.layout = "mono" if s.channels == 1 else "stereo"
            ctx.format = "fltp"
            ctx.bit_rate = s.bitrate_kbps * 1000
            ctx.time_base = Fraction(1, s.rate)
            ctx.open()
        except (av.error.FFmpegError, ValueError) as exc:
            raise EncoderError(f"audio.codec {s.codec!r} failed to open: {exc}") from None
        return ctx

    @property
    def extradata(self) -> bytes:
        """The AudioSpecificConfig the MP4 muxer puts in the track's ``esds``."""
        return bytes(self._ctx.extradata or b"")

    def encode(self, block: AudioBlock) -> list[AudioPacket]:
        """Encode one block; a block that does not follow on from the last starts a new run."""
        out: list[AudioPacket] = []
        if self._origin is not None:
            expected = self._origin + (self._fed + len(self._pending)) / self.rate
            if abs(block.t_mono - expected) * self.rate >= AAC_FRAME / 2:
                out += self.flush()
        if self._origin is None:
            self._origin, self._fed = block.t_mono, 0
        self._pending = np.concatenate([self._pending, block.samples])
        while len(self._pending) >= AAC_FRAME:
            chunk, self._pending = self._pending[:AAC_FRAME], self._pending[AAC_FRAME:]
            out += self._encode(chunk)
        return out

    def _encode(self, chunk: np.ndarray | None) -> list[AudioPacket]:
        frame = None
        if chunk is not None:
            planar = np.ascontiguousarray(chunk.T.astype(np.float32) / 32768.0)
            frame = av.AudioFrame.from_ndarray(planar, format="fltp",
                                               layout=self._ctx.layout.name)
            frame.sample_rate = self.rate
            frame.pts = self._fed
            frame.time_base = Fraction(1, self.rate)
            self._fed += len(chunk)
        try:
            packets = self._ctx.encode(frame)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"audio encoding failed: {exc}") from None
        assert self._origin is not None
        return [AudioPacket(bytes(p), self._origin + int(p.pts) / self.rate,
                            int(p.duration or AAC_FRAME), self.rate) for p in packets]

    def flush(self) -> list[AudioPacket]:
        """End the run: what the codec holds comes out (a partial frame padded with zeros)."""
        if self._origin is None:
            return []
        out: list[AudioPacket] = []
        if len(self._pending):
            pad = np.zeros((AAC_FRAME - len(self._pending), self.settings.channels), np.int16)
            out += self._encode(np.concatenate([self._pending, pad]))
            self._pending = self._pending[:0]
        out += self._encode(None)
        self._ctx = self._open()  # a drained codec takes no more frames
        self._origin = None
        return out


class Gate:
    """Which samples are silence: muted spans, and (without pre-event audio) those outside a
    live recording. The audio thread alone uses it."""

    def __init__(self, pre_event_audio: bool, muted: bool = False) -> None:
        self.pre_event_audio = pre_event_audio
        #: (from, on) changes in time order; the state before the first is the initial one
        self._muted: list[tuple[float, bool]] = [(float("-inf"), muted)]
        self._live: list[tuple[float, bool]] = [(float("-inf"), False)]
        #: capture time up to which samples have gone through the gate
        self.heard_until = float("-inf")

    def command(self, cmd: SetMuted | SetLive) -> float:
        """Take ``cmd``; returns when it takes effect: its own time, or (a command that comes
        after the samples of its moment were encoded) the first sample not yet encoded."""
        at = max(cmd.t_mono, self.heard_until)
        changes = self._muted if isinstance(cmd, SetMuted) else self._live
        changes.append((at, cmd.on))
        return at

    def apply(self, block: AudioBlock) -> AudioBlock:
        """The block with its silent samples zeroed (the same object if none is)."""
        t = block.t_mono + np.arange(len(block.samples)) / block.rate
        silent = self._mask(self._muted, t, True)
        if not self.pre_event_audio:
            silent |= self._mask(self._live, t, False)
        self._forget(block.t_mono)
        self.heard_until = max(self.heard_until, block.t_mono + block.duration_s)
        if not silent.any():
            return block
        samples = block.samples.copy()
        samples[silent] = 0
        return AudioBlock(samples, block.t_mono, block.rate)

    @staticmethod
    def _mask(changes: list[tuple[float, bool]], t: np.ndarray, value: bool) -> np.ndarray:
        mask = np.zeros(len(t), bool)
        for i, (start, on) in enumerate(changes):
            end = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            if on == value:
                mask |= (t >= start) & (t < end)
        return mask

    def _forget(self, before: float) -> None:
        """Changes wholly in the past no longer matter (their last stays as the state)."""
        for changes in (self._muted, self._live):
            while len(changes) > 1 and changes[1][0] <= before:
                changes.pop(0)
