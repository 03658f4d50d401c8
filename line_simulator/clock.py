"""A wall clock that tests can freeze and move forward instead of sleeping."""

from __future__ import annotations

import time


class Clock:
    """Seconds since the epoch, shifted by `advance` and optionally frozen."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        """Return the current simulated time in seconds."""
        if self._frozen_at is not None:
            return self._frozen_at + self._offset
        return time.time() + self._offset

    def now_ms(self) -> int:
        """Return the current simulated time in milliseconds, as LINE's timestamps are."""
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (tokens expire, buckets refill) without waiting."""
        self._offset += seconds

    def freeze(self) -> None:
        """Stop the clock at the current instant; only `advance` moves it afterwards."""
        if self._frozen_at is None:
            self._frozen_at = time.time()
