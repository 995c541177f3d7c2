"""Retry and hedge budgets: caps on the extra load the gateway adds to its providers.

Retries help when failures are rare and independent, and hurt when a provider
is overloaded or down: every request then turns into several, the "retry
storm" that keeps a struggling provider down. A budget is one per route policy
and is asked before every attempt; hedges count as retries.

- `AdaptiveThrottle` is the "client-side adaptive throttling" of the Google SRE
  book (chapter "Handling Overload"): it refuses locally in proportion to how far
  the provider's acceptance rate has fallen, so a dead provider sees about as
  many attempts as there are requests, and a healthy one is never throttled.
- `RatioBudget` is the Linkerd / Envoy retry budget: retries may add at most
  `ratio` of the first attempts, plus a small floor so that low traffic can
  still retry at all.
- `Unlimited` turns budgeting off.
"""

from __future__ import annotations

import math
import random
import time
from typing import Protocol

from gateway.resilience.clock import Clock
from gateway.resilience.window import RollingCount


class Budget(Protocol):
    def try_acquire(self, is_retry: bool) -> bool:
        """Called before each attempt (first, retry or hedge): may it be sent?

        Records the attempt; a refused attempt must not be sent.
        """
        ...

    def record_result(self, accepted: bool) -> None:
        """Called when a sent attempt finishes; `accepted` = the provider gave a
        non-failure answer. Not called for an attempt we cancelled ourselves."""
        ...


class AdaptiveThrottle:
    """Refuses attempts locally with probability max(0, (requests - k*accepts) / (requests + 1)).

    Over the last `window_s` seconds, `requests` counts every attempt the gateway
    wanted to send, refused ones included, and `accepts` the attempts the
    provider answered without failing. While accepts keep up with requests / k,
    nothing is refused; when the provider fails everything, accepts stop and
    nearly every extra attempt is refused, yet the few that go through notice the
    recovery. k = 2 tolerates half the attempts failing before throttling starts;
    larger k throttles later.

    Unlike the book, first attempts are not refused unless `throttle_first_attempts`
    is set: the budget caps the load retries and hedges add, and refusing a
    caller's only attempt is left to the circuit breakers. They are still counted
    as requests.

    `min_per_s` x `window_s` attempts beyond k x accepts are never refused (the
    formula becomes max(0, (requests - k*accepts - allowance) / (requests + 1))):
    the book's formula assumes heavy traffic, and on a quiet route it would
    refuse half of the retries of the very first failure (1 request, 0 accepts).
    """

    def __init__(
        self,
        k: float = 2.0,
        window_s: float = 60.0,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        *,
        min_per_s: float = 0.0,
        throttle_first_attempts: bool = False,
    ) -> None:
        if not (math.isfinite(k) and k >= 1):
            # Below 1, a provider that accepts everything would already be throttled.
            raise ValueError(f"k must be a finite number >= 1, got {k!r}")
        if not (math.isfinite(min_per_s) and min_per_s >= 0):
            raise ValueError(f"min_per_s must be a finite number >= 0, got {min_per_s!r}")
        self.k = k
        self.allowance = min_per_s * window_s
        self.throttle_first_attempts = throttle_first_attempts
        self._rng = rng if rng is not None else random.Random()
        self._requests = RollingCount(window_s, clock=clock)
        self._accepts = RollingCount(window_s, clock=clock)

    def refusal_probability(self) -> float:
        """The chance that the next throttled attempt is refused, for metrics and tests."""
        requests = self._requests.total()
        excess = requests - self.k * self._accepts.total() - self.allowance
        return max(0.0, excess / (requests + 1))

    def try_acquire(self, is_retry: bool) -> bool:
        throttled = is_retry or self.throttle_first_attempts
        refuse = throttled and self._rng.random() < self.refusal_probability()
        if refuse:
            self._requests.add()  # a local refusal is a request that ended at once
        return not refuse

    def record_result(self, accepted: bool) -> None:
        # A sent attempt counts as a request when its answer comes, with its accept:
        # counted at send time, a burst of first attempts would look like a run of
        # failures (many requests, no accepts yet) and starve the retries it needs.
        self._requests.add()
        if accepted:
            self._accepts.add()


class RatioBudget:
    """Allows retries while retries < ratio * first attempts + min_per_s * window_s.

    Both counts cover the last `window_s` seconds. First attempts are always
    allowed. The floor `min_per_s` matters at low traffic, where 20% of a handful
    of requests would round down to no retry at all.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_s: float = 10.0,
        window_s: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if not (math.isfinite(ratio) and ratio >= 0):
            raise ValueError(f"ratio must be a finite number >= 0, got {ratio!r}")
        if not (math.isfinite(min_per_s) and min_per_s >= 0):
            raise ValueError(f"min_per_s must be a finite number >= 0, got {min_per_s!r}")
        self.ratio = ratio
        self.min_per_s = min_per_s
        self._floor = min_per_s * window_s
        self._first_attempts = RollingCount(window_s, clock=clock)
        self._retries = RollingCount(window_s, clock=clock)

    def retries_left(self) -> float:
        """How many more retries the window allows now (may be fractional)."""
        allowed = self.ratio * self._first_attempts.total() + self._floor
        return max(0.0, allowed - self._retries.total())

    def try_acquire(self, is_retry: bool) -> bool:
        if not is_retry:
            self._first_attempts.add()
            return True
        if self.retries_left() <= 0:
            return False
        self._retries.add()
        return True

    def record_result(self, accepted: bool) -> None:
        """Outcomes do not matter to a ratio budget."""


class Unlimited:
    """Allows every attempt: budgeting off."""

    def try_acquire(self, is_retry: bool) -> bool:
        return True

    def record_result(self, accepted: bool) -> None:
        """Nothing to record."""
