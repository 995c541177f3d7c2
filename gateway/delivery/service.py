"""Deliver a message on a route: build the plan, run it, count what happened."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

from gateway.config.models import GatewayConfig
from gateway.delivery.driver import deliver
from gateway.delivery.limits import ProviderLimiter
from gateway.delivery.plan import Attempt, Plan, Result
from gateway.delivery.runtime import BreakerHook, RouteRuntime
from gateway.messages import MESSAGE_TYPES
from gateway.proxy import Upstreams
from gateway.resilience.breaker import BreakerState
from gateway.resilience.clock import Clock
from gateway.resilience.deadline import Deadline
from gateway.telemetry.logging import get_logger
from gateway.telemetry.metrics import Metrics
from gateway.upstream import UpstreamResponse

log = get_logger()

DEADLINE_HEADER = "x-request-timeout"
"""Milliseconds the caller will wait; we send what is left of ours on to providers."""


class Deliveries:
    """The policy engine of every route, built once per config."""

    def __init__(
        self,
        config: GatewayConfig,
        upstreams: Upstreams,
        metrics: Metrics,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._upstreams = upstreams
        self._metrics = metrics
        self.clock = clock
        rng = rng or random.Random()

        def breaker_changed(route: str) -> BreakerHook:
            def record(provider: str, state: BreakerState) -> None:
                metrics.breaker_transitions.labels(route, provider, state.name.lower()).inc()
                log.warning("breaker", route=route, provider=provider, state=state.name.lower())

            return record

        self.virtual: dict[str, RouteRuntime] = {
            message_type: RouteRuntime(
                message_type,
                config.policy_for(message_type),
                upstreams.of_type(message_type),
                clock=clock,
                rng=rng,
                on_breaker_change=breaker_changed(message_type),
            )
            for message_type in MESSAGE_TYPES
            if upstreams.of_type(message_type)
        }
        # The caller names the provider on the transparent route: one runtime (and so one
        # breaker) per provider, on the transparent route's policy.
        self.transparent: dict[tuple[str, str], RouteRuntime] = {
            (target.type, target.name): RouteRuntime(
                "transparent",
                config.policy_for("transparent"),
                [target],
                clock=clock,
                rng=rng,
                on_breaker_change=breaker_changed("transparent"),
            )
            for target in upstreams.all()
        }

    def deadline(self, route: RouteRuntime, caller_timeout_s: float | None) -> Deadline:
        """The policy's deadline, or the caller's when it is shorter."""
        timeout_s = route.policy.deadline_ms / 1000
        if caller_timeout_s is not None:
            timeout_s = min(timeout_s, caller_timeout_s)
        return Deadline(timeout_s, clock=self.clock)

    async def send(
        self,
        route: RouteRuntime,
        labels: tuple[str, str],
        body: bytes,
        headers: Mapping[str, str],
        deadline: Deadline,
        limiter: ProviderLimiter | None = None,
    ) -> Result:
        """Deliver `body` on `route` within `deadline`; `labels` (route kind, message type)
        label the metrics; `limiter` paces the calls to each provider (outbox)."""

        async def call(attempt: Attempt) -> UpstreamResponse:
            sent = {**headers, DEADLINE_HEADER: deadline.header_value()}
            return await self._upstreams.call(
                attempt.provider.target, body, sent, attempt.timeout_s
            )

        async def attempt(attempt: Attempt) -> UpstreamResponse:
            if limiter is None:
                return await call(attempt)
            async with limiter.slot(attempt.label):
                return await call(attempt)

        result = await deliver(Plan(route, deadline), attempt)
        self._count(labels, result)
        return result

    def _count(self, labels: tuple[str, str], result: Result) -> None:
        metrics = self._metrics
        if result.hedges:
            metrics.hedges.labels(*labels, "sent").inc(result.hedges)
        if result.hedge_won:
            metrics.hedges.labels(*labels, "won").inc()
        if result.possible_duplicates:
            metrics.possible_duplicates.labels(*labels).inc(result.possible_duplicates)
        metrics.deliveries.labels(*labels, result.kind).inc()
