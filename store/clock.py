"""Store time: an injected callable returning UTC Unix seconds, and the text form evidence uses.

Tests hand the store a clock they move, so retention and request timestamps are tested without
sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from hal.clock import utc_iso

Clock = Callable[[], float]

system_clock: Clock = time.time

__all__ = ["Clock", "parse_utc", "system_clock", "utc_iso"]


def parse_utc(text: object) -> float:
    """Unix seconds from ISO-8601 (a trailing Z or an offset; a bare date-time counts as UTC)."""
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
