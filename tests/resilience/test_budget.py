import math
import random
from dataclasses import dataclass

import pytest

from gateway.resilience.budget import AdaptiveThrottle, Budget, RatioBudget, Unlimited
from gateway.resilience.clock import FakeClock


@dataclass
class Tally:
    requests: int = 0
    first_attempts_sent: int = 0
    retries_wanted: int = 0
    retries_sent: int = 0

    @property
    def attempts_sent(self) -> int:
        return self.first_attempts_sent + self.retries_sent


def simulate(
    budget: Budget,
    clock: FakeClock,
    *,
    fail_rate: float,
    requests: int,
    max_attempts: int = 4,
    seed: int = 1,
    interval_s: float = 0.01,
) -> Tally:
    """Requests arrive every `interval_s`; each retries after a failure, up to
    `max_attempts` in all, and gives up as soon as the budget refuses one."""
    provider = random.Random(seed)
    tally = Tally()
    for _ in range(requests):
        clock.advance(interval_s)
        tally.requests += 1
        for attempt in range(max_attempts):
            is_retry = attempt > 0
            tally.retries_wanted += is_retry
            if not budget.try_acquire(is_retry):
                break
            if is_retry:
                tally.retries_sent += 1
            else:
                tally.first_attempts_sent += 1
            ok = provider.random() >= fail_rate
            budget.record_result(ok)
            if ok:
                break
    return tally


def test_unlimited_allows_everything() -> None:
    budget = Unlimited()

    assert all(budget.try_acquire(is_retry=True) for _ in range(10_000))


def test_ratio_budget_always_allows_first_attempts() -> None:
    budget = RatioBudget(ratio=0.0, min_per_s=0.0, clock=FakeClock())

    assert all(budget.try_acquire(is_retry=False) for _ in range(1000))
    assert not budget.try_acquire(is_retry=True)


def test_ratio_budget_caps_retries_at_ratio_of_first_attempts_plus_floor() -> None:
    budget = RatioBudget(ratio=0.2, min_per_s=10.0, window_s=10.0, clock=FakeClock())
    for _ in range(1000):
        budget.try_acquire(is_retry=False)

    allowed = sum(budget.try_acquire(is_retry=True) for _ in range(1000))

    assert allowed == 0.2 * 1000 + 10.0 * 10.0


def test_ratio_budget_floor_allows_some_retries_at_low_traffic() -> None:
    budget = RatioBudget(ratio=0.2, min_per_s=1.0, window_s=10.0, clock=FakeClock())
    budget.try_acquire(is_retry=False)

    allowed = sum(budget.try_acquire(is_retry=True) for _ in range(100))

    assert allowed == 11  # retries < 0.2 * 1 + 1.0 * 10


def test_ratio_budget_refills_once_spent_retries_leave_the_window() -> None:
    clock = FakeClock()
    budget = RatioBudget(ratio=0.0, min_per_s=1.0, window_s=10.0, clock=clock)
    assert sum(budget.try_acquire(is_retry=True) for _ in range(50)) == 10

    clock.advance(10.0)

    assert budget.try_acquire(is_retry=True)


def test_ratio_budget_keeps_retries_near_the_ratio_under_total_failure() -> None:
    clock = FakeClock()
    budget = RatioBudget(ratio=0.2, min_per_s=1.0, window_s=10.0, clock=clock)

    tally = simulate(budget, clock, fail_rate=1.0, requests=20_000)

    # 100 req/s for 200 s, each wanting 3 retries: the 1/s floor adds 1% to the 20% ratio.
    assert tally.retries_sent <= 0.22 * tally.first_attempts_sent
    assert tally.retries_sent >= 0.18 * tally.first_attempts_sent


def test_adaptive_throttle_never_refuses_while_the_provider_accepts_everything() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(k=2.0, clock=clock, rng=random.Random(0))

    tally = simulate(throttle, clock, fail_rate=0.0, requests=2000)

    assert throttle.refusal_probability() == 0.0
    assert tally.first_attempts_sent == 2000


@pytest.mark.parametrize("k", [2.0, 3.0])
def test_adaptive_throttle_lets_most_retries_through_when_half_the_attempts_fail(
    k: float,
) -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(k=k, window_s=60.0, clock=clock, rng=random.Random(5))

    tally = simulate(throttle, clock, fail_rate=0.5, requests=20_000)

    # About one retry per failed first attempt still goes out (0.875 per request unthrottled).
    assert tally.retries_sent >= 0.9 * tally.retries_wanted
    assert tally.retries_sent / tally.requests > 0.75
    assert throttle.refusal_probability() < 0.05


def test_adaptive_throttle_keeps_attempts_near_requests_under_total_failure() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(k=2.0, window_s=60.0, clock=clock, rng=random.Random(9))

    tally = simulate(throttle, clock, fail_rate=1.0, requests=30_000)

    # Unthrottled, every request would send 4 attempts.
    assert tally.attempts_sent <= 1.25 * tally.first_attempts_sent
    assert throttle.refusal_probability() > 0.99


def test_adaptive_throttle_stops_refusing_after_the_provider_recovers() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(k=2.0, window_s=60.0, clock=clock, rng=random.Random(2))
    simulate(throttle, clock, fail_rate=1.0, requests=6000)
    assert throttle.refusal_probability() > 0.9

    simulate(throttle, clock, fail_rate=0.0, requests=6100)  # a little over one window

    assert throttle.refusal_probability() == 0.0


def fail_attempts(throttle: AdaptiveThrottle, count: int, *, is_retry: bool) -> None:
    """`count` attempts that, when sent, fail."""
    for _ in range(count):
        if throttle.try_acquire(is_retry=is_retry):
            throttle.record_result(accepted=False)


def test_adaptive_throttle_counts_refused_attempts_as_requests() -> None:
    throttle = AdaptiveThrottle(k=2.0, clock=FakeClock(), rng=random.Random(0))
    fail_attempts(throttle, 1, is_retry=False)
    before = throttle.refusal_probability()

    fail_attempts(throttle, 100, is_retry=True)

    assert throttle.refusal_probability() > before


def test_attempts_still_in_flight_do_not_count_against_retries() -> None:
    # A burst of first attempts, none answered yet, must not look like failures.
    throttle = AdaptiveThrottle(k=2.0, clock=FakeClock(), rng=random.Random(0))
    assert all(throttle.try_acquire(is_retry=False) for _ in range(200))
    assert throttle.refusal_probability() == 0.0


def test_adaptive_throttle_leaves_first_attempts_alone_by_default() -> None:
    throttle = AdaptiveThrottle(k=2.0, clock=FakeClock(), rng=random.Random(0))
    fail_attempts(throttle, 1000, is_retry=True)
    assert throttle.refusal_probability() > 0.99

    assert all(throttle.try_acquire(is_retry=False) for _ in range(100))


def test_adaptive_throttle_can_refuse_first_attempts_as_the_sre_book_does() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(
        k=2.0, clock=clock, rng=random.Random(4), throttle_first_attempts=True
    )

    tally = simulate(throttle, clock, fail_rate=1.0, requests=10_000, max_attempts=1)

    assert tally.first_attempts_sent < 0.01 * tally.requests


@pytest.mark.parametrize("k", [0.5, 0.0, math.nan, math.inf])
def test_adaptive_throttle_rejects_k_below_one(k: float) -> None:
    with pytest.raises(ValueError, match="k must"):
        AdaptiveThrottle(k=k, clock=FakeClock())


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"ratio": -0.1}, "ratio"),
        ({"min_per_s": -1.0}, "min_per_s"),
        ({"window_s": 0.0}, "window_s"),
    ],
)
def test_ratio_budget_rejects_bad_values_naming_the_argument(
    kwargs: dict[str, float], arg: str
) -> None:
    with pytest.raises(ValueError, match=arg):
        RatioBudget(clock=FakeClock(), **kwargs)


def test_the_allowance_lets_a_quiet_route_retry_its_first_failure():
    clock = FakeClock()
    bare = AdaptiveThrottle(k=3, window_s=10, clock=clock, rng=random.Random(1))
    eased = AdaptiveThrottle(k=3, window_s=10, clock=clock, rng=random.Random(1), min_per_s=1)
    for budget in (bare, eased):
        assert budget.try_acquire(is_retry=False)
        budget.record_result(accepted=False)
    assert bare.refusal_probability() == 0.5
    assert eased.refusal_probability() == 0.0
    assert all(eased.try_acquire(is_retry=True) for _ in range(8))


def test_the_allowance_is_spent_under_a_total_outage():
    clock = FakeClock()
    budget = AdaptiveThrottle(k=3, window_s=10, clock=clock, rng=random.Random(2), min_per_s=1)
    sent = 0
    for _ in range(2000):
        for attempt in range(4):
            if budget.try_acquire(is_retry=attempt > 0):
                sent += 1
                budget.record_result(accepted=False)
            else:
                break
        clock.advance(0.01)
    assert sent <= 1.25 * 2000
