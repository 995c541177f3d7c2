"""Pure resilience policy: what to try next, where, and when; never how.

Nothing here opens a socket, sleeps or reads a global clock. Each piece takes an
injected monotonic `clock` and, where it draws lots, a `random.Random`, so the
async engine (which does the I/O) and the tests (which use `FakeClock`) drive
the same code. Durations are seconds as floats; the config layer converts from ms.

- `backoff`: delay before each retry; `Retry-After` parsing.
- `breaker`: a circuit breaker per provider.
- `budget`: caps on retries and hedges per route.
- `balancer`: which provider gets the next attempt.
- `latency`: recent latencies, for the adaptive hedge delay.
- `deadline`: the request's overall time budget.
"""

from gateway.resilience.backoff import BACKOFF_STRATEGIES, Backoff, BackoffStrategy, retry_after_s
from gateway.resilience.balancer import (
    BALANCER_STRATEGIES,
    Balancer,
    BalancerStrategy,
    P2CEwma,
    Priority,
    RandomChoice,
    RoundRobin,
    Weighted,
    make_balancer,
)
from gateway.resilience.breaker import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Permit,
)
from gateway.resilience.budget import AdaptiveThrottle, Budget, RatioBudget, Unlimited
from gateway.resilience.clock import Clock, FakeClock
from gateway.resilience.deadline import TIMEOUT_HEADER, Deadline, parse_timeout_header
from gateway.resilience.latency import LatencyWindow

__all__ = [
    "BACKOFF_STRATEGIES",
    "BALANCER_STRATEGIES",
    "TIMEOUT_HEADER",
    "AdaptiveThrottle",
    "Backoff",
    "BackoffStrategy",
    "Balancer",
    "BalancerStrategy",
    "BreakerSettings",
    "BreakerState",
    "Budget",
    "CircuitBreaker",
    "Clock",
    "Deadline",
    "FakeClock",
    "LatencyWindow",
    "Outcome",
    "P2CEwma",
    "Permit",
    "Priority",
    "RandomChoice",
    "RatioBudget",
    "RoundRobin",
    "Unlimited",
    "Weighted",
    "make_balancer",
    "parse_timeout_header",
    "retry_after_s",
]
