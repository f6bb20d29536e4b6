"""Capped exponential backoff with jitter, on an injected random source.

Twenty cameras that lost the store together must not come back in lock-step, so each delay is
drawn between half and all of ``min(cap, base * 2**(failures - 1))`` ("equal jitter"): never
zero, never more than the cap.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(self, base_s: float, cap_s: float,
                 rand: Callable[[], float] = random.random) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        """Count a failure and return how long to wait before trying again."""
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.failures - 1, 60))
        return ceiling / 2 + self.rand() * ceiling / 2

    def reset(self) -> None:
        """A request succeeded: the next failure waits ``base_s`` again."""
        self.failures = 0
