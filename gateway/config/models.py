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
    second than httpx on this stack (see README, "Upstream client")."""
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 512
    """Pooled keep-alive connections per process, across all providers."""
    connect_timeout_ms: Annotated[float, Field(gt=0, le=60_000)] = 1_000
    keepalive_ms: Annotated[float, Field(gt=0, le=600_000)] = 4_000
    """How long an idle pooled connection is kept. Keep it below the providers' own
    idle timeout (Express: 5 s): a connection the provider closed first fails the
    next send with a reset, which a no-duplicates policy must not retry."""
    try_timeout_ms: Annotated[float, Field(gt=0, le=600_000)] = 2_000
    """Longest a single upstream call may take (connect, send, answer)."""


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

    def policy_for(self, route: Literal["transparent", "sms", "email"]) -> Policy:
        return self.policies[getattr(self.routes, route)]
