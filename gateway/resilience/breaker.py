"""A circuit breaker per provider: stop sending to a provider that keeps failing.

    CLOSED ──(N failures in a row, or failure ratio over the window)──> OPEN
    OPEN ──(open_s elapsed, noticed lazily on the next look)──> HALF_OPEN
    HALF_OPEN ──(a probe succeeds)──> CLOSED      (counts start afresh)
    HALF_OPEN ──(a probe fails)──> OPEN           (for another open_s)

Why not a library:

- aiobreaker 1.2.0 only trips on consecutive failures: no failure ratio over a
  time window and no minimum volume. We need both triggers. Three providers at
  low traffic may never reach a ratio's minimum volume, so a dead provider is
  caught by the run of failures; at high traffic a provider failing 60% of the
  time rarely fails N times in a row, so it is caught by the ratio.
- aiobreaker lets every concurrent call through once half-open, so a provider
  that just came back is hit by the whole backlog; here only `half_open_probes`
  calls are in flight at a time.
- aiobreaker computes the reopen time from local time mixed with UTC, so the
  open period is off by the UTC offset; here one injected monotonic clock
  measures everything.
- purgatory counts a cancelled call as a failure. The engine cancels hedge
  losers on purpose; counting them would trip the breaker of the slower (but
  healthy) provider. Here "cancelled" counts as neither success nor failure.

The breaker is pure bookkeeping: it never sleeps or schedules anything, and the
OPEN -> HALF_OPEN move happens when someone next looks at the state.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.resilience.clock import Clock
from gateway.resilience.window import RollingCount

Outcome = Literal["success", "failure", "cancelled"]
TransitionHook = Callable[["BreakerState", "BreakerState"], None]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    """Calls flow; outcomes are counted."""
    OPEN = "open"
    """Calls are refused until `open_s` has passed."""
    HALF_OPEN = "half_open"
    """A few probe calls may go through; the first answer decides."""


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    consecutive_failures: int = 5
    """Trip after this many failures in a row, whatever the traffic."""
    failure_ratio: float = 0.5
    """Trip when failures / calls over the window reaches this ..."""
    window_s: float = 10.0
    min_calls: int = 20
    """... and the window holds at least this many completed calls."""
    open_s: float = 5.0
    """How long an open breaker refuses calls before it lets a probe through."""
    half_open_probes: int = 1
    """How many probe calls may be in flight at once while half-open."""

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ValueError(
                f"consecutive_failures must be >= 1, got {self.consecutive_failures!r}"
            )
        if not (0 < self.failure_ratio <= 1):
            raise ValueError(f"failure_ratio must be in (0, 1], got {self.failure_ratio!r}")
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(f"window_s must be a finite number > 0, got {self.window_s!r}")
        if self.min_calls < 1:
            raise ValueError(f"min_calls must be >= 1, got {self.min_calls!r}")
        if not (math.isfinite(self.open_s) and self.open_s >= 0):
            raise ValueError(f"open_s must be a finite number >= 0, got {self.open_s!r}")
        if self.half_open_probes < 1:
            raise ValueError(f"half_open_probes must be >= 1, got {self.half_open_probes!r}")


class Permit:
    """Leave to make one call, handed back to `CircuitBreaker.record` with its outcome.

    A permit remembers the breaker's state generation when it was issued, so a
    late answer to a call made before the last transition cannot move the
    breaker again: the breaker already acted on what that call could tell it.
    """

    __slots__ = ("_breaker", "_generation", "_recorded", "is_probe")

    def __init__(self, breaker: CircuitBreaker, generation: int, *, is_probe: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self._recorded = False
        self.is_probe = is_probe
        """True when issued while half-open: this call decides whether the circuit closes."""

    def __repr__(self) -> str:
        return f"Permit(is_probe={self.is_probe}, recorded={self._recorded})"


class CircuitBreaker:
    """Tracks one provider's recent outcomes and says whether to call it now."""

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        clock: Clock = time.monotonic,
        *,
        on_transition: TransitionHook | None = None,
    ) -> None:
        self.settings = settings if settings is not None else BreakerSettings()
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._consecutive_failures = 0
        self._probes_in_flight = 0
        self._calls = RollingCount(self.settings.window_s, clock=clock)
        self._failures = RollingCount(self.settings.window_s, clock=clock)

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN breaker reads HALF_OPEN once `open_s` has passed."""
        self._refresh()
        return self._state

    def acquire(self) -> Permit | None:
        """A permit to call the provider now, or None if the breaker refuses."""
        if not self.available():
            return None
        is_probe = self._state is BreakerState.HALF_OPEN
        if is_probe:
            self._probes_in_flight += 1
        return Permit(self, self._generation, is_probe=is_probe)

    def available(self) -> bool:
        """Whether `acquire` would hand out a permit now; takes nothing."""
        self._refresh()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN:
            return self._probes_in_flight < self.settings.half_open_probes
        return False

    def record(self, permit: Permit, outcome: Outcome) -> None:
        """Count the outcome of the call made with `permit`; a second record is ignored.

        "cancelled" is for a call we abandoned ourselves (a hedge loser): it says
        nothing about the provider, so it is not counted, and it frees its probe slot.
        """
        if permit._breaker is not self:
            raise ValueError("permit was issued by another breaker")
        if outcome not in ("success", "failure", "cancelled"):
            raise ValueError(
                f"outcome must be 'success', 'failure' or 'cancelled', got {outcome!r}"
            )
        if permit._recorded:
            return
        permit._recorded = True
        self._refresh()
        if permit._generation != self._generation:
            return  # answered after a transition: stale news (see Permit)
        if permit.is_probe:
            self._probes_in_flight -= 1
        if outcome == "cancelled":
            return
        self._count(failed=outcome == "failure")
        if permit.is_probe:
            if outcome == "success":
                self._close()
            else:
                self._open()
        elif outcome == "failure" and self._should_trip():
            self._open()

    def retry_after_s(self) -> float:
        """Seconds until a call could get a permit: 0 if available now.

        While half-open with every probe slot taken, the probe's answer decides and
        its timing is unknown; we report `open_s`, the wait if that probe fails.
        """
        if self.available():
            return 0.0
        if self._state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self.settings.open_s - self._clock())
        return self.settings.open_s

    def failure_score(self) -> float:
        """Share of failed calls over the window, in [0, 1]; higher is worse.

        Lets the engine, when every breaker is open ("panic mode"), try the least
        bad provider. With no completed call in the window, a closed breaker scores
        0 and an open or half-open one 1: it opened on evidence no newer call has
        contradicted.
        """
        self._refresh()
        calls = self._calls.total()
        if calls:
            return min(1.0, self._failures.total() / calls)
        return 0.0 if self._state is BreakerState.CLOSED else 1.0

    def _count(self, *, failed: bool) -> None:
        self._calls.add()
        if failed:
            self._failures.add()
            self._consecutive_failures += 1
        else:
            self._consecutive_failures = 0

    def _should_trip(self) -> bool:
        if self._consecutive_failures >= self.settings.consecutive_failures:
            return True
        calls = self._calls.total()
        return (
            calls >= self.settings.min_calls
            and self._failures.total() >= self.settings.failure_ratio * calls
        )

    def _refresh(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.settings.open_s
        ):
            self._move_to(BreakerState.HALF_OPEN)

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move_to(BreakerState.OPEN)

    def _close(self) -> None:
        self._consecutive_failures = 0
        self._calls.clear()
        self._failures.clear()
        self._move_to(BreakerState.CLOSED)

    def _move_to(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_in_flight = 0
        if self._on_transition is not None:
            self._on_transition(old, new)

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.name}, failure_score={self.failure_score():.2f})"
