"""A count over a sliding time window, kept in a fixed ring of buckets.

The breaker and the budgets ask "how many failures in the last 10 s?" on every
call. Keeping each event's timestamp would make that O(events); a ring of
`buckets` counters, each covering `window_s / buckets` seconds, makes both
adding and reading O(1) (at most `buckets` slots are cleared when time jumps).
The price is granularity: the window really covers between
`window_s * (buckets - 1) / buckets` and `window_s` seconds of history, because
the oldest bucket is dropped whole.
"""

from __future__ import annotations

import math
import time

from gateway.resilience.clock import Clock


class RollingCount:
    """How many events were added in roughly the last `window_s` seconds."""

    def __init__(
        self, window_s: float, *, buckets: int = 10, clock: Clock = time.monotonic
    ) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be a finite number > 0, got {window_s!r}")
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets!r}")
        self._clock = clock
        self._width = window_s / buckets
        self._counts = [0] * buckets
        self._total = 0
        self._current = self._bucket_number()

    def add(self, amount: int = 1) -> None:
        self._rotate()
        self._counts[self._current % len(self._counts)] += amount
        self._total += amount

    def total(self) -> int:
        self._rotate()
        return self._total

    def clear(self) -> None:
        self._counts = [0] * len(self._counts)
        self._total = 0
        self._current = self._bucket_number()

    def _bucket_number(self) -> int:
        return math.floor(self._clock() / self._width)

    def _rotate(self) -> None:
        """Empty the buckets that time has moved past since the last call."""
        now = self._bucket_number()
        skipped = now - self._current
        if skipped <= 0:  # same bucket (or a clock that went back: keep counting here)
            return
        size = len(self._counts)
        if skipped >= size:
            self._counts = [0] * size
            self._total = 0
        else:
            for step in range(1, skipped + 1):
                slot = (self._current + step) % size
                self._total -= self._counts[slot]
                self._counts[slot] = 0
        self._current = now
