"""What a provider does with a valid request: pure decisions, no I/O.

The app asks `decide` for an outcome and `delay_s` for a wait, then carries
them out. Each draws from a `random.Random` the caller owns, so a seeded
provider repeats its sequence, and the outcome stream does not shift when a
latency knob is turned (latency draws from its own stream).
"""

from __future__ import annotations

import random
from enum import StrEnum

from simulator.knobs import Knobs


class Outcome(StrEnum):
    """The answer chosen for a valid request; values are the ledger's attempt labels."""

    SENT = "200"
    FAILED = "500"
    THROTTLED = "429"
    HUNG = "hang"
    RESET = "reset"


def decide(knobs: Knobs, rng: random.Random) -> Outcome:
    """Pick the outcome of one valid request.

    Hang, reset and throttle are absolute probabilities carved from one draw;
    the seed's coin (`fail_rate`) is then tossed for the requests left, so with
    those knobs at zero a request fails with exactly `fail_rate`.
    """
    if knobs.fault_rate:
        draw = rng.random()
        if draw < knobs.hang_rate:
            return Outcome.HUNG
        draw -= knobs.hang_rate
        if draw < knobs.reset_rate:
            return Outcome.RESET
        draw -= knobs.reset_rate
        if draw < knobs.throttle_rate:
            return Outcome.THROTTLED
    return Outcome.FAILED if rng.random() < knobs.fail_rate else Outcome.SENT


def delay_s(knobs: Knobs, rng: random.Random) -> float:
    """Seconds to wait before answering: base + log-normal sample + the tail's extra."""
    millis = knobs.latency_ms
    if knobs.lognormal is not None:
        mu, sigma = knobs.lognormal
        millis += rng.lognormvariate(mu, sigma)
    if knobs.tail_ratio and rng.random() < knobs.tail_ratio:
        millis += knobs.tail_ms
    return millis / 1000.0


def streams(seed: int | None, provider_name: str) -> tuple[random.Random, random.Random]:
    """The outcome and latency streams of one provider.

    Seeded from the seed *and* the provider's name so six providers under one
    `--seed` do not toss the same coins; unseeded, they draw from the OS.
    """
    if seed is None:
        return random.Random(), random.Random()
    return (
        random.Random(f"{seed}/{provider_name}/outcome"),
        random.Random(f"{seed}/{provider_name}/latency"),
    )
