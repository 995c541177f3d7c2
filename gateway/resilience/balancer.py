"""Which provider gets the next attempt.

The engine filters out providers whose breaker is open and those this request
already tried, then asks a `Balancer` to pick among the rest. Every strategy
gets the same feedback (`started`, `finished`, `cancelled`); only `P2CEwma`
uses it.

- `RoundRobin`: turns in the configured order.
- `RandomChoice`: uniform.
- `Weighted`: proportional to a weight per provider; weight 0 means standby.
- `Priority`: ordered failover, always the first healthy provider.
- `P2CEwma`: "power of two choices" over a latency-and-load cost, as Finagle's
  and Linkerd's default balancers do: pick two candidates at random and take the
  cheaper. Sampling two, rather than taking the global minimum, keeps many
  concurrent requests from stampeding onto the one provider that looked best a
  moment ago, and still sends almost all traffic away from the worst.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from gateway.resilience.clock import Clock

BalancerStrategy = Literal["round_robin", "random", "weighted", "priority", "p2c_ewma"]
BALANCER_STRATEGIES: tuple[BalancerStrategy, ...] = get_args(BalancerStrategy)


class Balancer(Protocol):
    def choose(self, candidates: Sequence[str]) -> str:
        """One of `candidates` (non-empty, already filtered by the engine)."""
        ...

    def started(self, name: str) -> None:
        """An attempt to `name` was sent."""
        ...

    def finished(self, name: str, latency_s: float, ok: bool) -> None:
        """An attempt to `name` ended after `latency_s`; `ok` = a non-failure answer."""
        ...

    def cancelled(self, name: str, elapsed_s: float) -> None:
        """An attempt to `name` was abandoned by us (a hedge loser) after `elapsed_s`."""
        ...


class _IgnoresFeedback:
    """For strategies whose choice does not depend on how providers behave."""

    def started(self, name: str) -> None:
        pass

    def finished(self, name: str, latency_s: float, ok: bool) -> None:
        pass

    def cancelled(self, name: str, elapsed_s: float) -> None:
        pass


class RoundRobin(_IgnoresFeedback):
    """Takes turns in the configured order; a provider that is not a candidate loses its turn."""

    def __init__(self, names: Sequence[str]) -> None:
        names = _configured_names(names, "names")
        self._rank = {name: rank for rank, name in enumerate(names)}
        self._next = 0
        """Rank of the provider whose turn it is."""

    def choose(self, candidates: Sequence[str]) -> str:
        _check_candidates(candidates, self._rank)
        count = len(self._rank)
        # The candidate nearest at or after the turn, going round the configured order.
        name = min(candidates, key=lambda candidate: (self._rank[candidate] - self._next) % count)
        self._next = (self._rank[name] + 1) % count
        return name


class RandomChoice(_IgnoresFeedback):
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def choose(self, candidates: Sequence[str]) -> str:
        _require_candidates(candidates)
        return self._rng.choice(candidates)


class Weighted(_IgnoresFeedback):
    """Picks a candidate with probability proportional to its weight.

    A weight of 0 marks a standby provider: it is chosen only when every
    candidate left has weight 0 (then uniformly among them). That lets a
    configuration keep an expensive provider out of normal rotation while still
    falling back to it when the others are open or already tried.
    """

    def __init__(self, weights: Mapping[str, float], rng: random.Random) -> None:
        if not weights:
            raise ValueError("weights must name at least one provider")
        for name, weight in weights.items():
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weights[{name!r}] must be a finite number >= 0, got {weight!r}")
        if not any(weights.values()):
            raise ValueError("weights: at least one weight must be > 0")
        self._weights = dict(weights)
        self._rng = rng

    def choose(self, candidates: Sequence[str]) -> str:
        _check_candidates(candidates, self._weights)
        active = [name for name in candidates if self._weights[name] > 0]
        if not active:
            return self._rng.choice(candidates)
        point = self._rng.random() * sum(self._weights[name] for name in active)
        for name in active:
            point -= self._weights[name]
            if point < 0:
                return name
        return active[-1]  # rounding left `point` a hair above 0


class Priority(_IgnoresFeedback):
    """Ordered failover: the first candidate in the configured order."""

    def __init__(self, order: Sequence[str]) -> None:
        names = _configured_names(order, "order")
        self._rank = {name: rank for rank, name in enumerate(names)}

    def choose(self, candidates: Sequence[str]) -> str:
        _check_candidates(candidates, self._rank)
        return min(candidates, key=self._rank.__getitem__)


@dataclass(slots=True)
class _Load:
    """What P2CEwma knows about one provider."""

    latency_s: float | None = None
    """Time-decayed average latency of recent attempts (failures counted high)."""
    updated_at: float = 0.0
    outstanding: int = 0


class P2CEwma:
    """Power of two choices on cost = average latency x (outstanding + 1).

    The average is an EWMA decayed by time, not by sample count: a sample
    arriving `dt` seconds after the previous one gets weight 1 - exp(-dt/decay_s),
    so the estimate is an average over roughly the last `decay_s` seconds however
    busy the provider is, and the first sample after a long silence replaces the
    old estimate almost entirely.

    Choices made with that in mind:

    - A provider with no data costs `default_latency_s` (small), so it is tried
      early and gets real numbers.
    - A failure counts as at least `failure_penalty_s`: failures often come fast
      (an instant 500), and a balancer that only saw latency would send most
      traffic to the provider that fails quickest. The default is roughly what a
      failure costs the caller: a backoff plus another try elsewhere. A provider's
      cost then grows with its failure rate; tripping on failures is still the
      breaker's job.
    - An idle provider's estimate fades toward 0 at the same rate (as in Finagle
      and Linkerd), so one that looked slow and was avoided gets tried again
      rather than starved forever.
    - Unlike Linkerd's "peak" EWMA, a slow answer does not pin the estimate at its
      value: with a 1% tail every provider would be pinned all the time. Tails
      are the hedger's job.
    - A cancelled hedge loser ran at least `elapsed_s`; when that is above the
      estimate it is counted as a sample, since the provider was that slow at least.
    """

    def __init__(
        self,
        names: Sequence[str],
        rng: random.Random,
        clock: Clock = time.monotonic,
        *,
        decay_s: float = 10.0,
        default_latency_s: float = 0.001,
        failure_penalty_s: float = 0.1,
    ) -> None:
        for arg, value in (
            ("decay_s", decay_s),
            ("default_latency_s", default_latency_s),
            ("failure_penalty_s", failure_penalty_s),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{arg} must be a finite number >= 0, got {value!r}")
        if decay_s == 0:
            raise ValueError("decay_s must be > 0")
        self._rng = rng
        self._clock = clock
        self.decay_s = decay_s
        self.default_latency_s = default_latency_s
        self.failure_penalty_s = failure_penalty_s
        self._loads = {name: _Load() for name in _configured_names(names, "names")}

    def choose(self, candidates: Sequence[str]) -> str:
        _require_candidates(candidates)
        if len(candidates) == 1:
            return candidates[0]
        first, second = self._rng.sample(candidates, 2)
        now = self._clock()
        return second if self.cost(second, now) < self.cost(first, now) else first

    def cost(self, name: str, now: float | None = None) -> float:
        """The load figure the choice compares: lower is better."""
        load = self._load(name)
        return self._latency_estimate(load, self._clock() if now is None else now) * (
            load.outstanding + 1
        )

    def started(self, name: str) -> None:
        self._load(name).outstanding += 1

    def finished(self, name: str, latency_s: float, ok: bool) -> None:
        load = self._load(name)
        load.outstanding = max(0, load.outstanding - 1)
        self._observe(load, latency_s if ok else max(latency_s, self.failure_penalty_s))

    def cancelled(self, name: str, elapsed_s: float) -> None:
        load = self._load(name)
        load.outstanding = max(0, load.outstanding - 1)
        known = self.default_latency_s if load.latency_s is None else load.latency_s
        if elapsed_s > known:  # a lower bound below what we know would only flatter it
            self._observe(load, elapsed_s)

    def _latency_estimate(self, load: _Load, now: float) -> float:
        if load.latency_s is None:
            return self.default_latency_s
        return load.latency_s * self._decay(now - load.updated_at)

    def _observe(self, load: _Load, sample_s: float) -> None:
        now = self._clock()
        if load.latency_s is None:
            load.latency_s = sample_s
        else:
            keep = self._decay(now - load.updated_at)
            load.latency_s = load.latency_s * keep + sample_s * (1 - keep)
        load.updated_at = now

    def _decay(self, elapsed_s: float) -> float:
        return math.exp(-max(0.0, elapsed_s) / self.decay_s)

    def _load(self, name: str) -> _Load:
        # A name outside the configured ones gets its state on first sight rather than
        # a KeyError in the request path; the engine only passes configured names.
        return self._loads.setdefault(name, _Load())


def make_balancer(
    strategy: str,
    names: Sequence[str],
    *,
    weights: Mapping[str, float] | None = None,
    rng: random.Random,
    clock: Clock = time.monotonic,
) -> Balancer:
    """The balancer for a route's `strategy` over its providers `names` (in config order).

    `weights` is required by, and only read by, "weighted"; it must give a weight
    to each of `names` and to nothing else.
    """
    names = _configured_names(names, "names")
    if strategy == "round_robin":
        return RoundRobin(names)
    if strategy == "random":
        return RandomChoice(rng)
    if strategy == "priority":
        return Priority(names)
    if strategy == "p2c_ewma":
        return P2CEwma(names, rng, clock)
    if strategy == "weighted":
        if weights is None:
            raise ValueError("weights are required by strategy 'weighted'")
        unknown = sorted(set(weights) - set(names))
        missing = [name for name in names if name not in weights]
        if unknown:
            raise ValueError(f"weights name unknown providers: {', '.join(unknown)}")
        if missing:
            raise ValueError(f"weights lack a weight for: {', '.join(missing)}")
        return Weighted(weights, rng)
    raise ValueError(f"strategy must be one of {', '.join(BALANCER_STRATEGIES)}, got {strategy!r}")


def _configured_names(names: Sequence[str], arg: str) -> tuple[str, ...]:
    if isinstance(names, str):  # a lone name would otherwise become its letters
        raise ValueError(f"{arg} must be a sequence of provider names, not a string")
    if not names:
        raise ValueError(f"{arg} must name at least one provider")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{arg} repeats {', '.join(duplicates)}")
    return tuple(names)


def _require_candidates(candidates: Sequence[str]) -> None:
    if not candidates:
        raise ValueError("candidates must not be empty")


def _check_candidates(
    candidates: Sequence[str], known: Sequence[str] | Mapping[str, object]
) -> None:
    _require_candidates(candidates)
    unknown = set(candidates).difference(known)
    if unknown:
        raise ValueError(f"candidates include unconfigured providers: {', '.join(sorted(unknown))}")
