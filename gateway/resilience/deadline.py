"""The time budget of one request, shared by all its attempts, backoffs and hedges.

A per-try timeout alone lets three tries of 2 s each keep a caller waiting 6 s
plus backoff. The deadline is set once, when the request arrives (from the
caller's `X-Request-Timeout` or the route's default), and every later step asks
it what is left: a try's timeout is clamped to it, a backoff that would outlive
it is not slept, and the provider is told how long we will still wait.
"""

from __future__ import annotations

import math
import re
import time

from gateway.resilience.clock import Clock

TIMEOUT_HEADER = "X-Request-Timeout"

_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>ms|s)?", re.IGNORECASE)


class Deadline:
    """Expires `timeout_s` seconds after it is created, on the injected monotonic clock."""

    def __init__(self, timeout_s: float, clock: Clock = time.monotonic) -> None:
        if not (math.isfinite(timeout_s) and timeout_s >= 0):
            raise ValueError(f"timeout_s must be a finite number >= 0, got {timeout_s!r}")
        self._clock = clock
        self.timeout_s = timeout_s
        self.expires_at = clock() + timeout_s
        """Clock reading at which the deadline passes."""

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def clamp(self, timeout_s: float) -> float:
        """A per-try timeout cut down to what is left of the deadline."""
        return min(timeout_s, self.remaining())

    def can_wait(self, delay_s: float, min_try_s: float = 0.0) -> bool:
        """Whether sleeping `delay_s` still leaves time for a try of at least `min_try_s`.

        A backoff that ends at or past the deadline is never worth sleeping: the
        next try could not start, and the caller would get its answer later for nothing.
        """
        left_after = self.remaining() - delay_s
        return left_after > 0 and left_after >= min_try_s

    def header_value(self) -> str:
        """Remaining whole milliseconds, rounded down, to forward as `X-Request-Timeout`.

        Rounding down keeps the provider's view of the deadline no later than ours.
        """
        return str(math.floor(self.remaining() * 1000))

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"


def parse_timeout_header(value: str | None) -> float | None:
    """Seconds from the caller's `X-Request-Timeout`, or None when it is absent or empty.

    A plain number is milliseconds (`1500`); a suffix says the unit (`1500ms`,
    `1.5s`). Anything else, and zero, raise ValueError with a message fit to
    return to the caller.
    """
    if value is None or not value.strip():
        return None
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"{TIMEOUT_HEADER} must be a duration such as 1500 (milliseconds), 1500ms or 1.5s, "
            f"got {value!r}"
        )
    number = float(match["number"])
    seconds = number if (match["unit"] or "").lower() == "s" else number / 1000
    if seconds <= 0:
        raise ValueError(f"{TIMEOUT_HEADER} must be greater than zero, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"{TIMEOUT_HEADER} is too large, got {value!r}")
    return seconds
