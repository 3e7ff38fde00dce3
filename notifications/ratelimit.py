"""A token bucket: RATE frames per second on average, BURST at once."""

from __future__ import annotations

import time


class TokenBucket:
    """Refills continuously; ``take()`` spends one token if there is one."""

    def __init__(self, rate: float, burst: float, clock: object = time.monotonic) -> None:
        self.rate = float(rate)
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()  # type: ignore[operator]

    def take(self) -> bool:
        now = self.clock()  # type: ignore[operator]
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
