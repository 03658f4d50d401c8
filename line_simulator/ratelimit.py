"""Token buckets per endpoint, as LINE limits requests per channel."""

from __future__ import annotations

from line_simulator.clock import Clock


class TokenBucket:
    """Holds up to one second of requests at `rate` per second, refilled continuously."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: float | None = None
        self._last = clock.now()

    def take(self, rate: float) -> bool:
        """Spend one token if there is one; return False when the rate is exceeded."""
        capacity = max(rate, 1.0)
        now = self._clock.now()
        if self._tokens is None:
            self._tokens = capacity
        self._tokens = min(capacity, self._tokens + max(0.0, now - self._last) * rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
