"""Build route runtimes over fake targets, with a fake clock and a seeded random source."""

import random

import pytest

from gateway.config.policy import Policy
from gateway.delivery.runtime import RouteRuntime
from gateway.proxy import Target
from gateway.resilience.clock import FakeClock
from gateway.upstream import UpstreamResponse

NAMES = ("provider1", "provider2", "provider3")


def policy(**knobs) -> Policy:
    """A policy from the documented defaults with `knobs` laid over (no budget by default,
    so a test pins one mechanism at a time)."""
    base = {"budget": {"kind": "none"}}
    for key, value in knobs.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return Policy.model_validate(base)


def response(status: int, headers: tuple[tuple[str, str], ...] = ()) -> UpstreamResponse:
    return UpstreamResponse(status, b'{"message":"x"}', headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def make_route(clock):
    def make(names=NAMES, **knobs) -> RouteRuntime:
        targets = [Target("sms", name, f"http://127.0.0.1:1/{name}") for name in names]
        return RouteRuntime("sms", policy(**knobs), targets, clock=clock, rng=random.Random(7))

    return make
