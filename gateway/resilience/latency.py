"""Recent latencies of one provider, for a live percentile (the adaptive hedge delay).

Hedging after a fixed delay is either too early (wasted load when the provider
is slow across the board) or too late (no help). Hedging after the provider's
own recent p95 sends a second attempt only for the slowest 5% of calls. The
percentile is read on every request, so the window keeps its samples sorted as
they arrive (a binary search and a C-level list shift per sample) and a read is
O(1).
"""

from __future__ import annotations

import bisect
import math
from collections import deque


class LatencyWindow:
    """The last `size` latencies (seconds), and percentiles over them."""

    def __init__(self, size: int = 512, min_samples: int = 20) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size!r}")
        if not (1 <= min_samples <= size):
            raise ValueError(
                f"min_samples must be between 1 and size ({size}), got {min_samples!r}"
            )
        self.size = size
        self.min_samples = min_samples
        self._arrival: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._arrival)

    def add(self, latency_s: float) -> None:
        if not (math.isfinite(latency_s) and latency_s >= 0):
            raise ValueError(f"latency_s must be a finite number >= 0, got {latency_s!r}")
        if len(self._arrival) == self.size:
            oldest = self._arrival.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._arrival.append(latency_s)
        bisect.insort(self._sorted, latency_s)

    def percentile(self, q: float) -> float | None:
        """The q-quantile (q in [0, 1], 0.95 for p95), or None below `min_samples`.

        Interpolates linearly between the two nearest ranks, as numpy's default
        and `statistics.quantiles(method="inclusive")` do, so a percentile moves
        smoothly as samples change instead of jumping from one sample to the next.
        Too few samples would make p95 the maximum of a handful, hence None.
        """
        if not (0 <= q <= 1):
            raise ValueError(f"q is a fraction in [0, 1] (0.95 for p95), got {q!r}")
        count = len(self._sorted)
        if count < self.min_samples:
            return None
        position = q * (count - 1)
        lower = math.floor(position)
        upper = min(lower + 1, count - 1)
        fraction = position - lower
        low, high = self._sorted[lower], self._sorted[upper]
        return low + (high - low) * fraction

    def clear(self) -> None:
        self._arrival.clear()
        self._sorted.clear()
