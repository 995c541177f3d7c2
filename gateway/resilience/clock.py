"""Where the resilience layer gets the time from, and a hand-driven clock for tests.

Every policy object takes a `clock` argument instead of calling `time.monotonic`
itself. Production passes nothing (the default is `time.monotonic`); tests pass
a `FakeClock` and move time forward with `advance`, so a 5 s open circuit or a
60 s throttle window is exercised in microseconds and without flaky sleeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns monotonic seconds: only differences between two readings mean anything."""


class FakeClock:
    """A monotonic clock that only moves when told to.

    >>> clock = FakeClock()
    >>> clock.advance(1.5)
    >>> clock()
    1.5
    """

    def __init__(self, start: float = 0.0) -> None:
        if not math.isfinite(start):
            raise ValueError(f"start must be a finite number of seconds, got {start!r}")
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        """The current reading, the same value calling the clock returns."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward; a monotonic clock never goes back, so neither does this one."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"
