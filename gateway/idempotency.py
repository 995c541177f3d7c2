"""Idempotency keys on both routes (IETF draft-ietf-httpapi-idempotency-key-header).

A repeat with the same key and the same request replays the first answer
(flagged `Idempotent-Replayed: true`); while the first is still in flight the
repeat gets 409; the same key with a different request gets 422. Only answers
worth replaying are kept: a success, a 202, or a refusal (4xx other than
408/409/429). After a 5xx the key is released, so the client's retry is a new
try rather than a replay of the failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.models import IdempotencySettings
from gateway.errors import InvalidMessage, RequestError
from gateway.messages import FieldError
from gateway.storage.base import IdempotencyStore, StoredResponse

HEADER = "idempotency-key"
REPLAYED = "idempotent-replayed"
IN_FLIGHT_S = 120.0
"""A key whose request never finished (the process died) is free again after this."""

_KEPT_HEADERS = ("content-type", "location", "retry-after")


class KeyInFlight(RequestError):
    status_code = 409
    outcome = "key_in_flight"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed")


class KeyReused(RequestError):
    status_code = 422
    outcome = "key_reused"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used with a different request")


def key_of(request: Request, settings: IdempotencySettings) -> str | None:
    """The request's key, scoped per client when a client header is configured;
    None without a key. A malformed key is a 400 naming the header."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > 255 or not key.isprintable():
        raise InvalidMessage(
            [FieldError(HEADER, "Idempotency-Key must be 1 to 255 printable characters")]
        )
    if settings.client_header:
        client = request.headers.get(settings.client_header, "")
        return f"{client}\x1f{key}"
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body)
    return digest.hexdigest()


def _replayable(status: int) -> bool:
    return status < 500 and status not in (408, 409, 429)


async def once(
    store: IdempotencyStore,
    key: str,
    print_: str,
    ttl_s: float,
    handle: Callable[[], Awaitable[Response]],
) -> Response:
    """Run `handle` once per key; repeats get its answer back."""
    claim = await store.begin(key, print_, IN_FLIGHT_S)
    if claim.state == "replay" and claim.response is not None:
        stored = claim.response
        return Response(stored.body, stored.status, {**stored.headers, REPLAYED: "true"})
    if claim.state == "in_flight":
        raise KeyInFlight
    if claim.state == "mismatch":
        raise KeyReused
    try:
        response = await handle()
    except BaseException:
        await store.release(key)
        raise
    if _replayable(response.status_code):
        kept = {
            name: value
            for name, value in response.headers.items()
            if name in _KEPT_HEADERS or name.startswith(("x-gateway-", "x-notification-"))
        }
        stored = StoredResponse(response.status_code, kept, bytes(response.body))
        await store.finish(key, print_, stored, ttl_s)
    else:
        await store.release(key)
    return response
