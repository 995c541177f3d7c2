"""The live state behind one route's policy: breakers, balancer, budget, latencies.

Built from a `Policy` and the route's providers when the config is loaded (and
again on reload); shared by every request on that route. Everything here is
pure and takes the clock and random source it is given.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.config.policy import Policy
from gateway.proxy import Target
from gateway.resilience.backoff import Backoff
from gateway.resilience.balancer import Balancer, make_balancer
from gateway.resilience.breaker import BreakerSettings, BreakerState, CircuitBreaker
from gateway.resilience.budget import AdaptiveThrottle, Budget, RatioBudget, Unlimited
from gateway.resilience.clock import Clock
from gateway.resilience.latency import LatencyWindow


@dataclass(slots=True)
class ProviderState:
    """What this route knows of one provider."""

    target: Target
    breaker: CircuitBreaker | None
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    not_before: float = 0.0
    """Clock time before which the provider asked not to be called (Retry-After)."""


def _budget(policy: Policy, clock: Clock, rng: random.Random) -> Budget:
    settings = policy.budget
    window_s = settings.window_ms / 1000
    if settings.kind == "adaptive":
        return AdaptiveThrottle(
            k=settings.k, window_s=window_s, clock=clock, rng=rng, min_per_s=settings.min_per_s
        )
    if settings.kind == "ratio":
        return RatioBudget(
            ratio=settings.ratio, min_per_s=settings.min_per_s, window_s=window_s, clock=clock
        )
    return Unlimited()


BreakerHook = Callable[[str, BreakerState], None]
"""Told `(provider label, new state)` on every breaker transition (for metrics, logs)."""


def _breaker(
    policy: Policy, target: Target, clock: Clock, hook: BreakerHook | None
) -> CircuitBreaker | None:
    settings = policy.breaker
    if not settings.enabled:
        return None
    return CircuitBreaker(
        BreakerSettings(
            consecutive_failures=settings.consecutive_failures,
            failure_ratio=settings.failure_ratio,
            window_s=settings.window_ms / 1000,
            min_calls=settings.min_calls,
            open_s=settings.open_ms / 1000,
            half_open_probes=settings.half_open_probes,
        ),
        clock=clock,
        on_transition=None if hook is None else lambda _old, new: hook(target.label, new),
    )


class RouteRuntime:
    """One route's policy brought to life over its providers."""

    def __init__(
        self,
        name: str,
        policy: Policy,
        targets: Sequence[Target],
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        on_breaker_change: BreakerHook | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self.providers = {
            t.name: ProviderState(t, _breaker(policy, t, clock, on_breaker_change)) for t in targets
        }
        names = [n for n in policy.balancer.order if n in self.providers]
        names += [n for n in self.providers if n not in names]
        self.order = names
        self.balancer: Balancer = make_balancer(
            policy.balancer.strategy,
            names,
            weights={name: policy.balancer.weights.get(name, 1.0) for name in names},
            rng=self.rng,
            clock=clock,
        )
        self.budget = _budget(policy, clock, self.rng)
        self.backoff = Backoff(
            strategy=policy.retry.backoff.strategy,
            base_s=policy.retry.backoff.base_ms / 1000,
            cap_s=policy.retry.backoff.cap_ms / 1000,
            multiplier=policy.retry.backoff.multiplier,
        )
        self.retry_on = frozenset(policy.retry.retry_on)

    def hedge_delay_s(self, provider: str) -> float:
        """How long to wait for `provider` before racing another one."""
        hedging = self.policy.hedging
        fixed = hedging.delay_ms / 1000
        if hedging.delay_percentile is None:
            return fixed
        live = self.providers[provider].latency.percentile(hedging.delay_percentile / 100)
        if live is None:
            return fixed
        return max(live, hedging.min_delay_ms / 1000)
