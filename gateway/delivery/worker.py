"""Background delivery of accepted messages: claim, deliver by policy, settle.

Each gateway process runs one `OutboxWorker`. It claims due messages from the
store (leased, so a crashed worker's messages go to another after the lease),
delivers each with the same policy engine as the synchronous route (balancer,
breakers, budgets, backoff), and settles it: delivered, retried later with
capped exponential backoff and full jitter, or dead-lettered once older than
`max_age`. Delivery is at least once: a crash between a provider's answer and
`delivered` means that message is sent again, with the same
`X-Notification-Id` and `Idempotency-Key`, so a deduplicating provider can
make it exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from gateway.config.models import DeliverySettings
from gateway.delivery.limits import ProviderLimiter
from gateway.delivery.plan import Result
from gateway.delivery.service import Deliveries
from gateway.ids import new_id
from gateway.resilience.deadline import Deadline
from gateway.storage.base import OutboxMessage, Store
from gateway.telemetry.logging import get_logger

log = get_logger()


def next_round_delay(age_s: float, settings: DeliverySettings, rng: random.Random) -> float:
    """Full jitter over min(cap, max(base, age)): the pause grows with how long the
    message has been failing, so waits roughly double round after round without a
    round counter in the store."""
    ceiling_s = min(settings.retry_cap_ms / 1000, max(settings.retry_base_ms / 1000, age_s))
    return rng.uniform(0, ceiling_s)


def errors_of(result: Result) -> dict[str, str]:
    """The last outcome of each provider tried in `result`, for the message's record."""
    errors: dict[str, str] = {}
    for attempt in result.attempts:
        if attempt.outcome not in (None, "2xx", "cancelled"):
            errors[attempt.label] = attempt.outcome
    if not result.attempts:
        errors["gateway"] = result.reason
    return errors


class OutboxWorker:
    """Delivers what the outbox holds, `settings.workers` messages at a time."""

    def __init__(
        self,
        store: Store,
        deliveries: Callable[[], Deliveries],
        settings: DeliverySettings,
        *,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._deliveries = deliveries  # read per message: a reload swaps it
        self._settings = settings
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock
        self._limiter = ProviderLimiter(settings.provider_concurrency, settings.provider_rate_per_s)
        self.owner = f"worker-{new_id()[:12]}"
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Something was just accepted here: claim now rather than at the next poll
        (the poll remains for what other processes or replicas accept)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.owner)

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; let deliveries in flight finish for up to `grace_s` (the rest
        keep their lease and are claimed again after it)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=grace_s)
            for task in pending:
                task.cancel()

    async def _run(self) -> None:
        settings = self._settings
        while not self._stopping:
            room = settings.workers - len(self._in_flight)
            claimed: list[OutboxMessage] = []
            if room > 0:
                try:
                    claimed = await self._store.claim(
                        self.owner, min(room, settings.batch), settings.lease_ms / 1000
                    )
                except Exception:  # the store is down: say so, wait, try again
                    log.exception("outbox_claim_failed")
            for message in claimed:
                task = asyncio.create_task(self._deliver_guarded(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.poll_ms / 1000)
                self._wake.clear()
            elif room <= len(claimed):
                # Full: wait for a slot rather than spinning on the store.
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _deliver_guarded(self, message: OutboxMessage) -> None:
        try:
            await self.deliver(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Leave it leased: it will be claimed again once the lease runs out.
            log.exception("outbox_delivery_failed", message_id=message.id)

    async def deliver(self, message: OutboxMessage) -> None:
        """One round of attempts for `message`, then settle it in the store."""
        deliveries = self._deliveries()
        route = deliveries.virtual.get(message.type)
        if route is None:
            await self._store.dead_letter(
                message.id, message.attempts, {"gateway": f"no provider for {message.type}"}
            )
            return
        deadline = Deadline(route.policy.deadline_ms / 1000, clock=deliveries.clock)
        result = await deliveries.send(
            route, ("outbox", message.type), message.body, message.headers, deadline,
            limiter=self._limiter,
        )  # fmt: skip
        attempts = message.attempts + len(result.attempts)
        if result.kind == "delivered" and result.attempt is not None:
            await self._store.delivered(message.id, result.attempt.label, attempts)
            log.info("outbox_delivered", message_id=message.id, provider=result.attempt.label,
                     attempts=attempts)  # fmt: skip
            return
        errors = errors_of(result)
        age_s = self._wall_clock() - message.created_at
        if result.kind == "refused":
            # A provider refused this message for good (4xx): no retry will help.
            await self._store.dead_letter(message.id, attempts, errors)
            log.warning("outbox_dead_letter", message_id=message.id, reason="refused")
            return
        delay = next_round_delay(age_s, self._settings, self._rng)
        if result.kind == "unavailable" and result.retry_after_s:
            # Every breaker is open: nothing can go out before one lets a probe through,
            # so do not claim the message again before then (spread over as long again,
            # so a backlog does not rush the probe).
            pause = result.retry_after_s
            delay = max(delay, pause + self._rng.uniform(0, pause))
        if age_s + delay > self._settings.max_age_ms / 1000:
            await self._store.dead_letter(message.id, attempts, errors)
            log.warning("outbox_dead_letter", message_id=message.id, reason="max_age")
            return
        await self._store.retry_later(message.id, delay, attempts, errors)
