"""Request handlers. Each reads the request, hands the decision to the policy
engine, and answers; errors become JSON in one place (`http.error_response`)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import Response

from gateway import idempotency
from gateway import openapi as openapi_doc
from gateway.config.policy import Policy
from gateway.delivery.outcomes import ambiguous
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
from gateway.ids import new_id
from gateway.messages import MESSAGE_TYPES, FieldError, MessageType, validate
from gateway.resilience.deadline import Deadline, parse_timeout_header
from gateway.storage.base import OutboxMessage
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


def _upstream_headers(
    request: Request, request_id: str, message_id: str | None = None
) -> tuple[dict[str, str], str]:
    """Headers for every attempt, and the message id they share, so that a provider
    that deduplicates sees every retry and hedge of a message as one.

    The id is `message_id` when given (a stored message's), else the caller's
    X-Notification-Id or Idempotency-Key, else a new one. The caller's
    Idempotency-Key, when given, is forwarded as is.
    """
    headers = forwarded_headers(request.headers.items(), request_id)
    message_id = (
        message_id or headers.get(NOTIFICATION_ID) or headers.get(IDEMPOTENCY_KEY) or new_id()
    )
    headers[NOTIFICATION_ID] = message_id
    headers.setdefault(IDEMPOTENCY_KEY, message_id)
    return headers, message_id


def _wants_async(request: Request, policy: Policy) -> bool:
    """`Prefer: respond-async` (RFC 7240), or a policy in async mode."""
    prefer = request.headers.get("prefer", "")
    asked = any(token.strip().lower() == "respond-async" for token in prefer.split(","))
    return asked or policy.mode == "async"


async def _accept(
    request: Request, gateway: Gateway, message_type: str, body: bytes, request_id: str
) -> Response:
    """Store the message durably, then (only then) answer 202 with where to follow it."""
    message_id = new_id()
    headers, _ = _upstream_headers(request, request_id, message_id)
    headers.pop(DEADLINE_HEADER, None)  # the caller's wait is over once we answer 202
    now = time.time()
    await gateway.store.add(
        OutboxMessage(
            id=message_id,
            type=message_type,
            body=body,
            headers=headers,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
    )
    gateway.worker.nudge()
    status_url = f"/api/messages/{message_id}"
    answer = {"id": message_id, "status": "queued", "status_url": status_url}
    return json_response(
        202,
        answer,
        {
            "location": status_url,
            "preference-applied": "respond-async",
            "x-request-id": request_id,
            "x-notification-id": message_id,
        },
    )


def _may_enqueue(policy: Policy, result: Result) -> bool:
    """An exhausted sync request goes to the outbox only if the policy says so and no
    attempt may already have delivered it (unless duplicates are allowed)."""
    if policy.on_exhausted != "enqueue" or result.kind not in ("exhausted", "unavailable"):
        return False
    possibly_sent = any(a.outcome and ambiguous(a.outcome) for a in result.attempts)
    return policy.duplicates == "allowed" or not possibly_sent


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
        deliveries = gateway.deliveries  # read once: a reload must not change it mid-request
        if transparent:
            target = gateway.upstreams.target(message_type, cast(str, provider))
            route = deliveries.transparent[(target.type, target.name)]
        else:
            found = deliveries.virtual.get(message_type)
            if found is None:
                raise NotFound(f"No provider configured for {message_type}")
            route = found
        body, _ = await read_message(request, message_type, gateway.config.server.max_body_bytes)

        async def process() -> Response:
            nonlocal result, attempts, outcome
            if not transparent and _wants_async(request, route.policy):
                outcome = "accepted"
                return await _accept(request, gateway, message_type, body, request_id)
            deadline = _deadline(request, gateway, route)
            headers, message_id = _upstream_headers(request, request_id)
            result = await deliveries.send(
                route, (route_kind, message_type), body, headers, deadline
            )
            attempts, outcome = len(result.attempts), result.kind
            if not transparent and _may_enqueue(route.policy, result):
                outcome = "enqueued"
                return await _accept(request, gateway, message_type, body, request_id)
            return _respond(result, request_id, message_id, transparent=transparent)

        key = idempotency.key_of(request, gateway.config.idempotency)
        if key is None:
            response = await process()
        else:
            print_ = idempotency.fingerprint(request.method, request.url.path, body)
            ttl_s = gateway.config.idempotency.ttl_ms / 1000
            response = await idempotency.once(gateway.store, key, print_, ttl_s, process)
            if idempotency.REPLAYED in response.headers:
                outcome = "replayed"
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


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


async def message_status(request: Request) -> Response:
    """`GET /api/messages/<id>`: where an accepted message is."""
    request_id = request_id_of(request)
    message = await _gateway(request).store.get(request.path_params["id"])
    if message is None:
        return error_response(NotFound("No message with this id"), request_id)
    return json_response(200, _message_view(message), {"x-request-id": request_id})


def _message_view(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "type": message.type,
        "status": message.status,
        "attempts": message.attempts,
        "provider": message.provider,
        "created_at": _when(message.created_at),
        "updated_at": _when(message.updated_at),
        "next_attempt_at": _when(message.next_attempt_at) if message.status == "queued" else None,
        "delivered_at": _when(message.delivered_at),
        "errors": message.errors,
    }


async def dead_letters(request: Request) -> Response:
    """`GET /admin/dead-letters?limit=N`: messages given up on, oldest first."""
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        error = InvalidMessage([FieldError("limit", "limit must be an integer from 1 to 10000")])
        return error_response(error)
    messages = await _gateway(request).store.dead_letters(int(raw))
    return json_response(200, {"dead_letters": [_message_view(m) for m in messages]})


async def requeue(request: Request) -> Response:
    """`POST /admin/dead-letters/<id>/requeue`: try a dead letter again, due now."""
    message_id = request.path_params["id"]
    if not await _gateway(request).store.requeue(message_id):
        return error_response(NotFound("No dead letter with this id"))
    return json_response(200, {"id": message_id, "status": "queued"})


async def outbox(request: Request) -> Response:
    """`GET /admin/outbox`: how many messages are in each state."""
    return json_response(200, {"counts": await _gateway(request).store.counts()})


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
