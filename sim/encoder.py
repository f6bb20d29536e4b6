"""A fast fake H.264 encoder, so behaviour tests open no codec.

It ignores the picture and writes, by hand, the smallest stream a decoder accepts: Baseline
profile, CAVLC; an IDR is one slice of I_16x16 macroblocks predicted DC with no residual (one
byte each), a P frame one slice whose macroblocks are all skipped (a few bits in all). Decoded,
every frame is mid grey. Keyframes come where requested and at the GOP, every keyframe carries
SPS and PPS (so the muxer builds avcC and a segment plays on its own), ``pts`` are frame slots
(:class:`hal.encoder.Encoder`), a user-data SEI makes each frame's bytes its own (as a real
picture's are), and a filler NAL unit brings each frame to about the size a real encoder would
give, so byte bounds, storage checks and uploads see realistic numbers.

It lives with the simulator, a simulated device like the camera: tests and ``Simulator(...,
encoder=FakeEncoder)`` pick it; the firmware never names it.

A fake can also be slow, on the injected clock: ``slow_encoder(costs)`` makes a factory whose
encoders say each frame cost ``costs[preset]`` seconds (:attr:`hal.encoder.Encoder.cost_s`),
for the real-time watch's tests; retuned (a faster preset, a lower bitrate) they change it at
the next keyframe, as libav's does.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import uuid
from collections.abc import Callable, Mapping

import numpy as np

from hal.encoder import EncodedPacket, Encoder, EncoderFactory, EncoderSettings

NAL_SLICE, NAL_IDR, NAL_SEI, NAL_SPS, NAL_PPS, NAL_FILLER = 1, 5, 6, 7, 8, 12
#: The user-data SEI's UUID: this fake's frames say what they are.
FAKE_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "bodycam:sim/encoder.py").bytes
LOG2_MAX_FRAME_NUM = 16
START = b"\x00\x00\x00\x01"
#: 64x48, the smallest picture the size model was measured at.
SMALLEST_AREA = 64 * 48


class _Bits:
    """An MSB-first bit writer with the Exp-Golomb codes of H.264 (7.2, 9.1)."""

    def __init__(self) -> None:
        self.value, self.length = 0, 0

    def u(self, bits: int, value: int) -> _Bits:
        self.value = (self.value << bits) | (value & ((1 << bits) - 1))
        self.length += bits
        return self

    def ue(self, value: int) -> _Bits:
        code = value + 1
        return self.u(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> _Bits:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        """With rbsp_trailing_bits: a stop bit, then zeros to the byte boundary."""
        self.u(1, 1)
        pad = -self.length % 8
        self.u(pad, 0)
        return self.value.to_bytes(self.length // 8, "big")


def _nal(ref_idc: int, kind: int, rbsp: bytes) -> bytes:
    """A NAL unit with its start code, emulation prevention applied (7.4.1)."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return START + bytes([(ref_idc << 5) | kind]) + bytes(out)


def _sps(mbs_w: int, mbs_h: int, crop_right: int, crop_bottom: int) -> bytes:
    b = _Bits().u(8, 66).u(8, 0xC0).u(8, 40)  # Baseline, constraint_set0+1, level 4.0
    b.ue(0)  # seq_parameter_set_id
    b.ue(LOG2_MAX_FRAME_NUM - 4).ue(2)  # log2_max_frame_num_minus4, pic_order_cnt_type 2
    b.ue(1).u(1, 0)  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
    b.ue(mbs_w - 1).ue(mbs_h - 1)
    b.u(1, 1).u(1, 1)  # frame_mbs_only_flag, direct_8x8_inference_flag
    cropped = bool(crop_right or crop_bottom)
    b.u(1, int(cropped))
    if cropped:
        b.ue(0).ue(crop_right).ue(0).ue(crop_bottom)
    b.u(1, 0)  # vui_parameters_present_flag
    return _nal(3, NAL_SPS, b.rbsp())


def _pps() -> bytes:
    b = _Bits().ue(0).ue(0)  # pic_parameter_set_id, seq_parameter_set_id
    b.u(1, 0).u(1, 0)  # CAVLC, bottom_field_pic_order_in_frame_present_flag
    b.ue(0).ue(0).ue(0)  # num_slice_groups_minus1, num_ref_idx_l0/l1_default_active_minus1
    b.u(1, 0).u(2, 0)  # weighted_pred_flag, weighted_bipred_idc
    b.se(0).se(0).se(0)  # pic_init_qp_minus26, pic_init_qs_minus26, chroma_qp_index_offset
    b.u(1, 1)  # deblocking_filter_control_present_flag (the slices turn it off)
    b.u(1, 0).u(1, 0)  # constrained_intra_pred_flag, redundant_pic_cnt_present_flag
    return _nal(3, NAL_PPS, b.rbsp())


def _idr(mbs: int, idr_pic_id: int) -> bytes:
    b = _Bits().ue(0).ue(7).ue(0)  # first_mb_in_slice, slice_type I (all), pps id
    b.u(LOG2_MAX_FRAME_NUM, 0).ue(idr_pic_id)  # frame_num, idr_pic_id
    b.u(1, 0).u(1, 0)  # dec_ref_pic_marking: no_output_of_prior_pics, long_term_reference
    b.se(0).ue(1)  # slice_qp_delta, disable_deblocking_filter_idc
    for _ in range(mbs):
        # mb_type I_16x16_2_0_0 (DC, no coded blocks), intra_chroma_pred_mode DC,
        # mb_qp_delta 0, the luma DC block's coeff_token: no coefficients
        b.ue(3).ue(0).se(0).u(1, 1)
    return _nal(3, NAL_IDR, b.rbsp())


def _p(mbs: int, frame_num: int) -> bytes:
    b = _Bits().ue(0).ue(5).ue(0)  # first_mb_in_slice, slice_type P (all), pps id
    b.u(LOG2_MAX_FRAME_NUM, frame_num)
    b.u(1, 0).u(1, 0)  # num_ref_idx_active_override_flag, ref_pic_list_modification_flag_l0
    b.u(1, 0)  # adaptive_ref_pic_marking_mode_flag
    b.se(0).ue(1)  # slice_qp_delta, disable_deblocking_filter_idc
    b.ue(mbs)  # mb_skip_run: every macroblock copies the reference
    return _nal(2, NAL_SLICE, b.rbsp())


def _sei(image: np.ndarray, pts: int, t_mono: float, wall: float) -> bytes:
    """A user-data SEI naming the frame: a digest of its picture and its times. Real encoders'
    frames differ because their pictures (and watermarks) do; so do these, and two segments
    never share bytes (a content-addressed store would hold them once)."""
    digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()
    payload = FAKE_UUID + digest + struct.pack(">qdd", pts, t_mono, wall)
    return _nal(0, NAL_SEI, bytes([5, len(payload)]) + payload + b"\x80")


def _filler(size: int) -> bytes:
    """A filler NAL unit of ``size`` bytes in all (decoders drop it), or nothing if too small."""
    if size < 6:
        return b""
    return START + bytes([NAL_FILLER]) + b"\xff" * (size - 6) + b"\x80"


class FakeEncoder(Encoder):
    """The :data:`hal.encoder.EncoderFactory` of behaviour tests: ``FakeEncoder(settings)``."""

    def __init__(self, settings: EncoderSettings,
                 costs: Mapping[str, float] | Callable[[str, int], float] | None = None) -> None:
        super().__init__(settings)
        self.costs = costs
        self._sizes(settings.bitrate_kbps)
        self._cost()
        mbs_w, mbs_h = -(-settings.width // 16), -(-settings.height // 16)
        self.mbs = mbs_w * mbs_h
        self.headers = _sps(mbs_w, mbs_h, (mbs_w * 16 - settings.width) // 2,
                            (mbs_h * 16 - settings.height) // 2) + _pps()
        self._idr = [_idr(self.mbs, i) for i in (0, 1)]
        self._idr_count = 0
        self._frame_num = 0

    def _cost(self) -> None:
        """What a frame costs at the tuning in force (None: not modelled, the watch measures);
        ``costs`` may be a function of (preset, bitrate_kbps)."""
        costs, tuning = self.costs, self.tuning
        if costs is None:
            self.cost_s = None
        elif callable(costs):
            self.cost_s = float(costs(tuning.preset, tuning.bitrate_kbps))
        else:
            self.cost_s = float(costs.get(tuning.preset, 0.0))

    def _sizes(self, bitrate_kbps: int) -> None:
        settings = self.settings
        # About what libx264 gives the simulated scene (measured from 64x48 to 1280x720): a P
        # frame grows with the log of the picture's area, a keyframe a little faster.
        octaves = max(0.0, math.log2(settings.width * settings.height / SMALLEST_AREA))
        key_to_p = 2 + octaves / 4
        if bitrate_kbps:
            per_frame = bitrate_kbps * 1000 / 8 / settings.fps
            p_bytes = per_frame * self.gop / (self.gop - 1 + key_to_p)
        else:
            p_bytes = (640 + 200 * octaves) * 2 ** ((23 - settings.crf) / 6)
        self.p_bytes = int(p_bytes)
        self.key_bytes = int(key_to_p * p_bytes)

    def encode(self, image: np.ndarray, t_mono: float, wall: float) -> list[EncodedPacket]:
        pts = self.slot(t_mono)
        forced = self.take_keyframe_request()
        key = self.keyframe_due(forced) or self._idr_count == 0
        if self.take_retune(key) is not None:
            self._sizes(self.tuning.bitrate_kbps)
        self._cost()  # a function of the moment's load, as a test sets it
        sei = _sei(image, pts, t_mono, wall)
        if key:
            data = self.headers + sei + self._idr[self._idr_count % 2]
            self._idr_count += 1
            self._frame_num = 1
            target = self.key_bytes
        else:
            data = sei + _p(self.mbs, self._frame_num)
            self._frame_num = (self._frame_num + 1) % (1 << LOG2_MAX_FRAME_NUM)
            target = self.p_bytes
        self.counted(key)
        return [EncodedPacket(data + _filler(target - len(data)), pts, key, t_mono, wall,
                              self.tuning)]


def slow_encoder(costs: Mapping[str, float] | Callable[[str, int], float]) -> EncoderFactory:
    """A :class:`FakeEncoder` factory whose frames cost ``costs`` (by preset, or a function of
    preset and bitrate) seconds each, as the real-time watch reads it."""
    return functools.partial(FakeEncoder, costs=costs)
