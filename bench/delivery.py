"""Does the policy engine deliver? Evidence per scenario, against a naive client.

For every scenario and contender, in one run, an aiohttp load generator sends
messages with a unique `X-Notification-Id` each to `POST /api/sms` of a fresh
gateway (or, for the naive client, straight to the providers), then the
simulator's ledger (`/__ledger?scope=all`) says exactly which ids were delivered
and how often, and the gateway's `/metrics` how many provider calls it made.

Scenarios (the simulator is reset and reseeded before every run):

  seed       the seed's providers, each failing half its sends (fail_rate 0.5)
  one-down   the same with sms1 hard down (`down=refuse`: connection refused)
  outage     every sms provider down (500) for 30 s then back, under a fixed rate;
             the contenders run side by side in the same outage
  tail       5 % of answers 500 ms slower (`tail_ratio 0.05, tail_ms 500`), with
             fail_rate 0.5 (`tail`) and with fail_rate 0 (`tail-ok`)

Contenders: the presets `failover` (the route default), `hedged-otp` and
`bulk-email` (round robin) bound to /api/sms, and `naive`: the client most
public implementations of the specification are, calling providers 1, 2, 3 in
turn directly, up to 3 rounds with a fixed 100 ms pause between rounds.

    .venv/bin/python -m bench.delivery             # about 3 minutes
    .venv/bin/python -m bench.delivery --quick     # about 50 seconds
    .venv/bin/python -m bench.delivery --scenarios seed,tail
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import loadgen, stack
from bench.loadgen import GatewaySender, NaiveSender, Record
from bench.plots import pyplot
from bench.stats import (
    DeliveryCount,
    bin_by_second,
    count_deliveries,
    first_after,
    fixed,
    ledger_attempts,
    markdown_table,
    metric_by,
    metric_sum,
    percentile,
    ratio,
    status_breakdown,
    thousands,
    verdict,
)

DEADLINE_S = 2.0  # the failover preset's deadline_ms
OPEN_MS = 5000  # the failover preset's breaker.open_ms


@dataclass(frozen=True)
class Contender:
    name: str
    policy: str | None
    """The preset bound to /api/sms; None for the naive client."""


FAILOVER = Contender("failover", "failover")
HEDGED = Contender("hedged-otp", "hedged-otp")
BULK = Contender("bulk-email", "bulk-email")
NAIVE = Contender("naive", None)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    knobs: dict[str, dict[str, Any]]
    """Simulator knobs by target (`sms`, `sms1`, ...), applied after the reset."""
    contenders: tuple[Contender, ...]
    messages: int
    rate: float | None = None
    """Open loop at this many messages/s; None: closed loop, `--concurrency` in flight."""


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    n, tail_n = args.messages, args.tail_messages
    seed = {"sms": {"fail_rate": 0.5}}
    tail = {"tail_ratio": 0.05, "tail_ms": 500}
    return [
        Scenario(
            "seed",
            "1. Seed providers (fail_rate 0.5)",
            seed,
            (FAILOVER, HEDGED, BULK, NAIVE),
            n,
        ),
        Scenario(
            "one-down",
            "2. Seed providers, sms1 hard down (connection refused)",
            {**seed, "sms1": {"down": "refuse"}},
            (FAILOVER, HEDGED, NAIVE),
            n,
        ),
        Scenario(
            "outage",
            f"3. Every sms provider down ({args.outage_mode}) for {args.outage_s:g} s, then back",
            seed,
            (FAILOVER, HEDGED, NAIVE),
            0,
        ),
        Scenario(
            "tail",
            f"4a. Slow tail (5 % of answers +500 ms), fail_rate 0.5, {args.tail_rate:g} msg/s",
            {"sms": {"fail_rate": 0.5, **tail}},
            (FAILOVER, HEDGED, NAIVE),
            tail_n,
            args.tail_rate,
        ),
        Scenario(
            "tail-ok",
            f"4b. Slow tail (5 % of answers +500 ms), fail_rate 0, {args.tail_rate:g} msg/s",
            {"sms": {"fail_rate": 0.0, **tail}},
            (FAILOVER, HEDGED, NAIVE),
            tail_n,
            args.tail_rate,
        ),
    ]


# -- one run -------------------------------------------------------------------------------


@dataclass
class Run:
    scenario: Scenario
    contender: Contender
    records: list[Record]
    delivery: DeliveryCount
    gateway_calls: float | None
    """Provider calls the gateway made (`gateway_upstream_attempts_total`), None for naive."""
    provider_requests: int | None
    """Requests that reached the providers (the ledger's attempts; refused ones never do);
    None when runs side by side shared the providers."""
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return len(self.records)

    @property
    def calls(self) -> float:
        if self.gateway_calls is not None:
            return self.gateway_calls
        return sum(r.outcome.calls for r in self.records)

    @property
    def calls_per_delivered(self) -> float:
        return ratio(self.calls, self.delivery.delivered)

    @property
    def provider_requests_per_delivered(self) -> float:
        if self.provider_requests is None:
            return float("nan")
        return ratio(self.provider_requests, self.delivery.delivered)

    def latency_ms(self, q: float) -> float:
        return 1000 * percentile([r.latency_s for r in self.records], q)

    @property
    def ok_in_deadline_pct(self) -> float:
        ok = sum(1 for r in self.records if r.ok and r.latency_s <= DEADLINE_S)
        return 100 * ratio(ok, self.sent)

    @property
    def hedges(self) -> int:
        return sum(r.outcome.hedges for r in self.records)

    def statuses(self) -> str:
        return status_breakdown(r.outcome.status for r in self.records)


class Bench:
    """The shared simulator and client session, and the run's settings."""

    def __init__(
        self, sim: stack.Simulator, work: Path, session: aiohttp.ClientSession, args: Any
    ) -> None:
        self.sim, self.work, self.session, self.args = sim, work, session, args

    def prepare(self, scenario: Scenario) -> None:
        self.sim.reset(knobs=True)
        for target, knobs in scenario.knobs.items():
            self.sim.control(target, **knobs)

    @contextlib.contextmanager
    def sender(
        self, scenario: Scenario, contender: Contender
    ) -> Iterator[tuple[loadgen.Sender, stack.Gateway | None]]:
        if contender.policy is None:
            urls = [self.sim.url(f"sms{i}") for i in (1, 2, 3)]
            yield NaiveSender(self.session, urls, rounds=3, pause_s=0.1, timeout_s=2.0), None
            return
        config = stack.gateway_config(self.sim, sms_policy=contender.policy)
        name = f"gw-{scenario.key}-{contender.name}"
        with stack.start_gateway(self.work, config, name=name) as gateway:
            yield GatewaySender(self.session, gateway.url("/api/sms")), gateway

    def finish(
        self,
        scenario: Scenario,
        contender: Contender,
        records: list[Record],
        gateway: stack.Gateway | None,
        seconds: float,
        *,
        alone: bool = True,
    ) -> Run:
        ledger = self.sim.ledger("all")
        ids = [r.id for r in records if r.outcome.status != "dropped"]
        delivery = count_deliveries(ids, ledger["keys"])
        # Runs side by side (outage) share the ledger's attempt counts: not theirs alone.
        requests = ledger_attempts(ledger) if alone else None
        metrics: dict[str, Any] = {}
        calls = None
        if gateway is not None:
            errors = gateway.process.errors()
            if errors:
                print(f"  ! {gateway.process.name} logged errors:", *errors, sep="\n    ")
            metrics["errors"] = errors
            samples = gateway.metrics()
            calls = metric_sum(samples, "gateway_upstream_attempts_total")
            metrics |= {
                "upstream_outcomes": metric_by(
                    samples, "gateway_upstream_attempts_total", "outcome"
                ),
                "results": metric_by(samples, "gateway_deliveries_total", "result"),
                "hedges": metric_by(samples, "gateway_hedges_total", "result"),
                "possible_duplicates": metric_sum(samples, "gateway_possible_duplicates_total"),
                "breaker": metric_by(samples, "gateway_breaker_transitions_total", "state"),
            }
        return Run(scenario, contender, records, delivery, calls, requests, seconds, metrics)

    async def measure(self, scenario: Scenario, contender: Contender) -> Run:
        with self.sender(scenario, contender) as (send, gateway):
            self.prepare(scenario)
            ids = itertools.islice(
                loadgen.message_ids(f"{scenario.key}.{contender.name}"),
                self.args.bulk_messages if contender is BULK else scenario.messages,
            )
            started = time.perf_counter()
            if scenario.rate:
                count = self.args.bulk_messages if contender is BULK else scenario.messages
                records = await loadgen.open_loop(send, ids, scenario.rate, count / scenario.rate)
            else:
                records = await loadgen.closed_loop(send, ids, self.args.concurrency)
            seconds = time.perf_counter() - started
            # Hedge losers and slow answers land after their caller moved on.
            await asyncio.sleep(self.args.settle_s)
            return self.finish(scenario, contender, records, gateway, seconds)


# -- the outage scenario -------------------------------------------------------------------


@dataclass
class OutageRun:
    run: Run
    down_at: float
    up_at: float
    calls_in_outage: float
    metrics_at: dict[str, float]

    def in_outage(self) -> list[Record]:
        return [r for r in self.run.records if self.down_at <= r.started < self.up_at]

    @property
    def requests_in_outage(self) -> int:
        return len(self.in_outage())

    def share_503_pct(self) -> float:
        window = self.in_outage()
        return 100 * ratio(sum(1 for r in window if r.outcome.status == 503), len(window))

    def failure_latency_ms(self, q: float) -> float:
        failed = [r.latency_s for r in self.in_outage() if not r.ok]
        return 1000 * percentile(failed, q)

    def recovery_s(self) -> float | None:
        """From the end of the outage to the first 200 that left after it."""
        first = first_after((r.ended for r in self.run.records if r.ok), self.up_at)
        return None if first is None else first - self.up_at

    def after_recovery(self) -> list[Record]:
        return [r for r in self.run.records if r.started >= self.up_at]

    def ok_after_recovery_pct(self) -> float:
        after = self.after_recovery()
        return 100 * ratio(sum(1 for r in after if r.ok), len(after))

    def stable_after_s(self, share: float = 0.9) -> float | None:
        """Seconds from recovery to the start of the first 1-second bin from which on
        every bin has at least `share` of its answers 200 (None: not within the run)."""
        events = [(r.started, "ok" if r.ok else "failed") for r in self.after_recovery()]
        if not events:
            return None
        edges, counts = bin_by_second(events, self.up_at, max(t for t, _ in events) + 1e-9)
        ok, failed = counts.get("ok", [0] * len(edges)), counts.get("failed", [0] * len(edges))
        stable: float | None = None
        for edge, good, bad in zip(edges, ok, failed, strict=True):
            if good + bad and good / (good + bad) < share:
                stable = None
            elif stable is None:
                stable = edge
        return stable

    @property
    def calls_per_request(self) -> float:
        return ratio(self.calls_in_outage, self.requests_in_outage)


async def outage(bench: Bench, scenario: Scenario) -> list[OutageRun]:
    """All contenders side by side at `--rate` each; the sms providers go down after
    `--pre-s` for `--outage-s`, and the load goes on for `--post-s` after."""
    args = bench.args
    total_s = args.pre_s + args.outage_s + args.post_s
    with contextlib.ExitStack() as running:
        senders = [running.enter_context(bench.sender(scenario, c)) for c in scenario.contenders]
        bench.prepare(scenario)
        start = time.perf_counter() + 0.2
        moments: dict[str, float] = {}
        scraped: dict[str, list[float]] = {c.name: [] for c in scenario.contenders}

        def scrape() -> None:
            for contender, (_, gateway) in zip(scenario.contenders, senders, strict=True):
                if gateway is not None:
                    samples = gateway.metrics()
                    scraped[contender.name].append(
                        metric_sum(samples, "gateway_upstream_attempts_total")
                    )

        async def control() -> None:
            await asyncio.sleep(max(0.0, start + args.pre_s - time.perf_counter()))
            await asyncio.to_thread(scrape)
            knobs = {"down": args.outage_mode, "down_for_s": args.outage_s}
            await asyncio.to_thread(bench.sim.control, "sms", **knobs)
            moments["down"] = time.perf_counter()
            moments["up"] = moments["down"] + args.outage_s
            await asyncio.sleep(max(0.0, moments["up"] - time.perf_counter()))
            await asyncio.to_thread(scrape)

        loads = [
            loadgen.open_loop(
                send,
                loadgen.message_ids(f"{scenario.key}.{c.name}"),
                args.rate,
                total_s,
                start=start,
            )
            for c, (send, _) in zip(scenario.contenders, senders, strict=True)
        ]
        print(
            f"  {len(loads)} contenders at {args.rate:g} msg/s each for {total_s:g} s "
            f"(down from {args.pre_s:g} s to {args.pre_s + args.outage_s:g} s) ...",
            flush=True,
        )
        *results, _ = await asyncio.gather(*loads, control())
        await asyncio.sleep(args.settle_s)
        runs = []
        for contender, records, (_, gateway) in zip(
            scenario.contenders, results, senders, strict=True
        ):
            run = bench.finish(scenario, contender, records, gateway, total_s, alone=False)
            if gateway is not None:
                before, after = scraped[contender.name]
                calls = after - before
            else:
                calls = sum(
                    r.outcome.calls for r in records if moments["down"] <= r.started < moments["up"]
                )
            runs.append(OutageRun(run, moments["down"], moments["up"], calls, {}))
        return runs


# -- reporting -----------------------------------------------------------------------------


def run_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        d = run.delivery
        rows.append(
            [
                f"`{run.contender.name}`",
                thousands(run.sent),
                fixed(d.delivered_pct, 2),
                fixed(run.ok_in_deadline_pct, 2),
                thousands(d.lost),
                thousands(d.duplicates),
                fixed(run.latency_ms(50), 1),
                fixed(run.latency_ms(99), 1),
                fixed(run.calls_per_delivered, 3),
                fixed(run.provider_requests_per_delivered, 3),
                thousands(run.hedges),
                thousands(run.sent / run.seconds) if run.seconds else "—",
                run.statuses(),
            ]
        )
    return markdown_table(
        [
            "contender",
            "sent",
            "delivered %",
            "200 in ≤ 2 s %",
            "lost",
            "duplicates",
            "p50 ms",
            "p99 ms",
            "calls / delivered",
            "provider requests / delivered",
            "hedges",
            "msg/s",
            "answers",
        ],
        rows,
        numeric=[False, *([True] * 11), False],
    )


def outage_table(runs: Sequence[OutageRun]) -> str:
    rows = []
    for o in runs:
        recovery = o.recovery_s()
        rows.append(
            [
                f"`{o.run.contender.name}`",
                thousands(o.run.sent),
                thousands(o.requests_in_outage),
                fixed(o.share_503_pct(), 1),
                fixed(o.failure_latency_ms(50), 1),
                fixed(o.failure_latency_ms(99), 1),
                thousands(o.calls_in_outage),
                fixed(o.calls_per_request, 3),
                fixed(ratio(o.run.calls, o.run.sent), 3),
                fixed(recovery, 2) if recovery is not None else "never",
                fixed(o.stable_after_s(), 0) if o.stable_after_s() is not None else "not in run",
                fixed(o.ok_after_recovery_pct(), 1),
                fixed(o.run.delivery.delivered_pct, 2),
                thousands(o.run.delivery.duplicates),
                status_breakdown(r.outcome.status for r in o.in_outage()),
            ]
        )
    return markdown_table(
        [
            "contender",
            "sent",
            "sent in outage",
            "503 % in outage",
            "failure p50 ms",
            "failure p99 ms",
            "calls in outage",
            "calls / request in outage",
            "calls / request, whole run",
            "first 200 after recovery, s",
            "≥ 90 % 200s per second from, s after recovery",
            "200 % after recovery",
            "delivered % (whole run)",
            "duplicates",
            "answers in outage",
        ],
        rows,
        numeric=[False, *([True] * 13), False],
    )


@dataclass
class Target:
    what: str
    measured: str
    met: bool


def find(runs: Sequence[Run], scenario: str, contender: str) -> Run | None:
    return next(
        (r for r in runs if r.scenario.key == scenario and r.contender.name == contender), None
    )


def targets(runs: Sequence[Run], outages: Sequence[OutageRun]) -> list[Target]:
    found: list[Target] = []
    seed = find(runs, "seed", "failover")
    if seed:
        found += [
            Target(
                "seed, failover: >= 99.9 % delivered (200) within the 2 s deadline",
                f"{seed.ok_in_deadline_pct:.2f} % (ledger: {seed.delivery.delivered_pct:.2f} %)",
                seed.ok_in_deadline_pct >= 99.9,
            ),
            Target(
                "seed, failover: 0 duplicates",
                f"{seed.delivery.duplicates}",
                seed.delivery.duplicates == 0,
            ),
            Target(
                "seed, failover: <= 2.1 calls per delivered message",
                f"{seed.calls_per_delivered:.3f}",
                seed.calls_per_delivered <= 2.1,
            ),
        ]
    down = find(runs, "one-down", "failover")
    if down:
        found.append(
            Target(
                "one-down, failover: >= 99.9 % delivered (200) within the 2 s deadline "
                "(scenario 1's target, carried over)",
                f"{down.ok_in_deadline_pct:.2f} % (ledger: {down.delivery.delivered_pct:.2f} %)",
                down.ok_in_deadline_pct >= 99.9,
            )
        )
        found.append(
            Target(
                "one-down, failover: <= 2.2 calls per delivered message",
                f"{down.calls_per_delivered:.3f} ({down.delivery.delivered_pct:.2f} % delivered)",
                down.calls_per_delivered <= 2.2,
            )
        )
    failover = next((o for o in outages if o.run.contender.name == "failover"), None)
    if failover:
        share, p99 = failover.share_503_pct(), failover.failure_latency_ms(99)
        recovery = failover.recovery_s()
        found += [
            Target(
                "outage, failover: fails fast (>= 95 % of answers in the outage are 503, "
                "failure p99 <= 50 ms)",
                f"{share:.1f} % 503, failure p99 {p99:.1f} ms",
                share >= 95 and p99 <= 50,
            ),
            Target(
                "outage, failover: upstream calls <= 1.25 x requests during the outage",
                f"{failover.calls_per_request:.3f} x ({thousands(failover.calls_in_outage)} "
                f"calls / {thousands(failover.requests_in_outage)} requests)",
                failover.calls_per_request <= 1.25,
            ),
            Target(
                f"outage, failover: first success within one open_ms ({OPEN_MS / 1000:g} s) "
                "of recovery",
                "never" if recovery is None else f"{recovery:.2f} s",
                recovery is not None and recovery <= OPEN_MS / 1000,
            ),
        ]
    for key in ("tail", "tail-ok"):
        slow, hedged = find(runs, key, "failover"), find(runs, key, "hedged-otp")
        if slow and hedged:
            gain = ratio(slow.latency_ms(99), hedged.latency_ms(99))
            extra = 100 * (ratio(hedged.calls / hedged.sent, slow.calls / slow.sent) - 1)
            found += [
                Target(
                    f"{key}: hedged-otp p99 >= 5x lower than failover",
                    f"{gain:.2f}x ({hedged.latency_ms(99):.1f} ms vs {slow.latency_ms(99):.1f} ms)",
                    gain >= 5,
                ),
                Target(
                    f"{key}: hedged-otp makes <= 8 % extra upstream calls",
                    f"{extra:+.1f} % ({hedged.calls / hedged.sent:.3f} vs "
                    f"{slow.calls / slow.sent:.3f} calls per message)",
                    extra <= 8,
                ),
            ]
    return found


def targets_table(found: Sequence[Target]) -> str:
    return markdown_table(
        ["target", "measured", "verdict"], [[t.what, t.measured, verdict(t.met)] for t in found]
    )


def slow_answers(runs: Sequence[Run], threshold_s: float = 0.25) -> str:
    """For the tail scenarios: how many answers were slow, and whether a hedge had
    been sent for them (a slow answer with a hedge: the hedge did not rescue it)."""
    rows = []
    for run in runs:
        slow = [r for r in run.records if r.latency_s >= threshold_s]
        hedged = [r for r in slow if r.outcome.hedges]
        rows.append(
            [
                f"{run.scenario.key} / `{run.contender.name}`",
                thousands(len(slow)),
                fixed(100 * ratio(len(slow), run.sent), 2),
                thousands(len(hedged)),
                thousands(len(slow) - len(hedged)),
                fixed(percentile([r.outcome.calls for r in slow], 50), 1) if slow else "—",
            ]
        )
    return markdown_table(
        [
            "scenario / contender",
            f"answers ≥ {threshold_s * 1000:g} ms",
            "% of sent",
            "of which hedged",
            "not hedged",
            "median attempts of the slow",
        ],
        rows,
        numeric=[False, True, True, True, True, True],
    )


def failure_reasons(runs: Sequence[Run]) -> str:
    """Why messages were not answered 200, per run that had any."""
    rows = []
    for run in runs:
        reasons = Counter(
            f"{r.outcome.status} {r.outcome.reason}".strip() for r in run.records if not r.ok
        )
        if reasons:
            listed = "; ".join(f"{why}: {thousands(n)}" for why, n in reasons.most_common(6))
            rows.append([f"{run.scenario.key} / `{run.contender.name}`", listed])
    if not rows:
        return "Every message was answered 200.\n"
    return markdown_table(["scenario / contender", "answers other than 200, by reason"], rows)


def gateway_details(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        if not run.metrics:
            continue
        m = run.metrics
        rows.append(
            [
                f"{run.scenario.key} / `{run.contender.name}`",
                ", ".join(f"{k}: {thousands(v)}" for k, v in sorted(m["results"].items())),
                ", ".join(
                    f"{k}: {thousands(v)}" for k, v in sorted(m["upstream_outcomes"].items())
                ),
                ", ".join(f"{k}: {thousands(v)}" for k, v in sorted(m["hedges"].items())) or "—",
                thousands(m["possible_duplicates"]),
                ", ".join(f"{k}: {thousands(v)}" for k, v in sorted(m["breaker"].items())) or "—",
            ]
        )
    return markdown_table(
        [
            "scenario / policy",
            "results",
            "upstream calls by outcome",
            "hedges",
            "possible duplicates",
            "breaker transitions",
        ],
        rows,
    )


# -- plots ---------------------------------------------------------------------------------


def plot_outage(outages: Sequence[OutageRun], path: Path, subtitle: str, args: Any) -> None:
    plt = pyplot()
    if plt is None or not outages:
        return
    fig, axes = plt.subplots(len(outages), 1, figsize=(11, 2.6 * len(outages)), sharex=True)
    axes = list(axes) if len(outages) > 1 else [axes]
    for ax, o in zip(axes, outages, strict=True):
        origin = o.down_at - args.pre_s
        events = [
            (
                r.started,
                "200" if r.ok else ("503" if r.outcome.status == 503 else "other failure"),
            )
            for r in o.run.records
        ]
        end = o.up_at + args.post_s
        edges, counts = bin_by_second(events, origin, end)
        colours = {"200": "#2ca02c", "503": "#ff7f0e", "other failure": "#d62728"}
        for kind in ("200", "503", "other failure"):
            if kind in counts:
                ax.plot(
                    edges, counts[kind], label=kind, color=colours[kind], drawstyle="steps-post"
                )
        ax.axvspan(args.pre_s, args.pre_s + args.outage_s, color="#999999", alpha=0.2)
        recovery = o.recovery_s()
        label = "no success after recovery" if recovery is None else f"first 200 +{recovery:.2f} s"
        ax.set_title(f"{o.run.contender.name}: {label}", fontsize=10)
        ax.set_ylabel("answers / s")
        ax.legend(loc="center left", fontsize=8)
    axes[-1].set_xlabel("seconds (grey: every sms provider down)")
    fig.suptitle(f"Outage at {args.rate:g} msg/s per contender — {subtitle}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_runs(runs: Sequence[Run], path: Path, subtitle: str) -> None:
    plt = pyplot()
    if plt is None or not runs:
        return
    keys = list(dict.fromkeys(r.scenario.key for r in runs))
    fig, axes = plt.subplots(2, len(keys), figsize=(4.2 * len(keys), 7), squeeze=False)
    for column, key in enumerate(keys):
        mine = [r for r in runs if r.scenario.key == key]
        names = [r.contender.name for r in mine]
        top, bottom = axes[0][column], axes[1][column]
        x = range(len(mine))
        top.bar([i - 0.2 for i in x], [r.latency_ms(50) for r in mine], 0.4, label="p50")
        top.bar([i + 0.2 for i in x], [r.latency_ms(99) for r in mine], 0.4, label="p99")
        top.set_yscale("log")
        top.set_xticks(list(x), names, rotation=20, fontsize=8)
        top.set_title(key, fontsize=10)
        top.legend(fontsize=8)
        bottom.bar(list(x), [r.calls_per_delivered for r in mine], color="#9467bd")
        bottom.set_ylim(0, 1.15 * max((r.calls_per_delivered for r in mine), default=1))
        bottom.set_xticks(list(x), names, rotation=20, fontsize=8)
        for i, r in enumerate(mine):
            bottom.text(
                i, r.calls_per_delivered, f"{r.calls_per_delivered:.2f}", ha="center", va="bottom"
            )
            if r.delivery.lost:
                bottom.text(i, 0.1, f"lost {r.delivery.lost}", ha="center", fontsize=7)
    axes[0][0].set_ylabel("client latency ms (log)")
    axes[1][0].set_ylabel("upstream calls / delivered message")
    fig.suptitle(f"Delivery by scenario — {subtitle}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- the run -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="seed,one-down,outage,tail,tail-ok")
    parser.add_argument("--messages", type=int, default=10_000, help="per run (seed, one-down)")
    parser.add_argument("--tail-messages", type=int, default=4_000, help="per run (tail)")
    parser.add_argument(
        "--tail-rate",
        type=float,
        default=400,
        help="tail: open-loop msg/s, below every contender's saturation so that p99 "
        "compares policies, not CPU queueing",
    )
    parser.add_argument(
        "--bulk-messages",
        type=int,
        default=3_000,
        help="bulk-email's run (its backoff makes it ~6x slower at the same concurrency)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="messages in flight")
    parser.add_argument("--rate", type=float, default=100, help="outage: msg/s per contender")
    parser.add_argument("--pre-s", type=float, default=5, help="outage: healthy seconds before")
    parser.add_argument("--outage-s", type=float, default=30, help="outage: seconds down")
    parser.add_argument("--post-s", type=float, default=12, help="outage: seconds after")
    parser.add_argument("--outage-mode", choices=("500", "refuse"), default="500")
    parser.add_argument("--settle-s", type=float, default=0.7, help="wait before reading ledger")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument(
        "--quick", action="store_true", help="a ~50 s smoke run (reports in .bench-tmp/quick/)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="tables and plots (default docs/bench/)"
    )
    args = parser.parse_args(argv)
    args.out = args.out or stack.output_dir(quick=args.quick)
    if args.quick:
        args.messages, args.tail_messages, args.bulk_messages = 1_000, 800, 500
        args.pre_s, args.outage_s, args.post_s = 2, 6, 6
    return args


async def run_all(args: argparse.Namespace, work: Path) -> tuple[list[Run], list[OutageRun]]:
    chosen = set(args.scenarios.split(","))
    runs: list[Run] = []
    outages: list[OutageRun] = []
    with stack.start_simulator(work, "--seed", str(args.seed)) as sim:
        async with loadgen.session(args.concurrency * 2) as session:
            bench = Bench(sim, work, session, args)
            for scenario in scenarios(args):
                if scenario.key not in chosen:
                    continue
                print(f"\n## {scenario.title}", flush=True)
                if scenario.key == "outage":
                    found = await outage(bench, scenario)
                    outages += found
                    print(outage_table(found), flush=True)
                    print(failure_reasons([o.run for o in found]), flush=True)
                    continue
                mine = []
                for contender in scenario.contenders:
                    run = await bench.measure(scenario, contender)
                    print(
                        f"  {contender.name:11} {run.sent} sent in {run.seconds:.1f} s, "
                        f"{run.delivery.delivered_pct:.2f} % delivered, "
                        f"p99 {run.latency_ms(99):.1f} ms, "
                        f"{run.calls_per_delivered:.3f} calls/delivered",
                        flush=True,
                    )
                    mine.append(run)
                runs += mine
                print(run_table(mine), flush=True)
                print(failure_reasons(mine), flush=True)
                if scenario.key.startswith("tail"):
                    print(slow_answers(mine), flush=True)
    return runs, outages


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack.stop_on_sigterm()
    args.out.mkdir(parents=True, exist_ok=True)
    args.noise = stack.noise_note(stack.machine_busy())
    print(args.noise)
    started = time.monotonic()
    with stack.workdir("delivery") as work:
        runs, outages = asyncio.run(run_all(args, work))
    elapsed = time.monotonic() - started
    found = targets(runs, outages)
    print("\n## Targets\n")
    print(targets_table(found))
    write_outputs(runs, outages, found, args, elapsed)
    print(f"wrote {args.out / 'delivery.md'} and plots ({elapsed:.0f} s)")
    return 0


def write_outputs(
    runs: Sequence[Run],
    outages: Sequence[OutageRun],
    found: Sequence[Target],
    args: argparse.Namespace,
    elapsed: float,
) -> None:
    today = datetime.date.today().isoformat()
    command = "python -m bench.delivery" + (" --quick" if args.quick else "")
    machine = f"{stack.machine()}, {stack.revision()}"
    parts = [
        "# Delivery: the policy engine against the simulator\n",
        f"`{command}` on {today}, {machine}; {args.concurrency} messages in flight, simulator "
        f"seed {args.seed}, a fresh gateway per run; {args.noise}; {elapsed:.0f} s in all.\n",
        "Delivered, lost and duplicates come from the simulator's ledger (ids delivered at "
        "least once / never / deliveries beyond the first); calls are the gateway's "
        "`gateway_upstream_attempts_total` (the naive client counts its own); provider "
        "requests are the ledger's attempts (a refused connection never reaches it). "
        "Latency is client-side, from send to answer.\n",
        "## Targets\n",
        targets_table(found),
    ]
    for scenario in scenarios(args):
        if scenario.key == "outage" and outages:
            parts += [f"## {scenario.title}\n", outage_table(outages)]
            parts.append("![outage](delivery-outage.png)\n")
        mine = [r for r in runs if r.scenario.key == scenario.key]
        if mine:
            parts += [f"## {scenario.title}\n", run_table(mine)]
            if scenario.key.startswith("tail"):
                parts.append(slow_answers(mine))
    every = [*runs, *(o.run for o in outages)]
    parts += ["## Why messages were not answered 200\n", failure_reasons(every)]
    parts += ["## The gateway's own counters\n", gateway_details(every)]
    logged = [
        f"- {r.scenario.key} / `{r.contender.name}`: " + "; ".join(f"`{e}`" for e in errors)
        for r in every
        if (errors := r.metrics.get("errors"))
    ]
    parts += ["## Errors the gateways logged\n", "\n".join(logged) + "\n" if logged else "None.\n"]
    parts.append("![delivery](delivery.png)\n")
    (args.out / "delivery.md").write_text("\n".join(parts))
    subtitle = f"{command}, {today}, {os.cpu_count()} cores"
    plot_runs(runs, args.out / "delivery.png", subtitle)
    plot_outage(outages, args.out / "delivery-outage.png", subtitle, args)
    summary = {
        "targets": [t.__dict__ for t in found],
        "runs": [
            {
                "scenario": r.scenario.key,
                "contender": r.contender.name,
                "sent": r.sent,
                "delivered": r.delivery.delivered,
                "duplicates": r.delivery.duplicates,
                "p50_ms": r.latency_ms(50),
                "p99_ms": r.latency_ms(99),
                "calls_per_delivered": r.calls_per_delivered,
            }
            for r in [*runs, *(o.run for o in outages)]
        ],
    }
    (args.out / "delivery.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
