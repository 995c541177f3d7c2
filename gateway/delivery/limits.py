"""Per-provider concurrency and rate limits for background delivery.

A backlog of thousands of queued messages must not land on a provider all at
once; the outbox workers take a slot (at most `concurrency` in flight) and a
token (at most `rate_per_s`, bursts up to one second's worth) before each send.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from gateway.resilience.clock import Clock


class TokenBucket:
    """`rate_per_s` tokens a second, holding at most `burst`; pure, with a clock."""

    def __init__(self, rate_per_s: float, burst: float, clock: Clock = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> float:
        """Take a token: 0.0 if one was there, else the seconds until it will be
        (the token is reserved: the caller waits that long, then goes)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate_per_s


class ProviderLimiter:
    """Slots and tokens per provider label."""

    def __init__(self, concurrency: int, rate_per_s: float, clock: Clock = time.monotonic) -> None:
        self._concurrency = concurrency
        self._rate_per_s = rate_per_s
        self._clock = clock
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, TokenBucket] = {}

    @contextlib.asynccontextmanager
    async def slot(self, provider: str) -> AsyncIterator[None]:
        semaphore = self._slots.get(provider)
        if semaphore is None:
            semaphore = self._slots[provider] = asyncio.Semaphore(self._concurrency)
        async with semaphore:
            if self._rate_per_s > 0:
                bucket = self._buckets.get(provider)
                if bucket is None:
                    bucket = self._buckets[provider] = TokenBucket(
                        self._rate_per_s, max(1.0, self._rate_per_s), self._clock
                    )
                wait = bucket.take()
                if wait > 0:
                    await asyncio.sleep(wait)
            yield
