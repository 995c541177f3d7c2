"""Request handlers. Each reads the request, hands the decision to the policy
engine, and answers; errors become JSON in one place (`http.error_response`)."""

from __future__ import annotations

import math
import uuid
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import Response

from gateway import openapi as openapi_doc
from gateway.delivery.plan import Result
from gateway.delivery.runtime import RouteRuntime
from gateway.delivery.service import DEADLINE_HEADER
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
from gateway.messages import MESSAGE_TYPES, FieldError, MessageType, validate
from gateway.resilience.deadline import Deadline, parse_timeout_header
from gateway.telemetry.logging import get_logger

if TYPE_CHECKING:
    from gateway.app import Gateway

log = get_logger()

IDEMPOTENCY_KEY = "idempotency-key"
NOTIFICATION_ID = "x-notification-id"


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _message_type(value: str) -> MessageType:
    if value not in MESSAGE_TYPES:
        raise NotFound(f"Unknown message type {value!r}; use sms or email")
    return value


async def read_message(
    request: Request, message_type: MessageType, limit: int
) -> tuple[bytes, Any]:
    """The raw body and its decoded JSON, refused (400/413) unless a provider of
    `message_type` would accept it, so a bad message costs no provider call."""
    body = await read_body(request, limit)
    message = parse_json(request.headers.get("content-type"), body)
    errors = validate(message_type, message)
    if errors:
        raise InvalidMessage(errors)
    return body, message


def _deadline(request: Request, gateway: Gateway, route: RouteRuntime) -> Deadline:
    try:
        caller_timeout_s = parse_timeout_header(request.headers.get(DEADLINE_HEADER))
    except ValueError as exc:
        raise InvalidMessage([FieldError(DEADLINE_HEADER, str(exc))]) from exc
    return gateway.deliveries.deadline(route, caller_timeout_s)


def _upstream_headers(request: Request, request_id: str) -> tuple[dict[str, str], str]:
    """Headers for every attempt, and the message id they share: the caller's
    Idempotency-Key or X-Notification-Id, else a new one, so that a provider that
    deduplicates sees every retry and hedge of a message as one."""
    headers = forwarded_headers(request.headers.items(), request_id)
    message_id = headers.get(IDEMPOTENCY_KEY) or headers.get(NOTIFICATION_ID) or uuid.uuid4().hex
    headers[IDEMPOTENCY_KEY] = headers.get(IDEMPOTENCY_KEY) or message_id
    headers[NOTIFICATION_ID] = headers.get(NOTIFICATION_ID) or message_id
    return headers, message_id


def _gateway_headers(result: Result, request_id: str, message_id: str) -> dict[str, str]:
    headers = {
        "x-request-id": request_id,
        "x-notification-id": message_id,
        "x-gateway-attempts": str(len(result.attempts)),
        "x-gateway-hedges": str(result.hedges),
        "x-gateway-possible-duplicates": str(result.possible_duplicates),
    }
    if result.attempt is not None:
        headers["x-gateway-provider"] = result.attempt.label
    return headers


def _respond(result: Result, request_id: str, message_id: str, *, transparent: bool) -> Response:
    """The answer for a finished delivery.

    A provider's answer (success, 4xx, and on the transparent route any status)
    goes back as is, plus our headers; otherwise a JSON error names each attempt.
    """
    headers = _gateway_headers(result, request_id, message_id)
    last = result.attempt
    passes_through = result.kind in ("delivered", "refused") or transparent
    if last is not None and last.response is not None and passes_through:
        returned = returned_headers(last.response.headers, request_id)
        return Response(last.response.body, last.response.status, {**returned, **headers})
    now = perf_counter()
    attempts = [attempt.summary(now) for attempt in result.attempts]
    if result.kind == "unavailable":
        headers["retry-after"] = str(max(1, math.ceil(result.retry_after_s or 1)))
        payload = {"error": f"No provider available: {result.reason}", "reason": result.reason}
        return json_response(503, {**payload, "attempts": attempts}, headers)
    if transparent and last is not None and last.error is not None:
        return json_response(
            last.error.status_code, {**last.error.to_json(), "attempts": attempts}, headers
        )
    payload = {"error": f"Could not deliver: {result.reason}", "reason": result.reason}
    return json_response(502, {**payload, "attempts": attempts}, headers)


async def _handle(request: Request, *, transparent: bool) -> Response:
    started = perf_counter()
    gateway = _gateway(request)
    request_id = request_id_of(request)
    raw_type = request.path_params["type"]
    route_kind = "transparent" if transparent else "virtual"
    provider = request.path_params.get("provider")
    status, attempts, outcome, result = 500, 0, "error", None
    try:
        message_type = _message_type(raw_type)
        if transparent:
            target = gateway.upstreams.target(message_type, cast(str, provider))
            route = gateway.deliveries.transparent[(target.type, target.name)]
        else:
            found = gateway.deliveries.virtual.get(message_type)
            if found is None:
                raise NotFound(f"No provider configured for {message_type}")
            route = found
        body, _ = await read_message(request, message_type, gateway.config.server.max_body_bytes)
        deadline = _deadline(request, gateway, route)
        headers, message_id = _upstream_headers(request, request_id)
        result = await gateway.deliveries.send(
            route, (route_kind, message_type), body, headers, deadline
        )
        attempts, outcome = len(result.attempts), result.kind
        response = _respond(result, request_id, message_id, transparent=transparent)
        status = response.status_code
        return response
    except GatewayError as error:
        status, outcome = error.status_code, error.outcome
        return error_response(error, request_id)
    finally:
        elapsed = perf_counter() - started
        type_label = raw_type if raw_type in MESSAGE_TYPES else "unknown"
        gateway.metrics.requests.labels(route_kind, type_label, status).inc()
        gateway.metrics.request_duration.labels(route_kind, type_label).observe(elapsed)
        log.info(
            "request",
            request_id=request_id,
            route=route_kind,
            type=raw_type,
            provider=result.attempt.label if result and result.attempt else provider,
            status=status,
            attempts=attempts,
            hedges=result.hedges if result else 0,
            possible_duplicates=result.possible_duplicates if result else 0,
            outcome=outcome,
            duration_ms=round(elapsed * 1000, 3),
        )


async def send_to_provider(request: Request) -> Response:
    """`POST /api/<type>/provider<i>`: the transparent route, a drop-in for the provider."""
    return await _handle(request, transparent=True)


async def send_message(request: Request) -> Response:
    """`POST /api/<type>`: the gateway picks providers by the route's policy."""
    return await _handle(request, transparent=False)


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
