"""The ASGI app behind one provider's port: the seed's route, then the admin routes.

Order of a send, as the seed has it: parse, validate (a 400 never depends on
chance or on an outage), then the outage, then the coin tosses. Outcome and
delay are drawn before waiting, so a seeded run repeats however long the waits.
A delivery is recorded when the provider "does the work", even if the client
has left meanwhile: that is how a hedged or timed-out call turns into a
duplicate at a real provider.
"""

from __future__ import annotations

import asyncio
from typing import Final

import orjson

from gateway.messages import validate
from simulator.admin import ADMIN_PATHS, Admin
from simulator.asgi import (
    Canned,
    InvalidJson,
    Receive,
    Scope,
    Send,
    parse_json,
    read_body,
    reset_connection,
    send_json,
    wait_disconnect,
)
from simulator.behaviour import Outcome, decide, delay_s
from simulator.fleet import Fleet, ProviderState
from simulator.ledger import ledger_key

NOT_FOUND: Final = Canned(404, orjson.dumps({"error": "Not Found"}))
INVALID_JSON: Final = Canned(400, orjson.dumps({"error": "Invalid JSON body"}))


class ProviderApp:
    """Plays one provider: `POST /api/<type>/provider<i>` plus `/__control`, `/__ledger`,
    `/__reset`; everything else is 404, like Express without a matching route."""

    def __init__(self, state: ProviderState, fleet: Fleet) -> None:
        provider = state.provider
        self._state = state
        self._kind = provider.kind
        self._route = provider.path
        self._admin = Admin(fleet, state)
        self._sent = Canned(200, provider.sent_body)
        self._failed = Canned(500, provider.failed_body)

    def _is_route(self, path: str) -> bool:
        # Express routes ignore case and one trailing slash unless told otherwise.
        return path == self._route or path.lower().removesuffix("/") == self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if self._is_route(path):
            if scope["method"] != "POST":
                await NOT_FOUND.send(send)
                return
            try:
                await self._send_message(scope, receive, send)
            except asyncio.CancelledError:
                return  # the process is stopping; the connection is already cut
        elif path in ADMIN_PATHS:
            await self._admin(scope, receive, send)
        else:
            await NOT_FOUND.send(send)

    async def _send_message(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self._state
        raw = await read_body(receive)
        try:
            # express.json() parses only an application/json body; anything else (curl's
            # default form encoding, say), like an empty body, leaves req.body as {}.
            body = parse_json(raw) if raw and _is_json(scope) else {}
        except InvalidJson:
            state.ledger.attempts["400"] += 1
            await INVALID_JSON.send(send)
            return
        errors = validate(self._kind, body)
        if errors:
            state.ledger.attempts["400"] += 1
            await send_json(send, 400, {"error": errors[0].message})
            return

        outage = state.outage
        if outage is not None:
            if outage == "refuse":  # a request that raced the port closing
                await _cut(scope, receive)
                return
            state.ledger.attempts["500"] += 1
            await self._failed.send(send)
            return

        knobs = state.knobs
        outcome = decide(knobs, state.outcome_rng)
        state.ledger.attempts[outcome] += 1
        if outcome is Outcome.HUNG:
            await wait_disconnect(receive)
            return
        if knobs.has_latency:
            await asyncio.sleep(delay_s(knobs, state.latency_rng))
            if state.outage == "refuse":  # the provider "crashed" meanwhile: nothing sent
                await _cut(scope, receive)
                return
        if outcome is Outcome.SENT:
            state.ledger.record(ledger_key(scope["headers"], raw))
            await self._sent.send(send)
        elif outcome is Outcome.FAILED:
            await self._failed.send(send)
        elif outcome is Outcome.THROTTLED:
            retry_after = (b"retry-after", str(knobs.retry_after_s).encode("ascii"))
            await Canned(429, state.provider.throttled_body, (retry_after,)).send(send)
        else:  # Outcome.RESET: the provider did send, but its answer breaks mid-way
            state.ledger.record(ledger_key(scope["headers"], raw))
            await self._reset(scope, receive, send)

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the 200's head and half its body, then reset the connection."""
        body = self._sent.body["body"]
        await send(self._sent.start)
        half = body[: len(body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        await _cut(scope, receive)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


async def _cut(scope: Scope, receive: Receive) -> None:
    """Reset the connection and return once uvicorn has seen it go, so it does not
    try to answer a request whose app returned without a response."""
    reset_connection(scope)
    await wait_disconnect(receive)
