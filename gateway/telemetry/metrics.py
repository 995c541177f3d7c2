"""Prometheus metrics of the gateway, exposed at `GET /metrics`.

Each app gets its own registry (tests build many apps in one process). With
`--workers N` every worker writes its samples to files under
`PROMETHEUS_MULTIPROC_DIR`, and a scrape of any worker adds them all up.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# `*_created` series double the exposition for nothing Prometheus itself uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds; dense below 50 ms where a healthy sidecar lives, sparse up to deadlines.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
)


class Family:
    """A labelled metric whose children are looked up once per set of label values:
    prometheus_client's `labels()` takes a lock and builds a key on every call."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[object, ...], Any] = {}

    def labels(self, *values: object) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class Metrics:
    """The gateway's counters and histograms, on a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Family(
            Counter(
                "gateway_requests",
                "Requests answered, by route kind, message type and HTTP status.",
                ("route", "type", "status"),
                registry=self.registry,
            )
        )
        self.request_duration = Family(
            Histogram(
                "gateway_request_duration_seconds",
                "Client-facing latency, from request received to answer sent.",
                ("route", "type"),
                buckets=LATENCY_BUCKETS,
                registry=self.registry,
            )
        )
        self.upstream_attempts = Family(
            Counter(
                "gateway_upstream_attempts",
                "Calls to providers, by provider and outcome (HTTP status class or failure kind).",
                ("provider", "outcome"),
                registry=self.registry,
            )
        )
        self.upstream_duration = Family(
            Histogram(
                "gateway_upstream_duration_seconds",
                "Latency of each provider call, whatever its outcome.",
                ("provider",),
                buckets=LATENCY_BUCKETS,
                registry=self.registry,
            )
        )

        self.deliveries = Family(
            Counter(
                "gateway_deliveries",
                "How requests ended: delivered, refused (4xx), exhausted, unavailable (503).",
                ("route", "type", "result"),
                registry=self.registry,
            )
        )
        self.hedges = Family(
            Counter(
                "gateway_hedges",
                "Hedged attempts: sent, and won (the hedge answered first).",
                ("route", "type", "result"),
                registry=self.registry,
            )
        )
        self.possible_duplicates = Family(
            Counter(
                "gateway_possible_duplicates",
                "Sends that may have been delivered besides the one that answered: cancelled "
                "hedge losers and earlier attempts whose answer was lost.",
                ("route", "type"),
                registry=self.registry,
            )
        )
        self.breaker_transitions = Family(
            Counter(
                "gateway_breaker_transitions",
                "Circuit breaker state changes, by provider and new state.",
                ("route", "provider", "state"),
                registry=self.registry,
            )
        )

    def render(self) -> bytes:
        """The exposition text; all workers' samples when running multi-process."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
