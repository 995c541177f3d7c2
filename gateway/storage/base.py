"""The storage interface behind durable delivery: an outbox and idempotency keys.

Two real backends implement it: SQLite (embedded, zero set-up, one process or
several on one host) and Redis (many replicas). Everything above this module
speaks only these protocols, so the accept path and the delivery workers are
the same whichever store holds the messages.

Times are wall-clock epoch seconds (they outlive the process); every backend
takes a `clock` so tests can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Status = Literal["queued", "sending", "delivered", "failed"]
WallClock = Callable[[], float]


@dataclass(slots=True)
class OutboxMessage:
    """A message the gateway accepted and must deliver (at least once)."""

    id: str
    type: str
    """`sms` or `email`: the virtual route whose policy delivers it."""
    body: bytes
    """The request body as the client sent it, forwarded byte for byte."""
    headers: dict[str, str]
    """End-to-end headers to send with every attempt (traceparent, x-request-id, ...)."""
    status: Status = "queued"
    attempts: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    provider: str | None = None
    """The provider that took it (`sms/provider2`), once delivered."""
    errors: dict[str, str] = field(default_factory=dict)
    """The last error seen from each provider, by provider label."""


class Outbox(Protocol):
    """Durable queue of accepted messages with leases (visibility timeouts).

    A claimed message is `sending` and leased to its claimer for `lease_s`; if the
    claimer dies, the lease runs out and another worker (or replica) claims it
    again. Delivery is at least once; order is not promised.
    """

    async def add(self, message: OutboxMessage) -> None:
        """Store a new `queued` message; durable (committed) when this returns."""
        ...

    async def claim(self, owner: str, limit: int, lease_s: float) -> list[OutboxMessage]:
        """Up to `limit` messages due now (queued with next_attempt_at <= now, or sending
        with an expired lease), marked `sending` and leased to `owner`."""
        ...

    async def delivered(self, message_id: str, provider: str, attempts: int) -> None:
        """Mark delivered by `provider` after `attempts` attempts in all."""
        ...

    async def retry_later(
        self, message_id: str, delay_s: float, attempts: int, errors: dict[str, str]
    ) -> None:
        """Back to `queued`, due in `delay_s`; `errors` merged into the per-provider errors."""
        ...

    async def dead_letter(self, message_id: str, attempts: int, errors: dict[str, str]) -> None:
        """Give up: status `failed`, kept with its errors for the admin API."""
        ...

    async def get(self, message_id: str) -> OutboxMessage | None: ...

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        """Failed messages, oldest first."""
        ...

    async def requeue(self, message_id: str) -> bool:
        """A dead letter back to `queued`, due now, its age counted from now; False if
        there is no such failed message."""
        ...

    async def counts(self) -> dict[Status, int]:
        """How many messages are in each status (all four keys present)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer to an idempotent request, replayed to its repeats."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """What `IdempotencyStore.begin` found.

    new: the caller owns the key now and must `finish` or `release` it;
    in_flight: a request with this key is being processed (answer 409);
    mismatch: the key was used with a different body (answer 422);
    replay: `response` is the first answer, to be sent again.
    """

    state: Literal["new", "in_flight", "mismatch", "replay"]
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    """Idempotency keys (IETF draft-ietf-httpapi-idempotency-key-header)."""

    async def begin(self, key: str, fingerprint: str, in_flight_s: float) -> KeyClaim:
        """Atomically take `key` for a request whose body hashes to `fingerprint`.

        A taken key whose holder died is free again after `in_flight_s`."""
        ...

    async def finish(
        self, key: str, fingerprint: str, response: StoredResponse, ttl_s: float
    ) -> None:
        """Record the answer to replay for `ttl_s` seconds."""
        ...

    async def release(self, key: str) -> None:
        """Forget an in-flight key without an answer to replay (so a retry runs again)."""
        ...


class Store(Outbox, IdempotencyStore, Protocol):
    """A backend: both interfaces over one connection, opened and closed once."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...
