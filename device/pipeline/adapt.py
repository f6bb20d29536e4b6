"""The encoder's real-time watch: give up compression before a frame is lost.

A camera must not drop frames because its processor is busy (another process, a hot Pi, a long
fsync); it should compress less instead. The watch sees, for every frame, how long the encoder
thread's work took (watermark, preview, colour conversion, the encode itself) as a share of the
frame interval, smoothed, and how many frames wait in the frame queue. When the work nears the
interval, or frames pile up, real time is at risk and it steps one rung down its ladder; when the
work has stayed well under the interval with nothing waiting for ``adapt_calm_s``, it steps back
up one rung. Never below the floor.

The ladder, and why:

- libx264 (the software encoder, the whole budget on a Pi 5): the configured preset, then each
  faster x264 preset in turn (medium, fast, faster, veryfast, superfast, ultrafast) down to
  ``encoder.adapt_floor``. A preset is x264's own tested bundle of the search, partition, ref and
  trellis settings, each step roughly 1.3 to 2 times cheaper, so the picture stays sound and the
  step is predictable; ``tune=zerolatency`` (threads by slice, no look-ahead) is kept on every
  rung, so latency and the one-packet-per-frame rule never change. Resolution and frame rate are
  never touched: they are evidence (the manifest's width, height and fps hold for the whole
  recording). The cost is size: ultrafast files are two to three times larger at the same crf,
  which the storage guard already accounts for.
- any other codec (h264_v4l2m2m, the Pi 4's hardware encoder): the hardware's time does not
  depend on a preset; what the watch can lower is the bitrate (each rung three quarters of the
  one before, down to ``encoder.adapt_min_bitrate_kbps``), which shortens the encoder's output
  and the muxing, copying and fsync of it. Each rung also halves the rate of frames handed to
  the preview (its scaling and JPEG work share the processor with the copies around the
  hardware encoder), down to ``encoder.adapt_preview_min_fps``; the preview is a view, not
  evidence, so it gives way first.

Hysteresis: the step down waits ``adapt_risk_s`` of risk (frames piling up in the queue step at
once); the step up needs the load under ``adapt_low`` (well below ``adapt_high``) for
``adapt_calm_s``, and that time doubles, up to eight times, whenever a step up had to be undone
within it, so a load that comes and goes does not make the preset swing. After a change the watch
waits for it to show before judging again.

Every change takes effect on a keyframe (:meth:`hal.encoder.Encoder.retune`): a step down asks
for one at once (real time is at risk now), a step up waits for the GOP's next one. Each packet
carries the settings it was encoded with, so the segment's manifest lists the settings in force
for each interval (``encoding``, docs/FORMAT.md) and the recording's audit entry sums them up.
On a simulated clock the queue's depth is not a signal (the camera waits there instead of
dropping), and the work is what the encoder models (:attr:`hal.encoder.Encoder.cost_s`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

from device.config import Config
from device.pipeline.preview import PreviewOutput
from hal.encoder import Encoder, Tuning

log = logging.getLogger(__name__)

#: libx264's presets the camera may use, slowest (best compression) first.
PRESETS = ("medium", "fast", "faster", "veryfast", "superfast", "ultrafast")
#: A hardware encoder's bitrate rung: this share of the one before.
BITRATE_STEP = 0.75
#: The bitrate a hardware encoder runs at when the configuration names none (hal/encoder.py).
HARDWARE_DEFAULT_KBPS = 4000
#: The smoothed load's time constant, seconds: a frame's weight depends on the time it
#: covers, not on the frame rate.
SMOOTHING_S = 0.25
#: The longest the calm time grows to, as a multiple of ``adapt_calm_s``.
MAX_BACKOFF = 8


@dataclass(frozen=True)
class AdaptSettings:
    """The watch's configuration (``[encoder]`` adapt_* keys) and the stream's timing."""

    enabled: bool
    floor: str
    min_bitrate_kbps: int
    preview_min_fps: float
    high: float
    low: float
    queue: int
    risk_s: float
    calm_s: float
    fps: int
    keyframe_s: float

    @classmethod
    def from_config(cls, config: Config) -> AdaptSettings:
        enc = config.encoder
        return cls(enc.adapt, enc.adapt_floor, enc.adapt_min_bitrate_kbps,
                   enc.adapt_preview_min_fps, enc.adapt_high,
                   enc.adapt_low, enc.adapt_queue, enc.adapt_risk_s, enc.adapt_calm_s,
                   config.camera.fps, enc.keyframe_interval_s)


def ladder(tuning: Tuning, settings: AdaptSettings) -> list[Tuning]:
    """The rungs from ``tuning`` (the configured settings, rung 0) down to the floor."""
    if not settings.enabled:
        return [tuning]
    if tuning.codec == "libx264":
        if tuning.preset not in PRESETS or settings.floor not in PRESETS:
            return [tuning]
        start, stop = PRESETS.index(tuning.preset), PRESETS.index(settings.floor)
        return [dataclasses.replace(tuning, preset=p) for p in PRESETS[start:stop + 1]] \
            or [tuning]
    rungs = [tuning]
    rate = tuning.bitrate_kbps or HARDWARE_DEFAULT_KBPS
    while rate > settings.min_bitrate_kbps:
        rate = max(settings.min_bitrate_kbps, int(rate * BITRATE_STEP))
        rungs.append(dataclasses.replace(tuning, bitrate_kbps=rate))
    return rungs


class EncoderWatch:
    """Watches the encoder thread's frames and retunes the encoder. Runs on that thread; the
    status reads :meth:`status` from others (plain attribute reads)."""

    def __init__(self, encoder: Encoder, settings: AdaptSettings,
                 preview: PreviewOutput | None = None) -> None:
        self.encoder = encoder
        self.preview = preview
        self.settings = settings
        self.rungs = ladder(encoder.tuning, settings)
        self.level = 0
        #: the encoder thread's work per frame as a share of the frame interval, smoothed
        self.load: float | None = None
        self._last_t: float | None = None
        self.changes = 0
        self._risk_since: float | None = None
        self._calm_since: float | None = None
        self._quiet_until = float("-inf")
        self._calm_needed = settings.calm_s
        self._last_up: float | None = None

    @property
    def hardware(self) -> bool:
        """Whether the ladder is of bitrates (a hardware encoder) rather than presets."""
        return self.rungs[0].codec != "libx264"

    def preview_fps(self) -> float | None:
        """The preview's rate cap on this rung: None (every frame) with a software encoder or
        on the configured rung; with a hardware encoder each rung halves it, down to the
        floor."""
        if not self.hardware or self.level == 0:
            return None
        return max(self.settings.preview_min_fps, self.settings.fps / 2 ** self.level)

    def frame(self, t: float, work_s: float, depth: int) -> None:
        """One frame captured at ``t`` took ``work_s`` of the encoder thread; ``depth`` frames
        were waiting behind it."""
        cfg = self.settings
        share = max(0.0, work_s) * cfg.fps
        dt = 1 / cfg.fps if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        weight = 1 - math.exp(-dt / SMOOTHING_S)
        self.load = share if self.load is None else self.load + weight * (share - self.load)
        if len(self.rungs) == 1 or t < self._quiet_until:
            return
        piling = depth >= cfg.queue
        risk = piling or self.load > cfg.high
        calm = self.load < cfg.low and depth == 0
        if risk:
            self._calm_since = None
            self._risk_since = t if self._risk_since is None else self._risk_since
            if self.level + 1 < len(self.rungs) and (
                    piling or t - self._risk_since >= cfg.risk_s):
                self._step(t, +1)
        elif calm:
            self._risk_since = None
            self._calm_since = t if self._calm_since is None else self._calm_since
            if self.level > 0 and t - self._calm_since >= self._calm_needed:
                self._step(t, -1)
        else:
            self._risk_since = self._calm_since = None

    def _step(self, t: float, direction: int) -> None:
        cfg = self.settings
        if direction > 0 and self._last_up is not None and t - self._last_up < self._calm_needed:
            # the step back up did not hold: wait longer before the next one
            self._calm_needed = min(cfg.calm_s * MAX_BACKOFF, self._calm_needed * 2)
        if direction < 0:
            self._last_up = t
        was = self.rungs[self.level]
        self.level += direction
        rung = self.rungs[self.level]
        self.changes += 1
        self.encoder.retune(preset=rung.preset, bitrate_kbps=rung.bitrate_kbps)
        if self.preview is not None:
            self.preview.set_rate(self.preview_fps())
        if direction > 0:
            self.encoder.request_keyframe()  # at risk now: the next frame, not the next GOP
            self._quiet_until = t + max(cfg.risk_s, 0.5)
        else:
            self._quiet_until = t + cfg.keyframe_s + cfg.risk_s
        self._risk_since = self._calm_since = None
        log.info("encoder: %s -> %s (load %.2f of the frame interval)", was.label(),
                 rung.label(), self.load or 0.0)

    def status(self) -> dict[str, Any]:
        """What ``status`` shows of the encoder: the settings in force, the configured ones,
        the floor, the rung, the load and how many changes this boot."""
        now = self.encoder.tuning
        return {**now.as_dict(), "settings": now.label(), "configured": self.rungs[0].label(),
                "floor": self.rungs[-1].label(), "level": self.level,
                "adapted": now != self.rungs[0], "hardware": self.hardware,
                "load": round(self.load, 3) if self.load is not None else None,
                "changes": self.changes, "preview_fps": self.preview_fps()}


def summary(intervals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A recording's encoder settings over time, from its segments' ``encoding`` intervals
    (each with the segment's ``end_s`` added by the caller): how many changes, and the seconds
    spent at each setting; None when it never changed."""
    changes, last, seconds = 0, None, {}
    for entry in intervals:
        tuning = {k: entry[k] for k in ("codec", "preset", "crf", "bitrate_kbps")}
        label = Tuning(**tuning).label()
        if last is not None and label != last:
            changes += 1
        last = label
        seconds[label] = round(seconds.get(label, 0.0) + max(0.0, entry["span_s"]), 3)
    if not changes:
        return None
    return {"changes": changes, "seconds": seconds}
