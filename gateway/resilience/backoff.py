"""How long to wait before retry number n, and what a provider's Retry-After asks for.

The jittered strategies follow Marc Brooker's "Exponential Backoff And Jitter"
(AWS Architecture Blog, 2015). Without jitter, clients that failed together
retry together and hit the recovering provider in synchronized waves; with
"full jitter" the retries of a burst spread evenly over [0, ceiling], which the
article measured as the least total work for the same completion time.

This module only computes delays. Sleeping, and deciding whether a delay still
fits the request's deadline (`Deadline.can_wait`), happen in the engine.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal, get_args

BackoffStrategy = Literal["full_jitter", "decorrelated_jitter", "exponential", "constant"]
BACKOFF_STRATEGIES: tuple[BackoffStrategy, ...] = get_args(BackoffStrategy)

_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Backoff:
    """A delay schedule for retries, in seconds.

    - `full_jitter`: uniform(0, min(cap, base * multiplier ** (n - 1))).
    - `decorrelated_jitter`: min(cap, uniform(base, previous * 3)); each delay grows from
      the one before rather than from n, so it needs `previous_s`.
    - `exponential`: min(cap, base * multiplier ** (n - 1)), no jitter.
    - `constant`: always base.
    """

    strategy: BackoffStrategy = "full_jitter"
    base_s: float = 0.025
    cap_s: float = 0.25
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.strategy not in BACKOFF_STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(BACKOFF_STRATEGIES)}, got {self.strategy!r}"
            )
        if not (math.isfinite(self.base_s) and self.base_s >= 0):
            raise ValueError(f"base_s must be a finite number >= 0, got {self.base_s!r}")
        if not (math.isfinite(self.cap_s) and self.cap_s >= self.base_s):
            raise ValueError(
                f"cap_s must be a finite number >= base_s ({self.base_s!r}), got {self.cap_s!r}"
            )
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be a finite number >= 1, got {self.multiplier!r}")

    def delay(self, retry_number: int, previous_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry `retry_number` (1 for the first retry).

        `previous_s` is the delay returned for the retry before, used only by
        decorrelated jitter; None (first retry) or anything below base counts as base,
        so a short Retry-After fed back in cannot shrink the schedule below its floor.
        """
        if retry_number < 1:
            raise ValueError(f"retry_number starts at 1 for the first retry, got {retry_number!r}")
        if self.strategy == "constant":
            return self.base_s
        if self.strategy == "exponential":
            return self._ceiling(retry_number)
        if self.strategy == "full_jitter":
            return rng.uniform(0.0, self._ceiling(retry_number))
        previous = self.base_s if previous_s is None else max(self.base_s, previous_s)
        # uniform() can land a hair outside [a, b] by rounding; the clamp keeps the
        # documented bounds exact.
        return min(self.cap_s, max(self.base_s, rng.uniform(self.base_s, previous * 3)))

    def _ceiling(self, retry_number: int) -> float:
        """base * multiplier ** (n - 1), capped; large n would overflow a float."""
        try:
            grown = self.base_s * self.multiplier ** (retry_number - 1)
        except OverflowError:
            return self.cap_s
        return min(self.cap_s, grown)


def retry_after_s(header: str | None, now_epoch: float) -> float | None:
    """Seconds a `Retry-After` header asks us to wait, or None if absent or unreadable.

    RFC 9110 section 10.2.3 allows delta-seconds (`120`) or an HTTP-date
    (`Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and asctime forms).
    Fractional seconds (`1.5`) are accepted too, since some providers send them.
    A date in the past means "now": the result is never negative. `now_epoch` is
    wall-clock Unix time (`time.time()`), because an HTTP-date is wall-clock time.
    """
    if header is None:
        return None
    value = header.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # asctime form carries no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_epoch)
