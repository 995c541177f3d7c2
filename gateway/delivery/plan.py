"""The policy engine's decisions for one request, as pure code.

A `Plan` is told what happened (started, an attempt ended, a hedge timer fired,
a backoff ended) and answers with the next action: `Send` an attempt, `Sleep`,
`Wait` for attempts in flight (with an optional hedge timer), or `Finish` with
a `Result`. It never touches a socket or sleeps itself; `driver.deliver`
performs the actions. This keeps every rule of retrying, failover, budgets,
breakers, deadlines and hedging testable with a fake clock, and the I/O loop
small enough to read at a glance (the split tenacity makes between `iter()`
and its sleep loop).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.delivery.outcomes import ambiguous, outcome_of_status, retryable, verdict
from gateway.delivery.runtime import ProviderState, RouteRuntime
from gateway.errors import UpstreamError
from gateway.resilience.backoff import retry_after_s
from gateway.resilience.breaker import Permit
from gateway.resilience.deadline import Deadline
from gateway.upstream import UpstreamResponse


@dataclass(slots=True, eq=False)
class Attempt:
    """One call to one provider within a request."""

    number: int
    provider: ProviderState
    permit: Permit | None
    hedge: bool
    started_at: float
    timeout_s: float
    outcome: str | None = None
    ended_at: float | None = None
    response: UpstreamResponse | None = None
    error: UpstreamError | None = None

    @property
    def label(self) -> str:
        return self.provider.target.label

    def summary(self, now: float) -> dict[str, Any]:
        """How the attempt shows in an exhausted answer and in logs."""
        end = self.ended_at if self.ended_at is not None else now
        return {
            "provider": self.label,
            "outcome": self.outcome or "in_flight",
            "duration_ms": round((end - self.started_at) * 1000, 3),
            "hedge": self.hedge,
        }


ResultKind = Literal["delivered", "refused", "exhausted", "unavailable"]


@dataclass(slots=True)
class Result:
    """How a request ended.

    delivered: a provider took the message; refused: a provider refused it for
    good (4xx), answered as is; exhausted: attempts were made and none
    succeeded; unavailable: nothing was sent (every breaker open, or the budget
    refused), answered 503 with Retry-After.
    """

    kind: ResultKind
    attempt: Attempt | None
    attempts: list[Attempt]
    reason: str
    retry_after_s: float | None = None
    hedges: int = 0
    possible_duplicates: int = 0

    @property
    def hedge_won(self) -> bool:
        return self.attempt is not None and self.attempt.hedge and self.kind == "delivered"


@dataclass(slots=True)
class Send:
    attempt: Attempt


@dataclass(slots=True)
class Sleep:
    seconds: float


@dataclass(slots=True)
class Wait:
    """Wait for an attempt in flight to end, or for `hedge_in_s` to pass (None: no timer)."""

    hedge_in_s: float | None


@dataclass(slots=True)
class Finish:
    result: Result


Action = Send | Sleep | Wait | Finish


@dataclass(slots=True)
class _Refusal:
    reason: str
    retry_after_s: float | None = None


@dataclass(slots=True)
class Plan:
    """The state and rules of one request's delivery on a route."""

    route: RouteRuntime
    deadline: Deadline
    attempts: list[Attempt] = field(default_factory=list)
    in_flight: list[Attempt] = field(default_factory=list)
    hedges: int = 0
    _backoff_round: int = 0
    _last_backoff_s: float | None = None
    _hedging_stopped: bool = False
    _retrying_stopped: str | None = None
    _done: bool = False

    # -- what the driver calls -------------------------------------------------------------

    def start(self) -> Action:
        return self._send_or_finish()

    def after_sleep(self) -> Action:
        return self._send_or_finish()

    def waiting(self) -> Action:
        """The action after an attempt was sent: wait for it (and maybe hedge)."""
        return Wait(self._hedge_due_in())

    def on_hedge_timer(self) -> Action:
        launched = self._launch(hedge=True)
        if isinstance(launched, Attempt):
            self.hedges += 1
            return Send(launched)
        self._hedging_stopped = True  # no provider or budget for a hedge: stop the timer
        return self.waiting()

    def on_result(
        self, attempt: Attempt, response: UpstreamResponse | None, error: UpstreamError | None
    ) -> Action:
        now = self.route.clock()
        attempt.ended_at, attempt.response, attempt.error = now, response, error
        outcome = error.outcome if error is not None else outcome_of_status(_status(response))
        attempt.outcome = outcome
        self.in_flight.remove(attempt)
        judged = verdict(outcome)
        self._feedback(attempt, ok=judged != "failure", cancelled=False)
        if outcome == "429" and response is not None:
            pause = retry_after_s(response.header("retry-after"), time.time())
            if pause:
                attempt.provider.not_before = now + pause
        if judged == "success":
            return Finish(self._finish("delivered", attempt, "delivered"))
        if judged == "final":
            return Finish(self._finish("refused", attempt, "refused by provider"))
        if not retryable(outcome, self.route.retry_on):
            self._retrying_stopped = f"{outcome} is not retried by this policy"
        if self.in_flight:
            if self.route.policy.hedging.enabled and not self._retrying_stopped:
                # Racing: a failed racer is replaced at once rather than leaving the
                # slow one alone in the race.
                launched = self._launch(hedge=False)
                if isinstance(launched, Attempt):
                    return Send(launched)
            return self.waiting()
        if self._retrying_stopped:
            return Finish(self._finish("exhausted", attempt, self._retrying_stopped))
        return self._retry(attempt)

    def abandon(self) -> list[Attempt]:
        """Mark what is still in flight as cancelled (the driver cancels the calls)."""
        abandoned = list(self.in_flight)
        for attempt in abandoned:
            attempt.outcome = "cancelled"
            attempt.ended_at = self.route.clock()
            self._feedback(attempt, ok=True, cancelled=True)
        self.in_flight.clear()
        return abandoned

    # -- rules -----------------------------------------------------------------------------

    def _retry(self, failed: Attempt) -> Action:
        delay = self._retry_delay()
        if delay <= 0:
            return self._send_or_finish()
        if not self.deadline.can_wait(delay, self.route.policy.retry.min_try_ms / 1000):
            return Finish(self._finish("exhausted", failed, "deadline would pass during backoff"))
        return Sleep(delay)

    def _retry_delay(self) -> float:
        """No wait when a provider not yet tried is ready (failing over is not hammering);
        otherwise back off, and at least until a throttling provider's Retry-After."""
        now = self.route.clock()
        healthy = [p for p in self.route.providers.values() if _available(p)]
        tried = {a.provider.target.name for a in self.attempts}
        if any(p.target.name not in tried and p.not_before <= now for p in healthy):
            return 0.0
        self._backoff_round += 1
        delay = self.route.backoff.delay(self._backoff_round, self._last_backoff_s, self.route.rng)
        self._last_backoff_s = delay
        if healthy:
            delay = max(delay, min(p.not_before for p in healthy) - now)
        return delay

    def _send_or_finish(self) -> Action:
        launched = self._launch(hedge=False)
        if isinstance(launched, Attempt):
            return Send(launched)
        if self.in_flight:
            return self.waiting()
        last = self.attempts[-1] if self.attempts else None
        kind: ResultKind = "exhausted" if self.attempts else "unavailable"
        return Finish(self._finish(kind, last, launched.reason, launched.retry_after_s))

    def _launch(self, *, hedge: bool) -> Attempt | _Refusal:
        """Start the next attempt, or say why none can start."""
        route, policy = self.route, self.route.policy
        if len(self.attempts) >= policy.retry.max_attempts:
            return _Refusal(f"all {policy.retry.max_attempts} attempts used")
        remaining = self.deadline.remaining()
        if remaining <= 0 or (self.attempts and remaining < policy.retry.min_try_ms / 1000):
            return _Refusal("deadline reached")
        chosen = self._choose(hedge=hedge)
        if isinstance(chosen, _Refusal):
            return chosen
        provider, permit = chosen
        if not route.budget.try_acquire(is_retry=bool(self.attempts)):
            if permit is not None and provider.breaker is not None:
                provider.breaker.record(permit, "cancelled")
            return _Refusal("retry budget exhausted", retry_after_s=1.0)
        route.balancer.started(provider.target.name)
        attempt = Attempt(
            number=len(self.attempts) + 1,
            provider=provider,
            permit=permit,
            hedge=hedge,
            started_at=route.clock(),
            timeout_s=self.deadline.clamp(policy.try_timeout_ms / 1000),
        )
        self.attempts.append(attempt)
        self.in_flight.append(attempt)
        return attempt

    def _choose(self, *, hedge: bool) -> tuple[ProviderState, Permit | None] | _Refusal:
        """A provider for the next attempt: never one already in flight for this request,
        never one whose breaker is open; among the rest, the least tried in this request
        (so one not yet tried while any is left), then the balancer's choice."""
        route = self.route
        now = route.clock()
        busy = {a.provider.target.name for a in self.in_flight}
        ready = [
            name
            for name in route.order
            if name not in busy
            and _available(route.providers[name])
            and route.providers[name].not_before <= now
        ]
        tries = collections.Counter(a.provider.target.name for a in self.attempts)
        for count in sorted({tries[name] for name in ready}):
            pool = [name for name in ready if tries[name] == count]
            while pool:
                name = route.balancer.choose(pool)
                provider = route.providers[name]
                if provider.breaker is None:
                    return provider, None
                permit = provider.breaker.acquire()
                if permit is not None:
                    return provider, permit
                pool.remove(name)  # its last half-open probe slot was just taken
        if hedge:
            return _Refusal("no other provider to hedge to")
        return self._when_none_available(busy)

    def _when_none_available(self, busy: set[str]) -> tuple[ProviderState, None] | _Refusal:
        route = self.route
        idle = [p for name, p in route.providers.items() if name not in busy]
        breakers = [p.breaker for p in idle if p.breaker is not None and not p.breaker.available()]
        if route.policy.breaker.when_all_open == "panic" and idle and len(breakers) == len(idle):
            # Panic mode: every breaker is open, try the least-bad provider anyway.
            return min(idle, key=lambda p: p.breaker.failure_score() if p.breaker else 0.0), None
        if breakers and len(breakers) == len(idle):
            wait = min(b.retry_after_s() for b in breakers)
            return _Refusal("every provider's circuit breaker is open", retry_after_s=wait)
        return _Refusal("no provider ready")

    def _hedge_due_in(self) -> float | None:
        hedging = self.route.policy.hedging
        if (
            not hedging.enabled
            or self._hedging_stopped
            or self.hedges >= hedging.max_hedges
            or not self.in_flight
            or len(self.attempts) >= self.route.policy.retry.max_attempts
        ):
            return None
        latest = max(self.in_flight, key=lambda a: a.started_at)
        due = latest.started_at + self.route.hedge_delay_s(latest.provider.target.name)
        return max(0.0, due - self.route.clock())

    def _feedback(self, attempt: Attempt, *, ok: bool, cancelled: bool) -> None:
        route = self.route
        name = attempt.provider.target.name
        duration = route.clock() - attempt.started_at
        breaker = attempt.provider.breaker
        if cancelled:
            # A hedge loser we cancelled says nothing about the provider's health, and
            # its time so far is only a lower bound of its latency.
            route.balancer.cancelled(name, duration)
            if breaker is not None and attempt.permit is not None:
                breaker.record(attempt.permit, "cancelled")
            return
        route.balancer.finished(name, duration, ok)
        attempt.provider.latency.add(duration)
        route.budget.record_result(accepted=ok)
        if breaker is not None and attempt.permit is not None:
            breaker.record(attempt.permit, "success" if ok else "failure")

    def _finish(
        self,
        kind: ResultKind,
        attempt: Attempt | None,
        reason: str,
        retry_after: float | None = None,
    ) -> Result:
        self._done = True
        abandoned = self.abandon()
        duplicates = 0
        if kind in ("delivered", "refused"):
            # Cancelled calls had left and may still be delivered; so may any earlier
            # attempt whose answer was lost (reset, timeout).
            duplicates = len(abandoned) + sum(
                1 for a in self.attempts if a is not attempt and a.outcome and ambiguous(a.outcome)
            )
        return Result(
            kind=kind,
            attempt=attempt,
            attempts=list(self.attempts),
            reason=reason,
            retry_after_s=retry_after,
            hedges=self.hedges,
            possible_duplicates=duplicates,
        )


def _available(provider: ProviderState) -> bool:
    return provider.breaker is None or provider.breaker.available()


def _status(response: UpstreamResponse | None) -> int:
    if response is None:  # pragma: no cover - the driver passes one of the two
        raise ValueError("an attempt ends with a response or an error")
    return response.status
