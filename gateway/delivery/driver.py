"""Carry out a `Plan`: the only part of the policy engine that does I/O and waits."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

from gateway.delivery.plan import Attempt, Finish, Plan, Result, Send, Sleep
from gateway.errors import UpstreamError
from gateway.upstream import UpstreamResponse

SendAttempt = Callable[[Attempt], Awaitable[UpstreamResponse]]
"""Performs one attempt; raises `UpstreamError` when no whole answer came back."""

Sleeper = Callable[[float], Awaitable[None]]


async def deliver(plan: Plan, send: SendAttempt, sleep: Sleeper = asyncio.sleep) -> Result:
    """Run `plan` to its end, racing attempts as it says; in-flight losers are cancelled.

    Without hedging nothing ever races, so each attempt is awaited in place: a task
    per attempt would cost more than the rest of the gateway's own work.
    """
    racing = plan.route.policy.hedging.enabled
    tasks: dict[asyncio.Task[UpstreamResponse], Attempt] = {}
    # Attempts that ended together are told to the plan one per turn: the action
    # it answers to one (say, send a replacement) is carried out before the next.
    ended: collections.deque[asyncio.Task[UpstreamResponse]] = collections.deque()
    action = plan.start()
    try:
        while True:
            if isinstance(action, Finish):
                return action.result
            if isinstance(action, Send) and not racing:
                attempt = action.attempt
                try:
                    action = plan.on_result(attempt, await send(attempt), None)
                except UpstreamError as error:
                    action = plan.on_result(attempt, None, error)
                continue
            if isinstance(action, Send):
                tasks[asyncio.ensure_future(send(action.attempt))] = action.attempt
                action = plan.waiting()
                continue
            if isinstance(action, Sleep):
                await sleep(action.seconds)
                action = plan.after_sleep()
                continue
            if not ended:
                done, _ = await asyncio.wait(
                    tasks, timeout=action.hedge_in_s, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    action = plan.on_hedge_timer()
                    continue
                ended.extend(done)
            task = ended.popleft()
            attempt = tasks.pop(task)
            try:
                action = plan.on_result(attempt, task.result(), None)
            except UpstreamError as error:
                action = plan.on_result(attempt, None, error)
    finally:
        if plan.in_flight:  # cancelled (the caller left), or a bug: nothing stays in flight
            plan.abandon()
        for task in tasks:
            task.cancel()
            # Losers end on their own; retrieve their outcome so asyncio does not warn.
            task.add_done_callback(_consume)


def _consume(task: asyncio.Task[UpstreamResponse]) -> None:
    if not task.cancelled():
        task.exception()
