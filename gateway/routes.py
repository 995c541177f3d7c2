"""Request handlers. Each reads the request, hands the decision to a pure unit
or to `Upstreams`, and answers; errors become JSON in one place (`http.error_response`)."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from gateway import openapi as openapi_doc
from gateway.errors import GatewayError, InvalidMessage, NotFound
from gateway.http import (
    error_response,
    forwarded_headers,
    json_response,
    parse_json,
    read_body,
    request_id_of,
    returned_headers,
)
from gateway.messages import MESSAGE_TYPES, validate
from gateway.proxy import outcome_of
from gateway.telemetry.logging import get_logger

if TYPE_CHECKING:
    from gateway.app import Gateway

log = get_logger()


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def read_message(request: Request, message_type: str, limit: int) -> tuple[bytes, Any]:
    """The raw body and its decoded JSON, refused (400/413) unless a provider of
    `message_type` would accept it, so a bad message costs no provider call."""
    body = await read_body(request, limit)
    message = parse_json(request.headers.get("content-type"), body)
    errors = validate(message_type, message)  # type: ignore[arg-type]
    if errors:
        raise InvalidMessage(errors)
    return body, message


async def send_to_provider(request: Request) -> Response:
    """`POST /api/<type>/provider<i>`: the transparent route, a drop-in for the provider."""
    started = perf_counter()
    gateway = _gateway(request)
    request_id = request_id_of(request)
    message_type = request.path_params["type"]
    name = request.path_params["provider"]
    status, attempts, outcome = 500, 0, "error"
    try:
        if message_type not in MESSAGE_TYPES:
            raise NotFound(f"Unknown message type {message_type!r}; use sms or email")
        target = gateway.upstreams.target(message_type, name)
        body, _ = await read_message(request, message_type, gateway.config.server.max_body_bytes)
        attempts = 1
        upstream = await gateway.upstreams.call(
            target,
            body,
            forwarded_headers(request.headers.items(), request_id),
            gateway.config.upstream.try_timeout_ms / 1000,
        )
        status, outcome = upstream.status, outcome_of(upstream.status)
        return Response(upstream.body, status, returned_headers(upstream.headers, request_id))
    except GatewayError as error:
        status, outcome = error.status_code, error.outcome
        return error_response(error, request_id)
    finally:
        elapsed = perf_counter() - started
        route_type = message_type if message_type in MESSAGE_TYPES else "unknown"
        gateway.metrics.requests.labels("transparent", route_type, status).inc()
        gateway.metrics.request_duration.labels("transparent", route_type).observe(elapsed)
        log.info(
            "request",
            request_id=request_id,
            route="transparent",
            type=message_type,
            provider=name,
            status=status,
            attempts=attempts,
            outcome=outcome,
            duration_ms=round(elapsed * 1000, 3),
        )


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return json_response(200, {"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: config loaded, providers configured, not shutting down."""
    gateway = _gateway(request)
    providers = [target.label for target in gateway.upstreams.all()]
    ready = gateway.ready and bool(providers)
    return json_response(
        200 if ready else 503, {"status": "ready" if ready else "not ready", "providers": providers}
    )


async def metrics(request: Request) -> Response:
    gateway = _gateway(request)
    return Response(gateway.metrics.render(), media_type=gateway.metrics.content_type)


async def openapi(request: Request) -> Response:
    return json_response(200, openapi_doc.document(_gateway(request).config))
