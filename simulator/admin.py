"""The admin routes every provider port serves beside the seed's route.

- `GET /__control[?target=T]`: knobs and outage state of this port's provider (or T).
- `POST /__control`: a JSON object of knobs to change (partial); `"target"` in the
  body or the query names another provider, a type or `all`, which is how a
  provider whose port is closed (`refuse`) is brought back through another port.
- `GET /__ledger[?scope=all|target=T][&keys=all|duplicates|none]`: deliveries by key.
- `POST /__reset[?scope=all|target=T][&knobs=1]`: clear ledgers, optionally knobs too.

Errors are 400 `{"error": ..., "knob": <the name at fault>}` so a test can tell
which knob or parameter was refused.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl

from simulator.asgi import InvalidJson, Receive, Scope, Send, parse_json, read_body, send_json
from simulator.fleet import Fleet, ProviderState
from simulator.knobs import KnobError
from simulator.ledger import KEY_FILTERS, combined_view

ADMIN_PATHS: Final = frozenset({"/__control", "/__ledger", "/__reset"})
_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})


class _BadRequest(Exception):
    def __init__(self, message: str, knob: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.knob = knob

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.knob is not None:
            body["knob"] = self.knob
        return body


class Admin:
    """Admin routes of one port; `state` is the provider the port belongs to."""

    def __init__(self, fleet: Fleet, state: ProviderState) -> None:
        self._fleet = fleet
        self._state = state
        self._routes = {
            ("/__control", "GET"): self._get_control,
            ("/__control", "POST"): self._post_control,
            ("/__ledger", "GET"): self._get_ledger,
            ("/__reset", "POST"): self._post_reset,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._routes.get((scope["path"], scope["method"]))
        if handler is None:
            await send_json(send, 405, {"error": "Method Not Allowed"})
            return
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        try:
            status, answer = await handler(query, receive)
        except _BadRequest as exc:
            status, answer = 400, exc.as_json()
        await send_json(send, status, answer)

    def _targets(self, target: object) -> list[ProviderState]:
        if target is None:
            return [self._state]
        if not isinstance(target, str):
            raise _BadRequest(f"target: expected a provider name, got {target!r}", "target")
        try:
            return self._fleet.select(target)
        except LookupError as exc:
            raise _BadRequest(f"target: {exc.args[0]}", "target") from None

    async def _get_control(self, query: dict[str, str], _: Receive) -> tuple[int, Any]:
        states = self._targets(query.get("target"))
        return 200, {"providers": self._fleet.view(states)}

    async def _post_control(self, query: dict[str, str], receive: Receive) -> tuple[int, Any]:
        raw = await read_body(receive)
        try:
            changes = parse_json(raw) if raw.strip() else {}
        except InvalidJson:
            raise _BadRequest("Invalid JSON body") from None
        if not isinstance(changes, dict):
            raise _BadRequest("control body must be a JSON object of knobs")
        states = self._targets(changes.pop("target", query.get("target")))
        try:
            await self._fleet.change(states, changes)
        except KnobError as exc:
            raise _BadRequest(str(exc), exc.knob) from None
        return 200, {"providers": self._fleet.view(states)}

    def _scope(self, query: dict[str, str]) -> list[ProviderState] | None:
        """The providers a ledger or reset call is about; None for the process-wide view."""
        scope = query.get("scope", "provider")
        if scope == "all":
            return None
        if scope != "provider":
            raise _BadRequest(f"scope: expected 'provider' or 'all', got {scope!r}", "scope")
        return self._targets(query.get("target"))

    async def _get_ledger(self, query: dict[str, str], _: Receive) -> tuple[int, Any]:
        keys = query.get("keys", "all")
        if keys not in KEY_FILTERS:
            expected = ", ".join(KEY_FILTERS)
            raise _BadRequest(f"keys: expected one of {expected}, got {keys!r}", "keys")
        states = self._scope(query)
        if states is None:
            ledgers = {name: state.ledger for name, state in self._fleet.states.items()}
            return 200, combined_view(ledgers, keys)
        if len(states) != 1:
            raise _BadRequest("target: name one provider, or use scope=all", "target")
        state = states[0]
        return 200, state.ledger.view(state.provider.name, keys)

    async def _post_reset(self, query: dict[str, str], receive: Receive) -> tuple[int, Any]:
        await read_body(receive)
        states = self._scope(query)
        if states is None:
            states = list(self._fleet.states.values())
        knobs = query.get("knobs", "0").lower() in _TRUE_WORDS
        await self._fleet.reset(states, knobs=knobs)
        return 200, {"reset": [state.provider.name for state in states], "knobs": knobs}
