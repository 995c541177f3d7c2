import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.resilience.balancer import (
    BALANCER_STRATEGIES,
    Balancer,
    P2CEwma,
    Priority,
    RandomChoice,
    RoundRobin,
    Weighted,
    make_balancer,
)
from gateway.resilience.clock import FakeClock

NAMES = ("provider1", "provider2", "provider3")
P1, P2, P3 = NAMES


def choices(balancer: Balancer, candidates: list[str], times: int) -> Counter[str]:
    return Counter(balancer.choose(candidates) for _ in range(times))


def feed(
    balancer: P2CEwma,
    clock: FakeClock,
    name: str,
    latency_s: float,
    *,
    ok: bool = True,
    times: int = 20,
) -> None:
    """`times` sequential attempts to `name`, each taking `latency_s` on the clock."""
    for _ in range(times):
        balancer.started(name)
        clock.advance(latency_s)
        balancer.finished(name, latency_s, ok)


@given(
    strategy=st.sampled_from(BALANCER_STRATEGIES),
    candidates=st.lists(st.sampled_from(NAMES), min_size=1, unique=True),
    seed=st.integers(0, 2**32),
)
def test_every_strategy_returns_one_of_the_candidates(
    strategy: str, candidates: list[str], seed: int
) -> None:
    balancer = make_balancer(
        strategy,
        NAMES,
        weights={P1: 1.0, P2: 0.0, P3: 3.0},
        rng=random.Random(seed),
        clock=FakeClock(),
    )

    for _ in range(5):
        assert balancer.choose(candidates) in candidates


@pytest.mark.parametrize("strategy", BALANCER_STRATEGIES)
def test_every_strategy_refuses_an_empty_candidate_list(strategy: str) -> None:
    balancer = make_balancer(
        strategy, NAMES, weights=dict.fromkeys(NAMES, 1.0), rng=random.Random(0), clock=FakeClock()
    )

    with pytest.raises(ValueError, match="candidates"):
        balancer.choose([])


@pytest.mark.parametrize("strategy", ["round_robin", "weighted", "priority"])
def test_configured_order_strategies_refuse_an_unconfigured_candidate(strategy: str) -> None:
    balancer = make_balancer(
        strategy, NAMES, weights=dict.fromkeys(NAMES, 1.0), rng=random.Random(0), clock=FakeClock()
    )

    with pytest.raises(ValueError, match="provider9"):
        balancer.choose([P1, "provider9"])


def test_round_robin_cycles_through_the_configured_order() -> None:
    balancer = RoundRobin(NAMES)

    picks = [balancer.choose(list(NAMES)) for _ in range(7)]

    assert picks == [P1, P2, P3, P1, P2, P3, P1]


def test_round_robin_skips_non_candidates_without_losing_its_place() -> None:
    balancer = RoundRobin(NAMES)

    assert balancer.choose([P1, P2, P3]) == P1
    assert balancer.choose([P1, P3]) == P3  # provider2's turn, but it is not a candidate
    assert balancer.choose([P1, P2, P3]) == P1
    assert balancer.choose([P2, P3]) == P2


def test_round_robin_spreads_evenly_over_the_candidates_left() -> None:
    balancer = RoundRobin(NAMES)

    assert choices(balancer, [P1, P3], 100) == {P1: 50, P3: 50}


def test_random_choice_picks_every_candidate_about_equally() -> None:
    counts = choices(RandomChoice(random.Random(11)), list(NAMES), 9000)

    assert all(2700 < counts[name] < 3300 for name in NAMES)


def test_weighted_follows_the_weights() -> None:
    balancer = Weighted({P1: 3.0, P2: 1.0}, random.Random(3))

    counts = choices(balancer, [P1, P2], 10_000)

    assert 0.72 < counts[P1] / 10_000 < 0.78


def test_weighted_renormalises_over_the_candidates_left() -> None:
    balancer = Weighted({P1: 1.0, P2: 1.0, P3: 2.0}, random.Random(3))

    counts = choices(balancer, [P1, P3], 9000)

    assert 0.30 < counts[P1] / 9000 < 0.37


def test_weighted_uses_a_zero_weight_provider_only_when_nothing_else_is_left() -> None:
    balancer = Weighted({P1: 0.0, P2: 1.0, P3: 0.0}, random.Random(8))

    assert choices(balancer, [P1, P2, P3], 500) == {P2: 500}
    assert choices(balancer, [P1], 10) == {P1: 10}
    assert set(choices(balancer, [P1, P3], 100)) == {P1, P3}


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "at least one provider"),
        ({P1: -1.0}, "provider1"),
        ({P1: math.nan}, "provider1"),
        ({P1: 0.0, P2: 0.0}, "at least one weight"),
    ],
)
def test_weighted_rejects_bad_weights(weights: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Weighted(weights, random.Random(0))


def test_priority_picks_the_first_candidate_in_configured_order() -> None:
    balancer = Priority(NAMES)

    assert balancer.choose([P3, P2, P1]) == P1
    assert balancer.choose([P3, P2]) == P2
    assert balancer.choose([P3]) == P3


def test_p2c_sends_everything_to_the_faster_of_two_providers() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.010)
    feed(balancer, clock, P2, 0.100)

    assert choices(balancer, [P1, P2], 1000) == {P1: 1000}


def test_p2c_never_picks_the_slowest_of_three_and_favours_the_fastest() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.010)
    feed(balancer, clock, P2, 0.050)
    feed(balancer, clock, P3, 0.200)

    counts = choices(balancer, list(NAMES), 3000)

    assert counts[P3] == 0
    assert 0.6 < counts[P1] / 3000 < 0.73  # in two of the three possible pairs


def test_p2c_prefers_the_less_loaded_of_two_equally_fast_providers() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.020)
    feed(balancer, clock, P2, 0.020)
    for _ in range(3):
        balancer.started(P1)

    assert balancer.choose([P1, P2]) == P2
    for _ in range(3):
        balancer.finished(P1, 0.020, ok=True)
    balancer.started(P2)
    assert balancer.choose([P1, P2]) == P1


def test_p2c_load_outweighs_a_small_latency_edge() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.010)
    feed(balancer, clock, P2, 0.015)
    for _ in range(4):
        balancer.started(P1)  # 0.010 x 5 > 0.015 x 1

    assert balancer.choose([P1, P2]) == P2


def test_p2c_tries_a_provider_without_data_before_a_known_one() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.050)

    assert balancer.choose([P1, P2]) == P2


def test_p2c_does_not_reward_a_provider_for_failing_fast() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.001, ok=False)  # instant 500s
    feed(balancer, clock, P2, 0.030)

    assert balancer.choose([P1, P2]) == P2
    assert balancer.cost(P1) >= 0.9 * balancer.failure_penalty_s


def test_p2c_cost_grows_with_the_failure_rate() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    for _ in range(50):
        feed(balancer, clock, P1, 0.010, ok=False, times=1)  # fails 50%
        feed(balancer, clock, P1, 0.010, times=1)
        feed(balancer, clock, P2, 0.010, ok=False, times=1)  # fails 20%
        feed(balancer, clock, P2, 0.010, times=4)

    assert balancer.cost(P1) > balancer.cost(P2) > 0.010


def test_p2c_estimate_follows_a_change_in_latency_within_a_few_decay_periods() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock, decay_s=1.0)
    feed(balancer, clock, P1, 0.010, times=500)  # 5 s at 10 ms
    assert balancer.cost(P1) == pytest.approx(0.010)

    feed(balancer, clock, P1, 0.100, times=50)  # 5 s at 100 ms

    assert balancer.cost(P1) == pytest.approx(0.100, rel=0.02)


def test_p2c_gives_an_avoided_provider_another_chance_once_its_estimate_fades() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock, decay_s=10.0)
    feed(balancer, clock, P1, 1.0, times=1)
    feed(balancer, clock, P2, 0.010)
    assert balancer.choose([P1, P2]) == P2

    while balancer.choose([P1, P2]) == P2:  # P2 keeps getting traffic, P1 none
        feed(balancer, clock, P2, 0.010, times=10)
        assert clock.now < 120, "the slow provider was never retried"

    assert clock.now > 30  # not too eagerly either: 1.0 * exp(-t/10) < 0.010 takes ~46 s


def test_p2c_counts_a_cancelled_hedge_loser_as_at_least_that_slow() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.010)
    feed(balancer, clock, P2, 0.010)
    balancer.started(P1)
    balancer.started(P2)
    clock.advance(0.300)

    balancer.cancelled(P1, 0.300)  # abandoned after 300 ms, far above its estimate
    balancer.cancelled(P2, 0.001)  # abandoned early: says nothing

    assert balancer.cost(P1) > 0.010
    assert balancer.cost(P2) == pytest.approx(0.010, rel=0.05)
    assert balancer.choose([P1, P2]) == P2


def test_p2c_outstanding_never_goes_negative() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock)
    feed(balancer, clock, P1, 0.010)
    feed(balancer, clock, P2, 0.010)

    for _ in range(5):
        balancer.finished(P1, 0.010, ok=True)  # more finishes than starts
    balancer.started(P1)

    assert balancer.choose([P1, P2]) == P2


def test_p2c_with_one_candidate_returns_it_without_drawing() -> None:
    rng = random.Random(1)
    balancer = P2CEwma(NAMES, rng, FakeClock())
    state = rng.getstate()

    assert balancer.choose([P3]) == P3
    assert rng.getstate() == state


@pytest.mark.parametrize(
    ("strategy", "kind"),
    [
        ("round_robin", RoundRobin),
        ("random", RandomChoice),
        ("weighted", Weighted),
        ("priority", Priority),
        ("p2c_ewma", P2CEwma),
    ],
)
def test_make_balancer_builds_each_strategy(strategy: str, kind: type) -> None:
    balancer = make_balancer(
        strategy, NAMES, weights=dict.fromkeys(NAMES, 1.0), rng=random.Random(0), clock=FakeClock()
    )

    assert isinstance(balancer, kind)


def test_make_balancer_priority_follows_the_names_order() -> None:
    balancer = make_balancer("priority", [P3, P1, P2], rng=random.Random(0), clock=FakeClock())

    assert balancer.choose(list(NAMES)) == P3


@pytest.mark.parametrize(
    ("strategy", "names", "weights", "message"),
    [
        ("least_conn", NAMES, None, "strategy must be one of"),
        ("round_robin", [], None, "at least one provider"),
        ("round_robin", [P1, P1], None, "repeats provider1"),
        ("round_robin", "provider1", None, "not a string"),
        ("weighted", NAMES, None, "weights are required"),
        ("weighted", NAMES, {P1: 1.0, P2: 1.0}, "lack a weight for: provider3"),
        ("weighted", [P1], {P1: 1.0, "provider4": 1.0}, "unknown providers: provider4"),
    ],
)
def test_make_balancer_rejects_bad_configuration(
    strategy: str, names: list[str], weights: dict[str, float] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_balancer(strategy, names, weights=weights, rng=random.Random(0), clock=FakeClock())


@pytest.mark.parametrize("arg", ["decay_s", "default_latency_s", "failure_penalty_s"])
def test_p2c_rejects_bad_settings_naming_the_argument(arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        P2CEwma(NAMES, random.Random(0), FakeClock(), **{arg: -1.0})


def test_p2c_an_early_cancel_does_not_make_an_unknown_provider_look_fast() -> None:
    clock = FakeClock()
    balancer = P2CEwma(NAMES, random.Random(1), clock, default_latency_s=0.005)
    balancer.started(P1)

    balancer.cancelled(P1, 0.0001)

    assert balancer.cost(P1) == 0.005
