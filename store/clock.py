"""Store time: the store's own clock, a callable returning UTC Unix seconds.

Tests hand the store a clock they move (any callable: a lambda, a simulated clock's ``wall``),
so retention and request timestamps are tested without sleeping. The text form of a time is
the evidence contract's (evidence/utc.py), re-exported here for the store's modules.
"""

from __future__ import annotations

import time
from typing import Protocol

from evidence.utc import parse_utc, utc_iso


class Clock(Protocol):
    """What the store asks of a clock: the current UTC time in Unix seconds."""

    def __call__(self) -> float: ...


def system_clock() -> float:
    """The machine's wall clock."""
    return time.time()


__all__ = ["Clock", "parse_utc", "system_clock", "utc_iso"]
