"""Upstream HTTP clients behind one small interface (`UpstreamClient`)."""

from __future__ import annotations

from gateway.config.models import UpstreamSettings
from gateway.upstream.base import UpstreamClient, UpstreamResponse


def create_client(settings: UpstreamSettings) -> UpstreamClient:
    """The client `settings.client` names, pooled per process."""
    connect_timeout_s = settings.connect_timeout_ms / 1000
    keepalive_s = settings.keepalive_ms / 1000
    if settings.client == "httpx":
        from gateway.upstream.httpx_client import HttpxUpstreamClient

        return HttpxUpstreamClient(
            max_connections=settings.max_connections,
            connect_timeout_s=connect_timeout_s,
            keepalive_s=keepalive_s,
        )
    from gateway.upstream.aiohttp_client import AiohttpUpstreamClient

    return AiohttpUpstreamClient(
        max_connections=settings.max_connections,
        connect_timeout_s=connect_timeout_s,
        keepalive_s=keepalive_s,
    )


__all__ = ["UpstreamClient", "UpstreamResponse", "create_client"]
