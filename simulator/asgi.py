"""Small raw-ASGI helpers: read a body, answer JSON, wait for the client to leave.

The simulator skips a framework on purpose: it must never be the bottleneck of
a gateway benchmark, so a request costs a dict lookup or two beyond uvicorn's
own parsing, and fixed answers are encoded once (`Canned`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# What Express's res.json() sends.
JSON_CONTENT_TYPE: Final = b"application/json; charset=utf-8"
# Scope extension under which our protocol hands the app its connection's transport.
TRANSPORT_EXTENSION: Final = "gateway_sim.transport"


class Canned:
    """A fixed JSON answer, encoded once and sent as-is on every use."""

    __slots__ = ("body", "start")

    def __init__(
        self, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        self.start: Message = {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON_CONTENT_TYPE),
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
        self.body: Message = {"type": "http.response.body", "body": body}

    async def send(self, send: Send) -> None:
        await send(self.start)
        await send(self.body)


def dump_json(value: Any) -> bytes:
    """JSON bytes of `value`; falls back to the stdlib for what orjson refuses
    (lone surrogates a JavaScript client may legally send and get echoed back)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")


async def send_json(
    send: Send, status: int, value: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await Canned(status, dump_json(value), headers).send(send)


class InvalidJson(ValueError):
    """A request body that JSON.parse would refuse."""


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Decode a request body like JSON.parse: orjson first, the stdlib for what
    JSON.parse accepts and orjson does not (integers beyond 64 bits, lone surrogates)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidJson(str(exc)) from exc


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def wait_disconnect(receive: Receive) -> None:
    """Return once the client has gone (the body is already read, so nothing else comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def reset_connection(scope: Scope) -> None:
    """Drop the request's connection with a TCP reset, as a crashing peer does."""
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION, {}).get("transport")
    if transport is None or transport.is_closing():
        return  # already gone (the client left, or an outage cut it)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns close into RST instead of an orderly FIN.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
