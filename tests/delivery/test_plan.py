"""The policy engine's decisions, step by step, with a fake clock and no sockets."""

import pytest

from gateway.delivery.plan import Finish, Plan, Send, Sleep, Wait
from gateway.errors import UpstreamConnectError, UpstreamTimeout
from gateway.resilience.breaker import BreakerState
from gateway.resilience.deadline import Deadline

from .conftest import response


def start(route, clock, timeout_s=2.0):
    plan = Plan(route, Deadline(timeout_s, clock=clock))
    return plan, plan.start()


def fail(plan, action, status=500):
    assert isinstance(action, Send), action
    return plan.on_result(action.attempt, response(status), None)


def test_priority_failover_tries_each_provider_once_in_order_without_waiting(make_route, clock):
    plan, action = start(make_route(), clock)
    seen = []
    for _ in range(3):
        seen.append(action.attempt.provider.target.name)
        action = fail(plan, action)
    assert seen == ["provider1", "provider2", "provider3"]
    assert isinstance(action, Sleep), "every provider tried: the next round backs off"


def test_a_success_finishes_with_the_winner(make_route, clock):
    plan, action = start(make_route(), clock)
    action = fail(plan, action)
    winner = action.attempt
    done = plan.on_result(winner, response(200), None)
    assert isinstance(done, Finish)
    assert done.result.kind == "delivered"
    assert done.result.attempt is winner
    assert [a.outcome for a in done.result.attempts] == ["5xx", "2xx"]
    assert done.result.possible_duplicates == 0


def test_a_4xx_is_final_and_not_retried(make_route, clock):
    plan, action = start(make_route(), clock)
    done = fail(plan, action, status=400)
    assert isinstance(done, Finish)
    assert done.result.kind == "refused"
    assert len(done.result.attempts) == 1


def test_max_attempts_bounds_the_request(make_route, clock):
    plan, action = start(make_route(retry={"max_attempts": 2}), clock)
    action = fail(plan, action)
    done = fail(plan, action)
    assert isinstance(done, Finish)
    assert done.result.kind == "exhausted"
    assert done.result.reason == "all 2 attempts used"


def test_outcomes_outside_retry_on_stop_the_request(make_route, clock):
    plan, action = start(make_route(retry={"retry_on": ["connect_error"]}), clock)
    done = fail(plan, action, status=503)
    assert isinstance(done, Finish)
    assert done.result.kind == "exhausted"
    assert "5xx is not retried" in done.result.reason


def test_a_connect_error_is_retried_on_another_provider(make_route, clock):
    plan, action = start(make_route(), clock)
    first = action.attempt
    action = plan.on_result(first, None, UpstreamConnectError(first.label))
    assert isinstance(action, Send)
    assert action.attempt.provider is not first.provider


def test_backoff_never_sleeps_past_the_deadline(make_route, clock):
    route = make_route(
        names=("provider1",),
        retry={"backoff": {"strategy": "constant", "base_ms": 500, "cap_ms": 500}},
    )
    plan, action = start(route, clock, timeout_s=0.3)
    done = fail(plan, action)
    assert isinstance(done, Finish)
    assert done.result.reason == "deadline would pass during backoff"


def test_per_try_timeout_is_clamped_to_the_remaining_deadline(make_route, clock):
    _, action = start(make_route(try_timeout_ms=1000), clock, timeout_s=0.4)
    assert action.attempt.timeout_s == pytest.approx(0.4)


def test_retry_after_of_a_429_is_honoured_on_the_same_provider(make_route, clock):
    route = make_route(names=("provider1",), retry={"backoff": {"base_ms": 1, "cap_ms": 1}})
    plan, action = start(route, clock)
    sleep = fail_with = plan.on_result(action.attempt, response(429, (("retry-after", "1"),)), None)
    assert isinstance(fail_with, Sleep)
    assert sleep.seconds == pytest.approx(1.0)


def test_an_open_breaker_is_skipped_and_all_open_fails_fast(make_route, clock):
    route = make_route(breaker={"consecutive_failures": 1, "open_ms": 3000})
    plan, action = start(route, clock)
    for _ in range(3):
        action = fail(plan, action)
    states = {name: p.breaker.state for name, p in route.providers.items()}
    assert set(states.values()) == {BreakerState.OPEN}
    plan2, done = start(route, clock)
    assert isinstance(done, Finish)
    assert done.result.kind == "unavailable"
    assert done.result.retry_after_s == pytest.approx(3.0)
    assert plan2.attempts == []


def test_panic_mode_tries_the_least_bad_provider_when_all_are_open(make_route, clock):
    route = make_route(breaker={"consecutive_failures": 1, "when_all_open": "panic"})
    plan, action = start(route, clock)
    for _ in range(3):
        action = fail(plan, action)
    _, action = start(route, clock)
    assert isinstance(action, Send)
    assert action.attempt.permit is None


def test_a_provider_is_probed_again_after_the_open_duration(make_route, clock):
    route = make_route(names=("provider1",), breaker={"consecutive_failures": 1, "open_ms": 100})
    plan, action = start(route, clock)
    fail(plan, action)
    clock.advance(0.2)
    _, action = start(route, clock)
    assert isinstance(action, Send)
    assert action.attempt.permit.is_probe


def test_hedging_races_another_provider_after_the_delay(make_route, clock):
    route = make_route(duplicates="allowed", hedging={"enabled": True, "delay_ms": 40})
    plan, action = start(route, clock)
    first = action.attempt
    wait = plan.waiting()
    assert isinstance(wait, Wait)
    assert wait.hedge_in_s == pytest.approx(0.04)
    clock.advance(0.04)
    hedge = plan.on_hedge_timer()
    assert isinstance(hedge, Send)
    assert hedge.attempt.hedge
    assert hedge.attempt.provider is not first.provider
    assert plan.waiting().hedge_in_s is None, "max_hedges (1) reached: no more timers"
    done = plan.on_result(hedge.attempt, response(200), None)
    assert isinstance(done, Finish)
    result = done.result
    assert (result.hedges, result.hedge_won, result.possible_duplicates) == (1, True, 1)
    assert first.outcome == "cancelled"


def test_a_cancelled_hedge_loser_does_not_count_against_its_breaker(make_route, clock):
    route = make_route(
        names=("provider1", "provider2"),
        duplicates="allowed",
        hedging={"enabled": True, "delay_ms": 1},
        breaker={"consecutive_failures": 1},
    )
    plan, action = start(route, clock)
    slow = action.attempt
    clock.advance(0.001)
    hedge = plan.on_hedge_timer()
    plan.on_result(hedge.attempt, response(200), None)
    assert slow.provider.breaker.state is BreakerState.CLOSED


def test_adaptive_hedge_delay_follows_the_providers_recent_latency(make_route, clock):
    route = make_route(
        duplicates="allowed",
        hedging={"enabled": True, "delay_percentile": 90, "delay_ms": 50, "min_delay_ms": 1},
    )
    assert route.hedge_delay_s("provider1") == pytest.approx(0.05), "too few samples: fixed"
    for ms in range(1, 101):
        route.providers["provider1"].latency.add(ms / 1000)
    assert route.hedge_delay_s("provider1") == pytest.approx(0.09, abs=0.002)


def test_a_success_after_a_timeout_counts_a_possible_duplicate(make_route, clock):
    route = make_route(duplicates="allowed", retry={"retry_on": ["timeout", "5xx"]})
    plan, action = start(route, clock)
    lost = action.attempt
    action = plan.on_result(lost, None, UpstreamTimeout(lost.label, 1.0))
    done = plan.on_result(action.attempt, response(200), None)
    assert done.result.possible_duplicates == 1


def test_the_budget_refusing_the_first_attempt_is_unavailable(make_route, clock):
    route = make_route(budget={"kind": "ratio", "ratio": 0, "min_per_s": 0})
    plan, action = start(route, clock)
    done = fail(plan, action)
    assert isinstance(done, Finish)
    assert done.result.kind == "exhausted"
    assert done.result.reason == "retry budget exhausted"


def test_every_attempt_is_listed_with_its_outcome(make_route, clock):
    plan, action = start(make_route(retry={"max_attempts": 2}), clock)
    clock.advance(0.005)
    action = fail(plan, action)
    done = fail(plan, action, status=502)
    summaries = [a.summary(clock()) for a in done.result.attempts]
    assert summaries[0] == {
        "provider": "sms/provider1",
        "outcome": "5xx",
        "duration_ms": 5.0,
        "hedge": False,
    }
    assert summaries[1]["provider"] == "sms/provider2"


def test_once_every_provider_was_tried_retries_rotate_among_them(make_route, clock):
    route = make_route(
        names=("provider1", "provider2"), retry={"backoff": {"cap_ms": 0, "base_ms": 0}}
    )
    plan, action = start(route, clock)
    order = []
    while isinstance(action, Send):
        order.append(action.attempt.provider.target.name)
        action = fail(plan, action)
        while isinstance(action, Sleep):
            action = plan.after_sleep()
    assert order == ["provider1", "provider2", "provider1", "provider2", "provider1"]


def test_a_hedge_may_go_to_a_provider_already_tried_when_none_is_left(make_route, clock):
    route = make_route(
        names=("provider1", "provider2"),
        duplicates="allowed",
        hedging={"enabled": True, "delay_ms": 10},
    )
    plan, action = start(route, clock)
    action = fail(plan, action)  # provider1 failed fast
    slow = action.attempt  # provider2, about to be slow
    assert slow.provider.target.name == "provider2"
    clock.advance(0.01)
    hedge = plan.on_hedge_timer()
    assert isinstance(hedge, Send)
    assert hedge.attempt.provider.target.name == "provider1"


def test_a_failed_racer_is_replaced_at_once(make_route, clock):
    route = make_route(duplicates="allowed", hedging={"enabled": True, "delay_ms": 10})
    plan, action = start(route, clock)
    slow = action.attempt
    clock.advance(0.01)
    hedge = plan.on_hedge_timer()
    replacement = plan.on_result(hedge.attempt, response(500), None)
    assert isinstance(replacement, Send), "not left waiting on the slow one alone"
    assert replacement.attempt.provider not in (slow.provider, hedge.attempt.provider)
    assert not replacement.attempt.hedge
