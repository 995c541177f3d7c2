"""HTTP plumbing shared by the routes: bodies in, JSON out, headers across.

Kept apart from the routes so that what the gateway accepts and what it passes
on can be read (and tested) in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError, InvalidMessage, PayloadTooLarge
from gateway.ids import new_id
from gateway.messages import FieldError

# Express answers JSON with this exact type; so do we, to be a drop-in.
JSON_TYPE: Final = "application/json; charset=utf-8"

# RFC 9110 7.6.1 connection-specific headers, plus those the client recomputes.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED: Final = HOP_BY_HOP | {"host", "content-length", "expect"}
_NOT_RETURNED: Final = HOP_BY_HOP | {"content-length", "date", "server"}

REQUEST_ID: Final = "x-request-id"


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers=headers, media_type=JSON_TYPE)


def error_response(error: GatewayError, request_id: str | None = None) -> Response:
    headers = error.headers()
    if request_id:
        headers[REQUEST_ID] = request_id
    return json_response(error.status_code, error.to_json(), headers)


def request_id_of(request: Request) -> str:
    """The caller's `X-Request-Id` when it sent one (so its traces join ours), else a new one."""
    given = request.headers.get(REQUEST_ID)
    if given and len(given) <= 200 and given.isprintable():
        return given
    return new_id()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(limit)
    return bytes(body)


def is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def parse_json(content_type: str | None, body: bytes) -> Any:
    """The decoded JSON body; a wrong content type or malformed JSON is a 400 naming why."""
    if not is_json_type(content_type):
        raise InvalidMessage([FieldError("content-type", "Content-Type must be application/json")])
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage([FieldError("body", f"Invalid JSON body: {exc}")]) from exc


def forwarded_headers(incoming: Iterable[tuple[str, str]], request_id: str) -> dict[str, str]:
    """The end-to-end headers of a client request, as sent on to a provider.

    Hop-by-hop headers, and any the client's `Connection` header names, stay here.
    """
    pairs = list(incoming)
    named = {
        token.strip().lower()
        for key, value in pairs
        if key == "connection"
        for token in value.split(",")
    }
    headers = {key: value for key, value in pairs if key not in _NOT_FORWARDED and key not in named}
    headers[REQUEST_ID] = request_id
    return headers


def returned_headers(upstream: Iterable[tuple[str, str]], request_id: str) -> dict[str, str]:
    """The headers of a provider's answer that reach the client, plus our request id."""
    headers = {key: value for key, value in upstream if key not in _NOT_RETURNED}
    headers[REQUEST_ID] = request_id
    return headers
