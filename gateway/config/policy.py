"""Delivery policies: how a message finds a provider, named and tuned in YAML.

Knob names follow Envoy's and gRPC's retry and hedging documents where they
have an equivalent. Every knob has a default, a unit in its name and a range;
`docs/policies.md` is generated from the `description` of each field below.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RetryOn = Literal["connect_error", "reset", "timeout", "5xx", "429"]


class Model(BaseModel):
    """Base of every config model: immutable, and unknown keys are errors (typos)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


AMBIGUOUS: frozenset[str] = frozenset({"reset", "timeout"})
"""Outcomes after which the provider may have sent the message anyway: the request
left, but no whole answer came back. Retrying them can deliver twice."""


class BalancerPolicy(Model):
    """Which provider an attempt goes to."""

    strategy: Literal["priority", "round_robin", "random", "weighted", "p2c_ewma"] = Field(
        "priority",
        description="priority: ordered failover; round_robin; random; weighted: random by "
        "`weights`; p2c_ewma: power of two choices on EWMA latency x outstanding requests "
        "(Linkerd, Finagle).",
    )
    order: list[str] = Field(
        default_factory=list,
        description="Provider names in order of preference (priority, round_robin); "
        "empty: configuration order.",
    )
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Relative weight per provider name (weighted); a provider not named weighs 1.",
    )
    ewma_decay_ms: Annotated[float, Field(gt=0, le=600_000)] = Field(
        10_000, description="p2c_ewma: how fast old latencies are forgotten (time constant)."
    )


class BackoffPolicy(Model):
    """The wait before a retry."""

    strategy: Literal["full_jitter", "decorrelated_jitter", "exponential", "constant"] = Field(
        "full_jitter",
        description="full_jitter: uniform(0, min(cap, base x multiplier^n)) (AWS); "
        "decorrelated_jitter: min(cap, uniform(base, 3 x previous)); exponential: no jitter; "
        "constant: base every time.",
    )
    base_ms: Annotated[float, Field(ge=0, le=60_000)] = Field(
        25, description="First retry's delay scale."
    )
    cap_ms: Annotated[float, Field(ge=0, le=600_000)] = Field(
        250, description="Largest delay between two attempts."
    )
    multiplier: Annotated[float, Field(ge=1, le=10)] = Field(
        2.0, description="Growth factor per retry."
    )

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> BackoffPolicy:
        if self.cap_ms < self.base_ms:
            raise ValueError("cap_ms must be at least base_ms")
        return self


class RetryPolicy(Model):
    """When a failed attempt is tried again, and how often."""

    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        5, description="Attempts per request, the first and every retry and hedge included."
    )
    retry_on: list[RetryOn] = Field(
        default_factory=lambda: list[RetryOn](["connect_error", "5xx", "429"]),
        description="Outcomes that are retried: connect_error (never reached the provider), "
        "5xx, 429 (after its Retry-After), and the ambiguous reset and timeout, which need "
        "`duplicates: allowed`. A 4xx other than 408/429 is always final.",
    )
    backoff: BackoffPolicy = Field(default_factory=BackoffPolicy, description="See below.")

    @field_validator("retry_on", mode="before")
    @classmethod
    def _status_codes_as_text(cls, value: object) -> object:
        # `retry_on: [5xx, 429]` reads 429 as a number; the outcome names are text.
        if isinstance(value, list):
            return [str(item) if isinstance(item, int) else item for item in value]
        return value

    min_try_ms: Annotated[float, Field(ge=0, le=60_000)] = Field(
        50,
        description="A retry is only started when at least this much of the deadline is left.",
    )


class BreakerPolicy(Model):
    """A circuit breaker per provider: stop calling a provider that keeps failing."""

    enabled: bool = Field(True, description="Off: every provider is always tried.")
    consecutive_failures: Annotated[int, Field(ge=1, le=1000)] = Field(
        30,
        description="Opens after this many failures in a row. Mind the providers' normal "
        "failure rate: one failing half its sends has 10 in a row every ~2,000 calls (seconds, "
        "under load) but 30 in a row about once in a billion.",
    )
    failure_ratio: Annotated[float, Field(gt=0, le=1)] = Field(
        0.9,
        description="Also opens when this share of the calls in the window failed ...",
    )
    min_calls: Annotated[int, Field(ge=1, le=100_000)] = Field(
        20, description="... and the window holds at least this many calls."
    )
    window_ms: Annotated[float, Field(gt=0, le=3_600_000)] = Field(
        10_000, description="Length of the sliding window of the failure ratio."
    )
    open_ms: Annotated[float, Field(gt=0, le=3_600_000)] = Field(
        5_000, description="How long an open breaker refuses calls before probing."
    )
    half_open_probes: Annotated[int, Field(ge=1, le=100)] = Field(
        1, description="Concurrent trial calls let through once open_ms has passed."
    )
    when_all_open: Literal["fail_fast", "panic"] = Field(
        "fail_fast",
        description="fail_fast: answer 503 with Retry-After; panic: try the provider with "
        "the lowest recent failure ratio anyway.",
    )


class BudgetPolicy(Model):
    """Caps on retries and hedges, so that a retry storm cannot happen."""

    kind: Literal["adaptive", "ratio", "none"] = Field(
        "adaptive",
        description="adaptive: Google SRE client-side throttling, refuse retries locally with "
        "probability max(0, (attempts - k x successes - allowance) / (attempts + 1)); "
        "ratio: retries and hedges up to `ratio` of requests plus `min_per_s` (Linkerd); none.",
    )
    k: Annotated[float, Field(ge=1, le=10)] = Field(
        3.0,
        description="adaptive: attempts allowed per success; 2 to 3 suits providers that fail "
        "half their sends.",
    )
    window_ms: Annotated[float, Field(gt=0, le=3_600_000)] = Field(
        10_000, description="Sliding window over which attempts and successes are counted."
    )
    ratio: Annotated[float, Field(ge=0, le=10)] = Field(
        0.2, description="ratio: retries and hedges allowed per request."
    )
    min_per_s: Annotated[float, Field(ge=0, le=100_000)] = Field(
        10,
        description="Retries and hedges per second always allowed, so a quiet route can retry "
        "at all (both kinds; adaptive: allowance of min_per_s x window beyond k x successes).",
    )


class HedgingPolicy(Model):
    """Race to first completion: send the same message to another provider when the
    first is slow; the first success wins and the others are cancelled."""

    enabled: bool = Field(False, description="Needs `duplicates: allowed`.")
    delay_ms: Annotated[float, Field(ge=0, le=60_000)] = Field(
        50, description="Fixed hedge delay, and the delay used until enough latencies are known."
    )
    delay_percentile: Annotated[float, Field(gt=0, lt=100)] | None = Field(
        None,
        description="Adaptive delay: this percentile of the provider's recent latencies "
        "(e.g. 95); unset: the fixed delay_ms.",
    )
    min_delay_ms: Annotated[float, Field(ge=0, le=60_000)] = Field(
        5, description="Lower bound of the adaptive delay."
    )
    max_hedges: Annotated[int, Field(ge=1, le=5)] = Field(
        1, description="Hedges per request, beyond the first attempt."
    )


class Policy(Model):
    """A named delivery policy (`policies/<name>.yaml`)."""

    description: str = Field("", description="What the policy is for, for the next reader.")
    duplicates: Literal["forbidden", "allowed"] = Field(
        "forbidden",
        description="forbidden: never risk sending a message twice (no hedging, no retry "
        "after reset or timeout); allowed: a repeated message is acceptable (OTP codes).",
    )
    mode: Literal["sync", "async"] = Field(
        "sync",
        description="sync: answer with the provider's answer; async: store the message, "
        "answer 202 at once and deliver in the background (also asked per request with "
        "`Prefer: respond-async`).",
    )
    on_exhausted: Literal["fail", "enqueue"] = Field(
        "fail",
        description="When a sync request's attempts run out: fail (502/503), or enqueue it "
        "for background delivery and answer 202 (never after a possibly delivered attempt "
        "unless duplicates are allowed).",
    )
    deadline_ms: Annotated[float, Field(gt=0, le=3_600_000)] = Field(
        2_000,
        description="Overall time for a request, all attempts and waits included; a caller's "
        "smaller X-Request-Timeout wins.",
    )
    try_timeout_ms: Annotated[float, Field(gt=0, le=600_000)] = Field(
        1_000, description="Longest a single attempt may take (clamped to what is left)."
    )
    balancer: BalancerPolicy = Field(default_factory=BalancerPolicy, description="See below.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="See below.")
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy, description="See below.")
    budget: BudgetPolicy = Field(default_factory=BudgetPolicy, description="See below.")
    hedging: HedgingPolicy = Field(default_factory=HedgingPolicy, description="See below.")

    @model_validator(mode="after")
    def _duplicates_are_opt_in(self) -> Policy:
        if self.duplicates == "allowed":
            return self
        if self.hedging.enabled:
            raise ValueError(
                "hedging sends one message to two providers and may deliver it twice; "
                "set `duplicates: allowed` to accept that"
            )
        ambiguous = sorted(AMBIGUOUS.intersection(self.retry.retry_on))
        if ambiguous:
            raise ValueError(
                f"retrying after {' or '.join(ambiguous)} may deliver a message twice (the "
                "provider may have sent it); set `duplicates: allowed` to accept that"
            )
        return self
