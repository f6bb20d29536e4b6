"""The reviewer's decisions: boxes added, removed or kept by frame range, audio to silence.

A plan is JSON (``--plan FILE``) or command-line specs; both end up as :class:`Plan`, checked
against the footage before anything is decoded twice, each mistake a one-line
:class:`RedactionError`:

- ``add``: blur this box over these frames (a face the detector missed, a name badge);
- ``remove``: automatic boxes whose centre lies in this box over these frames are a false find;
- ``keep``: a face the release may show (the requester's own): automatic boxes whose centre lies
  in this box over these frames stay sharp. ``add`` always wins over ``remove`` and ``keep``.

Frames are indices into the redacted copy (0 is the first frame of the first source segment),
both ends included; boxes are ``x, y, width, height`` in pixels; audio ranges are seconds from
the start of the copy, end excluded.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.redaction import RedactionError
from store.redaction.detector import Box

BOX_OPS = ("add", "remove", "keep")
MAX_REVIEWER = 200


@dataclass(frozen=True)
class BoxOp:
    op: str
    first: int
    last: int
    box: Box
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "frames": [self.first, self.last], "box": list(self.box),
                "note": self.note}

    def covers(self, frame: int, box: Box) -> bool:
        """Whether an automatic ``box`` in ``frame`` is this operation's (its centre is in)."""
        if not self.first <= frame <= self.last:
            return False
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        x, y, w, h = self.box
        return x <= cx <= x + w and y <= cy <= y + h


@dataclass(frozen=True)
class Silence:
    from_s: float
    to_s: float
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"op": "silence", "from_s": self.from_s, "to_s": self.to_s, "note": self.note}


@dataclass
class Plan:
    reviewer: str
    auto: bool = True
    boxes: list[BoxOp] = field(default_factory=list)
    silence: list[Silence] = field(default_factory=list)

    def check(self, frame_count: int, width: int, height: int, duration_s: float) -> None:
        """Refuse operations outside the footage (one line naming the first such)."""
        for op in self.boxes:
            where = f"{op.op} frames {op.first}-{op.last}"
            if op.last >= frame_count:
                raise RedactionError(f"{where}: out of range, the footage has {frame_count} "
                                     f"frames (0-{frame_count - 1})")
            x, y, w, h = op.box
            if x >= width or y >= height or x + w > width or y + h > height:
                raise RedactionError(f"{where}: box {x},{y},{w},{h} is outside the "
                                     f"{width}x{height} picture")
        for s in self.silence:
            if s.from_s >= duration_s:
                raise RedactionError(f"silence {s.from_s:g}-{s.to_s:g} s: starts after the end "
                                     f"of the footage ({duration_s:.3f} s)")

    def operations(self) -> list[dict[str, Any]]:
        return [op.to_json() for op in self.boxes] + [s.to_json() for s in self.silence]


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RedactionError(f"{what} must be a whole number, not {value!r}")
    return value


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RedactionError(f"{what} must be a finite number of seconds, not {value!r}")
    if value < 0:
        raise RedactionError(f"{what} must not be negative ({value!r})")
    return float(value)


def box_op(op: str, frames: Any, box: Any, note: Any = "") -> BoxOp:
    if op not in BOX_OPS:
        raise RedactionError(f"box operation {op!r} is not one of {', '.join(BOX_OPS)}")
    if not isinstance(frames, list | tuple) or len(frames) != 2:
        raise RedactionError(f"{op}: frames must be [first, last], not {frames!r}")
    first, last = (_int(f, f"{op} frame") for f in frames)
    if first < 0 or last < first:
        raise RedactionError(f"{op}: frames {first}-{last} are not a range from 0 up")
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise RedactionError(f"{op}: box must be [x, y, width, height], not {box!r}")
    x, y, w, h = (_int(v, f"{op} box") for v in box)
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise RedactionError(f"{op}: box {x},{y},{w},{h} needs x, y >= 0 and a positive size")
    if not isinstance(note, str):
        raise RedactionError(f"{op}: note must be text")
    return BoxOp(op, first, last, (x, y, w, h), note)


def silence(from_s: Any, to_s: Any, note: Any = "") -> Silence:
    start, end = _seconds(from_s, "silence from_s"), _seconds(to_s, "silence to_s")
    if end <= start:
        raise RedactionError(f"silence {start:g}-{end:g} s: the end must be after the start")
    if not isinstance(note, str):
        raise RedactionError("silence: note must be text")
    return Silence(start, end, note)


def reviewer_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RedactionError("name the reviewer (--reviewer, or \"reviewer\" in the plan)")
    if len(name) > MAX_REVIEWER or any(ord(c) < 32 for c in name):
        raise RedactionError(f"reviewer must be one line of at most {MAX_REVIEWER} characters")
    return name.strip()


def _reject_constant(name: str) -> float:
    raise RedactionError(f"plan: {name} is not a number JSON allows")


def load_plan(path: Path) -> dict[str, Any]:
    """A plan file's JSON object (its fields are checked by :func:`build_plan`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RedactionError(f"plan {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RedactionError(f"plan {path}: not UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RedactionError(f"plan {path}: not a JSON object")
    return data


def build_plan(data: dict[str, Any], reviewer: str | None = None) -> Plan:
    """A :class:`Plan` from a plan object (``--reviewer`` overrides the plan's)."""
    unknown = set(data) - {"reviewer", "auto", "boxes", "silence"}
    if unknown:
        raise RedactionError(f"plan has unknown fields {sorted(unknown)}")
    auto = data.get("auto", True)
    if not isinstance(auto, bool):
        raise RedactionError("plan: auto must be true or false")
    boxes, silences = data.get("boxes", []), data.get("silence", [])
    if not isinstance(boxes, list) or not isinstance(silences, list):
        raise RedactionError("plan: boxes and silence must be lists")
    plan = Plan(reviewer_name(reviewer if reviewer is not None else data.get("reviewer")), auto)
    for item in boxes:
        if not isinstance(item, dict) or set(item) - {"op", "frames", "box", "note"}:
            raise RedactionError(f"plan: a box operation is {{op, frames, box, note}}, not "
                                 f"{str(item)[:60]}")
        plan.boxes.append(box_op(item.get("op"), item.get("frames"), item.get("box"),
                                 item.get("note", "")))
    for item in silences:
        if not isinstance(item, dict) or set(item) - {"from_s", "to_s", "note"}:
            raise RedactionError(f"plan: a silence is {{from_s, to_s, note}}, not "
                                 f"{str(item)[:60]}")
        plan.silence.append(silence(item.get("from_s"), item.get("to_s"), item.get("note", "")))
    return plan


_BOX_SPEC = re.compile(r"^(\d+)-(\d+):(\d+),(\d+),(\d+),(\d+)$")
_NUMBER = r"(\d+(?:\.\d+)?)"
_SILENCE_SPEC = re.compile(rf"^{_NUMBER}-{_NUMBER}$")


def parse_box_spec(op: str, spec: str) -> BoxOp:
    """``FIRST-LAST:X,Y,W,H`` (frames, pixels) from the command line."""
    m = _BOX_SPEC.match(spec.strip())
    if not m:
        raise RedactionError(f"--{op} {spec!r}: expected FIRST-LAST:X,Y,W,H (frames, pixels), "
                             "e.g. 0-89:40,30,64,64")
    first, last, *box = (int(g) for g in m.groups())
    return box_op(op, [first, last], box)


def parse_silence_spec(spec: str) -> Silence:
    """``FROM-TO`` in seconds from the command line."""
    m = _SILENCE_SPEC.match(spec.strip())
    if not m:
        raise RedactionError(f"--silence {spec!r}: expected FROM-TO in seconds, e.g. 1.5-3")
    return silence(float(m.group(1)), float(m.group(2)))
