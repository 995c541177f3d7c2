"""The Starlette application: routes, shared state, start-up and shut-down."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import routes
from gateway.config.models import GatewayConfig
from gateway.delivery.service import Deliveries
from gateway.http import json_response
from gateway.proxy import Upstreams
from gateway.telemetry.logging import get_logger
from gateway.telemetry.metrics import Metrics
from gateway.upstream import UpstreamClient, create_client


@dataclass(slots=True)
class Gateway:
    """What every request needs, built once per process from the config."""

    config: GatewayConfig
    upstreams: Upstreams
    metrics: Metrics
    deliveries: Deliveries
    ready: bool = False


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404/405 (unknown path, wrong method) answer JSON like the rest.
    assert isinstance(exc, HTTPException)
    return json_response(exc.status_code, {"error": exc.detail}, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The last resort: a JSON 500 with the request id, never a traceback on the wire.
    get_logger().exception("unhandled", path=request.url.path)
    return json_response(500, {"error": "Internal gateway error"})


def create_app(config: GatewayConfig, *, client: UpstreamClient | None = None) -> Starlette:
    """Build the gateway for `config`; `client` replaces the configured upstream client."""
    metrics = Metrics()
    upstream_client = client if client is not None else create_client(config.upstream)
    upstreams = Upstreams(config, upstream_client, metrics)
    gateway = Gateway(config, upstreams, metrics, Deliveries(config, upstreams, metrics))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway.ready = True
        get_logger().info("started", providers=[t.label for t in gateway.upstreams.all()])
        try:
            yield
        finally:
            gateway.ready = False
            await upstream_client.aclose()
            get_logger().info("stopped")

    app = Starlette(
        routes=[
            Route("/api/{type}", routes.send_message, methods=["POST"]),
            Route("/api/{type}/{provider}", routes.send_to_provider, methods=["POST"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
            Route("/openapi.json", routes.openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
