"""The Starlette application: routes, shared state, start-up and shut-down."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import routes
from gateway.config.models import GatewayConfig
from gateway.delivery.service import Deliveries
from gateway.delivery.worker import OutboxWorker
from gateway.http import json_response
from gateway.proxy import Upstreams
from gateway.reload import ConfigReloader
from gateway.storage import open_store
from gateway.storage.base import Store
from gateway.telemetry.logging import get_logger
from gateway.telemetry.metrics import Metrics
from gateway.upstream import UpstreamClient, create_client

DATA_DIR_ENV = "GATEWAY_DATA_DIR"


class Gateway:
    """What every request needs, built from the config, and rebuilt on reload.

    A request reads `upstreams` and `deliveries` once and keeps what it read, so
    a reload (which assigns new ones) never changes the rules under a request
    in flight.
    """

    store: Store
    """Opened at start-up (see `create_app`), before the first request."""
    worker: OutboxWorker
    """Started at start-up with the store."""

    def __init__(self, config: GatewayConfig, client: UpstreamClient, metrics: Metrics) -> None:
        self.client = client
        self.metrics = metrics
        self.ready = False
        self.apply(config)

    def apply(self, config: GatewayConfig) -> None:
        """Serve `config` from now on (the pooled client and the metrics are kept)."""
        upstreams = Upstreams(config, self.client, self.metrics)
        deliveries = Deliveries(config, upstreams, self.metrics)
        self.config, self.upstreams, self.deliveries = config, upstreams, deliveries


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404/405 (unknown path, wrong method) answer JSON like the rest.
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    return json_response(exc.status_code, {"error": exc.detail}, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The last resort: a JSON 500 with the request id, never a traceback on the wire.
    get_logger().exception("unhandled", path=request.url.path)
    return json_response(500, {"error": "Internal gateway error"})


def data_dir(config: GatewayConfig) -> Path:
    """Where the SQLite store lives: GATEWAY_DATA_DIR, else `data_dir` from the config."""
    return Path(os.environ.get(DATA_DIR_ENV) or config.data_dir)


def create_app(
    config: GatewayConfig,
    *,
    client: UpstreamClient | None = None,
    config_path: Path | None = None,
    store: Store | None = None,
) -> Starlette:
    """Build the gateway for `config`; `client` and `store` replace the configured ones.

    With `config_path`, the file is watched and reloaded on change or SIGHUP.
    """
    upstream_client = client if client is not None else create_client(config.upstream)
    gateway = Gateway(config, upstream_client, Metrics())
    reloader = ConfigReloader(gateway, config_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway.store = store or await open_store(
            config.store, data_dir(config), durability=config.delivery.durability
        )
        worker = gateway.worker = OutboxWorker(
            gateway.store, lambda: gateway.deliveries, config.delivery
        )
        worker.start()
        gateway.ready = True
        get_logger().info("started", providers=[t.label for t in gateway.upstreams.all()])
        watching = reloader.start() if config_path is not None else None
        try:
            yield
        finally:
            gateway.ready = False
            if watching is not None:
                await reloader.stop()
            await worker.stop(grace_s=config.server.shutdown_timeout_ms / 1000)
            if store is None:
                await gateway.store.close()
            await upstream_client.aclose()
            get_logger().info("stopped")

    app = Starlette(
        routes=[
            Route("/api/messages/{id}", routes.message_status, methods=["GET"]),
            Route("/api/{type}", routes.send_message, methods=["POST"]),
            Route("/api/{type}/{provider}", routes.send_to_provider, methods=["POST"]),
            Route("/admin/outbox", routes.outbox, methods=["GET"]),
            Route("/admin/dead-letters", routes.dead_letters, methods=["GET"]),
            Route("/admin/dead-letters/{id}/requeue", routes.requeue, methods=["POST"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
            Route("/openapi.json", routes.openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.reloader = reloader
    return app
