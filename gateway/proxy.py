"""One call to one provider, measured: the I/O edge under every route.

Routes and the policy engine decide *which* provider to call and *whether* to
call again; `Upstreams.call` only performs a call and records what happened,
so every attempt, however it was decided, shows in the same metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from time import perf_counter

from gateway.config.models import GatewayConfig
from gateway.delivery.outcomes import outcome_of_status
from gateway.errors import NotFound, UpstreamError
from gateway.messages import MESSAGE_TYPES
from gateway.telemetry.metrics import Metrics
from gateway.upstream import UpstreamClient, UpstreamResponse


@dataclass(frozen=True, slots=True)
class Target:
    """A provider endpoint, resolved once from config."""

    type: str
    name: str
    url: str

    @property
    def label(self) -> str:
        """How logs, metrics and errors name the provider: `sms/provider1`."""
        return f"{self.type}/{self.name}"


class Upstreams:
    """The configured providers and the shared client that calls them."""

    def __init__(self, config: GatewayConfig, client: UpstreamClient, metrics: Metrics) -> None:
        self.client = client
        self._metrics = metrics
        self._targets: dict[tuple[str, str], Target] = {
            (message_type, name): Target(message_type, name, provider.endpoint(message_type, name))
            for message_type in MESSAGE_TYPES
            for name, provider in config.providers.of(message_type).items()
        }

    def target(self, message_type: str, name: str) -> Target:
        try:
            return self._targets[(message_type, name)]
        except KeyError:
            raise NotFound(f"No provider {name!r} for message type {message_type!r}") from None

    def all(self) -> list[Target]:
        return list(self._targets.values())

    def of_type(self, message_type: str) -> list[Target]:
        return [target for (kind, _), target in self._targets.items() if kind == message_type]

    async def call(
        self, target: Target, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> UpstreamResponse:
        """POST `body` to `target`; raises `UpstreamError` when no whole answer came back."""
        started = perf_counter()
        try:
            response = await self.client.post(target.label, target.url, body, headers, timeout_s)
        except UpstreamError as exc:
            self._record(target, exc.outcome, started)
            raise
        except asyncio.CancelledError:
            self._record(target, "cancelled", started)  # a hedge loser, or the caller left
            raise
        self._record(target, outcome_of_status(response.status), started)
        return response

    def _record(self, target: Target, outcome: str, started: float) -> None:
        self._metrics.upstream_attempts.labels(target.label, outcome).inc()
        self._metrics.upstream_duration.labels(target.label).observe(perf_counter() - started)
