"""Typed, immutable configuration of the gateway.

Every setting has a default, a unit in its name (`_ms`, `_bytes`) and a valid
range enforced here, so a typo or a bad value is refused when the file is
loaded, never discovered in the request path. An empty file is a valid config:
the defaults describe the seed's six providers on loopback, which is the
embedded default that `make run` serves.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.policy import Model, Policy
from gateway.messages import MESSAGE_TYPES, MessageType

PROVIDER_NAME = re.compile(r"provider[1-9][0-9]*")


class ServerSettings(Model):
    max_body_bytes: Annotated[int, Field(ge=1, le=16 * 1024 * 1024)] = 64 * 1024
    """Largest request body accepted; a larger one is answered 413 and not forwarded."""
    shutdown_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 10_000
    """On SIGTERM, how long in-flight requests may take to finish before the process exits."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class UpstreamSettings(Model):
    client: Literal["aiohttp", "httpx"] = "aiohttp"
    """HTTP client for provider calls. aiohttp forwards about 10x more requests per
    second than httpx on this stack (see README, "Choices we measured"). Per-try
    timeouts belong to the policies (`try_timeout_ms`)."""
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 512
    """Pooled keep-alive connections per process, across all providers."""
    connect_timeout_ms: Annotated[float, Field(gt=0, le=60_000)] = 1_000
    keepalive_ms: Annotated[float, Field(gt=0, le=600_000)] = 4_000
    """How long an idle pooled connection is kept. Keep it below the providers' own
    idle timeout (Express: 5 s): a connection the provider closed first fails the
    next send with a reset, which a no-duplicates policy must not retry."""


class Provider(Model):
    url: str
    """Base URL of the provider, scheme and authority only, e.g. http://127.0.0.1:8071."""
    path: str = "/api/{type}/{name}"
    """Path of the send endpoint; `{type}` and `{name}` are filled in."""

    @field_validator("url")
    @classmethod
    def _http_base_url(cls, url: str) -> str:
        if not re.fullmatch(r"https?://[^/\s?#]+/?", url):
            raise ValueError("must be a base URL such as http://127.0.0.1:8071 (no path)")
        return url.rstrip("/")

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("must start with '/'")
        return path

    def endpoint(self, message_type: str, name: str) -> str:
        return self.url + self.path.format(type=message_type, name=name)


def _seed_providers(first_port: int) -> dict[str, Provider]:
    return {f"provider{i}": Provider(url=f"http://127.0.0.1:{first_port + i}") for i in (1, 2, 3)}


class Providers(Model):
    """The upstream providers of each message type, by name (`provider<i>`)."""

    sms: dict[str, Provider] = Field(default_factory=lambda: _seed_providers(8070))
    email: dict[str, Provider] = Field(default_factory=lambda: _seed_providers(8090))

    @field_validator("sms", "email")
    @classmethod
    def _named_like_the_routes(cls, providers: dict[str, Provider]) -> dict[str, Provider]:
        for name in providers:
            if not PROVIDER_NAME.fullmatch(name):
                raise ValueError(f"provider name {name!r} must look like provider1, provider2, ...")
        return providers

    def of(self, message_type: MessageType) -> dict[str, Provider]:
        return self.sms if message_type == "sms" else self.email


class DeliverySettings(Model):
    """The outbox workers that deliver accepted (202) messages."""

    workers: Annotated[int, Field(ge=1, le=10_000)] = 16
    """Messages delivered at once per process."""
    batch: Annotated[int, Field(ge=1, le=10_000)] = 64
    """Messages claimed from the store per poll."""
    poll_ms: Annotated[float, Field(gt=0, le=60_000)] = 500
    """Pause between polls when the outbox has nothing due; a message accepted by this
    process wakes its worker at once, so this bounds only the wait for retries that
    come due and for messages accepted by other processes."""
    lease_ms: Annotated[float, Field(gt=0, le=3_600_000)] = 30_000
    """A claimed message is someone else's to retry if its worker has not finished
    within this (visibility timeout); longer than any policy deadline."""
    max_age_ms: Annotated[float, Field(gt=0, le=30 * 86_400_000)] = 86_400_000
    """A message not delivered this long after it was accepted is dead-lettered."""
    retry_base_ms: Annotated[float, Field(gt=0, le=3_600_000)] = 1_000
    """First pause before a message whose round of attempts failed is tried again."""
    retry_cap_ms: Annotated[float, Field(gt=0, le=3_600_000)] = 300_000
    """Longest pause between two rounds (capped exponential backoff with full jitter)."""
    provider_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 64
    """Outbox sends in flight to one provider at once, per process."""
    provider_rate_per_s: Annotated[float, Field(ge=0, le=1_000_000)] = 0
    """Outbox sends per second to one provider, per process; 0 means no limit."""
    durability: Literal["full", "normal"] = "full"
    """SQLite: full fsyncs every accepted message before the 202; normal may lose the
    last ones on power loss (not on a process crash)."""

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> DeliverySettings:
        if self.retry_cap_ms < self.retry_base_ms:
            raise ValueError("retry_cap_ms must be at least retry_base_ms")
        return self


class IdempotencySettings(Model):
    """Idempotency-Key handling (IETF draft-ietf-httpapi-idempotency-key-header)."""

    ttl_ms: Annotated[float, Field(gt=0, le=30 * 86_400_000)] = 86_400_000
    """How long a key's first answer is replayed."""
    client_header: str | None = None
    """Header naming the client (e.g. x-client-id); when set, keys are scoped per client."""


class Routes(Model):
    """Which policy each route delivers with."""

    transparent: str = "passthrough"
    """`/api/<type>/provider<i>`: the caller names the provider."""
    sms: str = "failover"
    """`/api/sms`: the gateway picks providers."""
    email: str = "failover"
    """`/api/email`: the gateway picks providers."""


class GatewayConfig(Model):
    """The whole of `gateway.yaml`, with the policies it uses resolved.

    Build it with `gateway.config.load_config` or `default_config`, which read the
    policy presets; the models alone do not know where presets live.
    """

    server: ServerSettings = ServerSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    providers: Providers = Providers()
    store: str = "sqlite"
    """Where accepted messages and idempotency keys live: `sqlite` (a file in
    `data_dir`), `sqlite:///path/to/file.db`, or `redis://host:port/db` (many replicas)."""
    data_dir: str = "./data"
    """Directory of the SQLite file; the GATEWAY_DATA_DIR environment variable wins."""
    delivery: DeliverySettings = DeliverySettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    policies_dir: str = "policies"
    """Directory of the policy presets, relative to the config file; the presets
    shipped with the gateway are used when it does not exist."""
    routes: Routes = Routes()
    policies: dict[str, Policy] = Field(default_factory=dict)
    """Every known policy: the presets, with this file's overrides applied."""

    @model_validator(mode="after")
    def _some_provider(self) -> GatewayConfig:
        if not any(self.providers.of(t) for t in MESSAGE_TYPES):
            raise ValueError("no provider configured: name at least one under providers")
        return self

    @field_validator("store")
    @classmethod
    def _known_store(cls, store: str) -> str:
        if store != "sqlite" and not store.startswith(("sqlite:///", "redis://", "rediss://")):
            raise ValueError("must be sqlite, sqlite:///path or redis://host:port/db")
        return store

    @model_validator(mode="after")
    def _leases_outlive_deadlines(self) -> GatewayConfig:
        bound = [self.policies.get(name) for name in (self.routes.sms, self.routes.email)]
        longest = max((p.deadline_ms for p in bound if p is not None), default=0)
        if self.delivery.lease_ms <= longest:
            raise ValueError(
                f"delivery.lease_ms ({self.delivery.lease_ms:g}) must exceed the longest policy "
                f"deadline_ms ({longest:g}), or a slow delivery would be claimed twice"
            )
        return self

    def policy_for(self, route: Literal["transparent", "sms", "email"]) -> Policy:
        return self.policies[getattr(self.routes, route)]
