"""The async driver carries out the plan: races, cancels losers, sleeps where told."""

import asyncio

import pytest

from gateway.delivery.driver import deliver
from gateway.delivery.plan import Plan
from gateway.errors import UpstreamReset
from gateway.resilience.deadline import Deadline

from .conftest import response


async def test_a_slow_first_attempt_loses_the_race_and_is_cancelled(make_route, clock):
    route = make_route(duplicates="allowed", hedging={"enabled": True, "delay_ms": 0})
    cancelled = []

    async def send(attempt):
        if attempt.provider.target.name == "provider1":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(attempt.label)
                raise
        return response(200)

    result = await asyncio.wait_for(deliver(Plan(route, Deadline(5, clock=clock)), send), 10)
    await asyncio.sleep(0)  # let the cancellation land
    assert result.kind == "delivered"
    assert result.attempt.label == "sms/provider2"
    assert result.hedge_won
    assert cancelled == ["sms/provider1"]
    assert result.possible_duplicates == 1


async def test_failures_are_retried_with_the_sleeps_the_plan_asks_for(make_route, clock):
    route = make_route(names=("provider1",), retry={"max_attempts": 3})
    slept = []

    async def sleep(seconds):
        slept.append(seconds)
        clock.advance(seconds)

    calls = []

    async def send(attempt):
        calls.append(attempt.number)
        if len(calls) < 3:
            raise UpstreamReset(attempt.label)
        return response(200)

    route = make_route(
        names=("provider1",),
        duplicates="allowed",
        retry={"max_attempts": 3, "retry_on": ["reset"]},
    )
    result = await deliver(Plan(route, Deadline(5, clock=clock)), send, sleep=sleep)
    assert result.kind == "delivered"
    assert calls == [1, 2, 3]
    assert len(slept) == 2, "one provider only: every retry backs off"
    assert all(0 <= s <= 0.25 for s in slept)
    assert result.possible_duplicates == 2, "both resets may have delivered"


async def test_a_bug_in_a_send_propagates_and_cancels_the_rest(make_route, clock):
    route = make_route(duplicates="allowed", hedging={"enabled": True, "delay_ms": 0})
    started = asyncio.Event()

    async def send(attempt):
        if attempt.number == 1:
            started.set()
            await asyncio.sleep(30)
        raise RuntimeError("bug")

    plan = Plan(route, Deadline(5, clock=clock))
    with pytest.raises(RuntimeError, match="bug"):
        await asyncio.wait_for(deliver(plan, send), 10)
    assert plan.in_flight == []
    assert plan.attempts[0].outcome == "cancelled"


async def test_without_hedging_a_cancelled_request_leaves_nothing_in_flight(make_route, clock):
    route = make_route()
    started = asyncio.Event()

    async def send(attempt):
        started.set()
        await asyncio.sleep(30)

    plan = Plan(route, Deadline(5, clock=clock))
    delivery = asyncio.ensure_future(deliver(plan, send))
    await started.wait()
    delivery.cancel()
    with pytest.raises(asyncio.CancelledError):
        await delivery
    assert plan.in_flight == []
    assert plan.attempts[0].outcome == "cancelled"


async def test_attempts_ending_together_are_each_told_to_the_plan(make_route, clock):
    # Two racers fail in the same loop turn; the replacement the plan asks for after
    # the first must be sent, not lost under the second result.
    route = make_route(
        duplicates="allowed",
        hedging={"enabled": True, "delay_ms": 0, "max_hedges": 1},
        retry={"max_attempts": 3},
    )
    both_started = asyncio.Event()
    started = []

    async def send(attempt):
        started.append(attempt.number)
        if attempt.number < 3:
            if len(started) == 2:
                both_started.set()
            await both_started.wait()
            return response(500)
        return response(200)

    result = await asyncio.wait_for(deliver(Plan(route, Deadline(5, clock=clock)), send), 10)
    assert result.kind == "delivered"
    assert [a.outcome for a in result.attempts] == ["5xx", "5xx", "2xx"]
