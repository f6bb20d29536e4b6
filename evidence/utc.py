"""The evidence time format, written and read here only.

Manifests, audit entries, pending records, receipts, the watermark and the store all spell a
moment as ISO-8601 UTC with milliseconds and a trailing Z: ``2026-01-01T00:00:04.200Z``.
:func:`utc_iso` writes it; :func:`utc_time` reads it back strictly (evidence must be in it);
:func:`parse_utc` reads what a person types (any ISO-8601 offset; a bare date-time is UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

#: the format :func:`utc_iso` writes (``%f`` cut to milliseconds)
FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_iso(seconds: float) -> str:
    """Unix seconds in the evidence time format."""
    return datetime.fromtimestamp(seconds, UTC).strftime(FORMAT)[:-4] + "Z"


def utc_time(text: object) -> datetime:
    """A time in the evidence format as an aware datetime; ValueError (one line) otherwise."""
    try:
        return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"time {text!r} is not UTC ISO-8601 with milliseconds and Z") from None


def utc_seconds(text: object) -> float:
    """A time in the evidence format as Unix seconds."""
    return utc_time(text).timestamp()


def parse_utc(text: object) -> float:
    """Unix seconds from ISO-8601 (a trailing Z or an offset; a bare date-time counts as UTC),
    as an operator types it; only times :func:`utc_iso` can write back out are accepted."""
    if not isinstance(text, str) or not text.isascii() or not text.isprintable() or len(text) > 40:
        shown = repr(text)[:50]
        raise ValueError(f"{shown} is not an ISO-8601 time such as 2026-01-31T08:00:00Z")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO-8601 time such as 2026-01-31T08:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    seconds = parsed.timestamp()
    try:
        utc_iso(seconds)  # every time the store keeps must be one it can write out again
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is outside the years 1-9999 in UTC") from None
    return seconds
