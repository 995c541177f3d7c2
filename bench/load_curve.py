"""Where does the gateway saturate on 2 cores? Latency against offered load.

An open-loop, constant-arrival-rate generator (aiohttp on uvloop; wrk2 is not in
Debian and Debian's wrk has no `-R`) offers steps of increasing req/s, each for a
bounded time, and measures every request's latency from the moment it was due, so
queueing shows once the server cannot keep up. Curves, in one run:

  direct          the simulated provider itself: the generator's own ceiling
  transparent     the gateway's /api/sms/provider1, 1 worker
  virtual         the gateway's /api/sms (failover), 1 worker
  transparent-2w  /api/sms/provider1 with 2 workers

The simulator answers every valid request 200 (`--fail-rate 0`), so one request is
one provider call. A curve stops one step after it saturates (answers fall below
90 % of the offered rate, or requests are dropped). Generator, gateway and
simulator share the machine's 2 cores, as a sidecar shares its pod.

    .venv/bin/python -m bench.load_curve            # about 3 minutes
    .venv/bin/python -m bench.load_curve --quick    # about 30 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import loadgen, stack
from bench.loadgen import GatewaySender, Record
from bench.plots import pyplot
from bench.stats import fixed, markdown_table, percentile, ratio, status_breakdown, thousands

DEFAULT_RATES = "250,500,1000,1500,2000,2500,3000,4000,5000"
MAX_IN_FLIGHT = 1000


@dataclass(frozen=True)
class Step:
    offered: float
    seconds: float
    records: list[Record]

    @property
    def answered_per_s(self) -> float:
        """Successful answers per second of the step (late answers included)."""
        return ratio(sum(1 for r in self.records if r.ok), self.seconds)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records if not r.ok)

    @property
    def dropped(self) -> int:
        return sum(1 for r in self.records if r.outcome.status == "dropped")

    def latency_ms(self, q: float) -> float:
        answered = [r.latency_s for r in self.records if r.outcome.status != "dropped"]
        return 1000 * percentile(answered, q)

    def saturated(self) -> bool:
        return self.dropped > 0 or self.answered_per_s < 0.9 * self.offered


@dataclass
class Curve:
    name: str
    what: str
    steps: list[Step] = field(default_factory=list)

    def sustained(self, p99_ms: float = 50) -> float | None:
        """The highest offered rate answered at >= 98 % with p99 <= `p99_ms`."""
        good = [
            s.offered
            for s in self.steps
            if s.failed == 0 and s.answered_per_s >= 0.98 * s.offered and s.latency_ms(99) <= p99_ms
        ]
        return max(good) if good else None


async def measure(
    curve: Curve, send: loadgen.Sender, rates: Sequence[float], seconds: float, pause_s: float
) -> None:
    ids = loadgen.message_ids(curve.name)
    await loadgen.open_loop(send, ids, rates[0], 1.0)  # warm-up: pools, caches, JIT-free paths
    past = 0
    for rate in rates:
        await asyncio.sleep(pause_s)
        records = await loadgen.open_loop(send, ids, rate, seconds, max_in_flight=MAX_IN_FLIGHT)
        step = Step(rate, seconds, records)
        curve.steps.append(step)
        print(
            f"  {curve.name:15} offered {rate:6.0f}/s  answered {step.answered_per_s:7.0f}/s  "
            f"p50 {step.latency_ms(50):8.2f} ms  p99 {step.latency_ms(99):8.2f} ms  "
            f"failed {step.failed}",
            flush=True,
        )
        past += step.saturated()
        if past >= 2:
            break


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered req/s, comma-separated")
    parser.add_argument("--step-s", type=float, default=5, help="seconds per step")
    parser.add_argument("--curves", default="direct,transparent,virtual,transparent-2w")
    parser.add_argument(
        "--quick", action="store_true", help="a ~30 s smoke run (reports in .bench-tmp/quick/)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="tables and plots (default docs/bench/)"
    )
    args = parser.parse_args(argv)
    args.out = args.out or stack.output_dir(quick=args.quick)
    if args.quick:
        args.rates, args.step_s, args.curves = (
            "250,1000,2000,4000",
            1.5,
            "direct,transparent,virtual",
        )
    args.rate_list = [float(r) for r in args.rates.split(",")]
    return args


async def run_all(args: argparse.Namespace, work: Path) -> list[Curve]:
    chosen = args.curves.split(",")
    curves: list[Curve] = []
    with contextlib.ExitStack() as running:
        sim = running.enter_context(stack.start_simulator(work, "--fail-rate", "0", "--seed", "1"))
        gateways: dict[int, stack.Gateway] = {}

        def gateway(workers: int) -> stack.Gateway:
            if workers not in gateways:
                config = stack.gateway_config(sim)
                gateways[workers] = running.enter_context(
                    stack.start_gateway(work, config, name=f"gateway-{workers}w", workers=workers)
                )
            return gateways[workers]

        targets: dict[str, tuple[str, Callable[[], str]]] = {
            "direct": ("simulated provider, no proxy", lambda: sim.url("sms1")),
            "transparent": (
                "gateway /api/sms/provider1, 1 worker",
                lambda: gateway(1).url("/api/sms/provider1"),
            ),
            "virtual": (
                "gateway /api/sms (failover), 1 worker",
                lambda: gateway(1).url("/api/sms"),
            ),
            "transparent-2w": (
                "gateway /api/sms/provider1, 2 workers",
                lambda: gateway(2).url("/api/sms/provider1"),
            ),
        }
        async with loadgen.session(MAX_IN_FLIGHT) as session:
            for name in chosen:
                what, url = targets[name]
                curve = Curve(name, what)
                send = GatewaySender(session, url(), timeout_s=10)
                await measure(curve, send, args.rate_list, args.step_s, pause_s=1.0)
                curves.append(curve)
    return curves


def table(curves: Sequence[Curve]) -> str:
    rows = []
    for curve in curves:
        for step in curve.steps:
            rows.append(
                [
                    f"`{curve.name}`",
                    thousands(step.offered),
                    thousands(step.answered_per_s),
                    fixed(step.latency_ms(50), 2),
                    fixed(step.latency_ms(90), 2),
                    fixed(step.latency_ms(99), 2),
                    status_breakdown(r.outcome.status for r in step.records),
                ]
            )
    return markdown_table(
        ["curve", "offered req/s", "answered 200/s", "p50 ms", "p90 ms", "p99 ms", "answers"],
        rows,
        numeric=[False, True, True, True, True, True, False],
    )


def summary(curves: Sequence[Curve]) -> str:
    rows = []
    for curve in curves:
        sustained = curve.sustained()
        peak = max((s.answered_per_s for s in curve.steps), default=0.0)
        rows.append(
            [
                f"`{curve.name}`",
                curve.what,
                thousands(sustained) if sustained else "below the first step",
                thousands(peak),
            ]
        )
    return markdown_table(
        ["curve", "what", "sustained req/s (p99 <= 50 ms, >= 98 % answered)", "peak 200/s"],
        rows,
        numeric=[False, False, True, True],
    )


def plot(curves: Sequence[Curve], path: Path, subtitle: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for index, curve in enumerate(curves):
        colour = f"C{index}"
        offered = [s.offered for s in curve.steps]
        left.plot(offered, [s.latency_ms(50) for s in curve.steps], "o-", color=colour,
                  label=f"{curve.name} p50")  # fmt: skip
        left.plot(offered, [s.latency_ms(99) for s in curve.steps], "s--", color=colour,
                  label=f"{curve.name} p99")  # fmt: skip
        right.plot(offered, [s.answered_per_s for s in curve.steps], "o-", color=colour,
                   label=curve.name)  # fmt: skip
    left.set_yscale("log")
    left.set_xlabel("offered load, req/s (open loop)")
    left.set_ylabel("latency ms, from the scheduled send (log)")
    left.legend(fontsize=8)
    top = max((s.offered for c in curves for s in c.steps), default=1)
    right.plot([0, top], [0, top], ":", color="#999999", label="answered = offered")
    right.set_xlabel("offered load, req/s")
    right.set_ylabel("answered 200/s")
    right.legend(fontsize=8)
    fig.suptitle(f"Latency against offered load — {subtitle}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack.stop_on_sigterm()
    args.out.mkdir(parents=True, exist_ok=True)
    noise = stack.noise_note(stack.machine_busy())
    print(noise)
    started = time.monotonic()
    with stack.workdir("load-curve") as work:
        curves = asyncio.run(run_all(args, work))
    elapsed = time.monotonic() - started
    today = datetime.date.today().isoformat()
    command = "python -m bench.load_curve" + (" --quick" if args.quick else "")
    machine = f"{stack.machine()}, {stack.revision()}"
    print()
    print(summary(curves))
    parts = [
        "# Load curve: latency against offered load\n",
        f"`{command}` on {today}, {machine}; open-loop constant-rate steps of "
        f"{args.step_s:g} s (aiohttp + uvloop generator, at most {MAX_IN_FLIGHT} in flight); "
        f"simulator `--fail-rate 0`; gateways log to a file at level info; {noise}; "
        f"{elapsed:.0f} s in all.\n",
        summary(curves),
        table(curves),
        "![load curve](load-curve.png)\n",
    ]
    (args.out / "load-curve.md").write_text("\n".join(parts))
    plot(curves, args.out / "load-curve.png", f"{command}, {today}, {os.cpu_count()} cores")
    print(f"wrote {args.out / 'load-curve.md'} and load-curve.png ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
