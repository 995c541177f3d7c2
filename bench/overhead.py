"""What does the gateway cost on the pass-through path, next to the alternatives?

The same JSON POST load (wrk, fixed connections, bounded duration) against:

  direct        one simulated provider, `--fail-rate 0` (every answer a 200)
  bare-proxy    bench/bare_proxy.py: raw ASGI + aiohttp, the ceiling for a Python proxy
  gateway       the transparent route /api/sms/provider1, 1 worker
  gateway-2w    the same, `--workers 2`
  nginx         Debian's nginx, a plain reverse proxy with a keep-alive upstream pool
  gateway-httpx the gateway with `upstream.client: httpx`

Each contender gets a high-load pass (`--connections`, default 50) for req/s and a
low-load pass (1 connection) for the latency a hop adds; rounds are interleaved
and the median round is kept, which evens out a noisy shared machine. The issue's
targets: gateway req/s >= 90% of the bare proxy's, and <= 0.5 ms added p50 at low
load. When one is missed (or with `--profile always`) py-spy samples the gateway
under load and the run says where its time goes.

    .venv/bin/python -m bench.overhead            # about 3 minutes
    .venv/bin/python -m bench.overhead --quick    # about 30 seconds

Gateways log one JSON line per request at level info, to a file in the run's
temporary directory (a file never blocks the event loop the way a full pipe can).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import stack
from bench.plots import pyplot
from bench.stats import WrkResult, fixed, markdown_table, parse_wrk, ratio, thousands, verdict

TARGET_THROUGHPUT_RATIO = 0.90
TARGET_ADDED_P50_MS = 0.5

# Every request carries a new X-Notification-Id (the gateway forwards it, the
# simulator's ledger keys on it). wrk.format() replaces wrk.headers when given a
# table, so Content-Type is repeated there.
WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, {{
    ["Content-Type"] = "application/json",
    ["X-Notification-Id"] = "{prefix}-" .. tid .. "-" .. counter,
  }})
end
"""


@dataclass
class Contender:
    name: str
    what: str
    url: str
    high: list[WrkResult] = field(default_factory=list)
    low: list[WrkResult] = field(default_factory=list)

    def median_high(self) -> WrkResult:
        return _median(self.high)

    def median_low(self) -> WrkResult:
        return _median(self.low)


def rps(result: WrkResult) -> float:
    return result.per_second


def _median(results: list[WrkResult]) -> WrkResult:
    """The round with the median request count (a real run, not a blend of runs)."""
    ordered = sorted(results, key=lambda r: r.requests)
    return ordered[(len(ordered) - 1) // 2]


def run_wrk(url: str, connections: int, seconds: float, script: Path) -> WrkResult:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise stack.StackError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def write_script(work: Path, prefix: str) -> Path:
    script = work / f"{prefix}.lua"
    script.write_text(WRK_SCRIPT.format(body=stack.SMS_BODY.decode(), prefix=prefix))
    return script


# -- profiling -----------------------------------------------------------------------------


@dataclass
class Profile:
    samples: int
    self_top: list[tuple[str, float]]
    inclusive_top: list[tuple[str, float]]
    by_package: list[tuple[str, float]]
    by_feature: list[tuple[str, float]]
    svg: Path | None
    per_second: float
    """Requests served per second while the stacks were sampled."""
    seconds: float

    def us_per_request(self, share_pct: float) -> float:
        """CPU microseconds per request of a share of the samples (idle excluded)."""
        busy_s = self.samples / SAMPLE_RATE * share_pct / 100
        return 1e6 * busy_s / (self.per_second * self.seconds)


PACKAGES = (
    # py-spy names a few of our modules without their directory.
    ("(masking.py", "gateway/telemetry/masking.py"),
    ("(logging.py", "gateway/telemetry/logging.py"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn + httptools"),
    ("httptools/", "uvicorn + httptools"),
    ("aiohttp/", "aiohttp client"),
    ("httpx/", "httpx client"),
    ("httpcore/", "httpx client"),
    ("anyio/", "anyio"),
    ("structlog/", "structlog logging"),
    ("orjson", "structlog logging"),
    ("prometheus_client/", "prometheus_client"),
    ("asyncio/", "asyncio"),
    ("yarl/", "aiohttp client"),
    ("multidict/", "aiohttp client"),
)


# What each part of a request costs: a sample goes to the innermost frame that names a
# feature (asyncio and stdlib frames are skipped, so a task switch inside the aiohttp
# client counts as the client's); first match of a frame wins.
FEATURES = (
    ("(masking.py", "request log line (structlog, masking)"),
    ("(logging.py", "request log line (structlog, masking)"),
    ("structlog/", "request log line (structlog, masking)"),
    ("prometheus_client/", "Prometheus metrics"),
    ("uuid.py", "request ids (uuid4)"),
    ("aiohttp/", "upstream call (aiohttp client)"),
    ("yarl/", "upstream call (aiohttp client)"),
    ("multidict/", "upstream call (aiohttp client)"),
    ("gateway/upstream/", "upstream call (aiohttp client)"),
    ("httpx/", "upstream call (httpx client)"),
    ("httpcore/", "upstream call (httpx client)"),
    ("gateway/delivery/", "policy engine (plan, driver, breaker, budget)"),
    ("gateway/resilience/", "policy engine (plan, driver, breaker, budget)"),
    ("gateway/storage/", "store and outbox poller (SQLite thread)"),
    ("concurrent/futures/", "store and outbox poller (SQLite thread)"),
    ("gateway/messages.py", "body checks and headers (messages, http)"),
    ("gateway/http.py", "body checks and headers (messages, http)"),
    ("gateway/", "other gateway code (routes, proxy, idempotency)"),
    ("starlette/", "routing and middleware (Starlette)"),
    ("uvicorn/", "HTTP server (uvicorn, httptools)"),
    ("bare_proxy.py", "the bare proxy's own code"),
)


def feature_of(frames: Sequence[str]) -> str:
    """The feature a sample's stack (root first) is spent in."""
    for frame in reversed(frames):
        for needle, name in FEATURES:
            if needle in frame:
                return name
    return "event loop, asyncio (no library frame)"


def package_of(frame: str) -> str:
    """Who a frame belongs to; the gateway's own frames by module (`gateway/http.py`)."""
    if "(gateway/" in frame:
        return "gateway/" + frame.rsplit("(gateway/", 1)[1].split(":")[0].rstrip(")")
    for needle, name in PACKAGES:
        if needle in frame:
            return name
    return "other (stdlib, uvloop, ...)"


Shares = list[tuple[str, float]]


def summarise_collapsed(text: str, top: int = 12) -> tuple[int, Shares, Shares, Shares, Shares]:
    """From py-spy's collapsed stacks (`f1;f2;f3 count` per line): total samples, the top
    functions by self time and by inclusive time, self time by package, and time by
    feature (`feature_of`), each as % of samples."""
    samples: list[tuple[list[str], int]] = []
    for line in text.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        frames = [f for f in stack_text.split(";") if not f.startswith(("process ", "thread "))]
        if frames:
            samples.append((frames, int(count_text)))
    total = sum(count for _, count in samples)
    inclusive: Counter[str] = Counter()
    for frames, count in samples:
        for frame in set(frames):
            inclusive[frame] += count
    # The entry point and the event loop sit under every sample of the main thread
    # (the most frequent count) and say nothing; a sample with nothing below them is
    # time in uvloop's C code.
    root_count = max(inclusive.values(), default=0)
    roots = {frame for frame, count in inclusive.items() if count == root_count}
    for frame in roots:
        del inclusive[frame]
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    features: Counter[str] = Counter()
    for frames, count in samples:
        self_time[frames[-1]] += count
        packages[package_of(frames[-1])] += count
        features[feature_of([f for f in frames if f not in roots])] += count

    def share(counter: Counter[str], n: int) -> Shares:
        return [(name, 100 * c / total) for name, c in counter.most_common(n)]

    return (
        total,
        share(self_time, top),
        share(inclusive, top * 2),
        share(packages, 25),
        share(features, len(FEATURES) + 1),
    )


SAMPLE_RATE = 200  # py-spy samples per second


def record_profile(
    pid: int, url: str, work: Path, seconds: float, *, name: str, svg: Path | None = None
) -> Profile | None:
    """Sample process `pid` with py-spy while wrk loads `url` at 50 connections: collapsed
    stacks summarised into shares, with the req/s served meanwhile (so shares become
    CPU microseconds per request); with `svg`, a flame graph from a second recording."""
    spy = stack.py_spy()
    if spy is None:
        print("py-spy is not installed (make bench-install): no profile")
        return None
    script = write_script(work, f"profile-{name}")
    failures: dict[str, str] = {}

    def record(fmt: str, output: Path) -> None:
        command = [spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}"]
        command += ["--rate", str(SAMPLE_RATE), "--function", "--format", fmt]
        done = subprocess.run([*command, "--output", str(output)], capture_output=True, text=True)
        failures[fmt] = done.stderr[-500:] if done.returncode else ""

    collapsed = work / f"profile-{name}.txt"
    served = None
    outputs = [("raw", collapsed)] + ([("flamegraph", svg)] if svg is not None else [])
    for fmt, output in outputs:
        recorder = threading.Thread(target=record, args=(fmt, output))
        recorder.start()
        time.sleep(0.3)
        load = run_wrk(url, 50, seconds + 1, script)
        served = served or load
        recorder.join()
        if failures[fmt]:
            print(f"py-spy record failed: {failures[fmt]}")
            return None
    if os.environ.get("BENCH_KEEP_PROFILE"):
        shutil.copy(collapsed, f"{os.environ['BENCH_KEEP_PROFILE']}.{name}")
    total, self_top, inclusive_top, by_package, by_feature = summarise_collapsed(
        collapsed.read_text()
    )
    per_second = served.per_second if served else float("nan")
    return Profile(total, self_top, inclusive_top, by_package, by_feature, svg, per_second, seconds)


# -- the run -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5, help="seconds of high load per round")
    parser.add_argument(
        "--low-duration", type=float, default=3, help="seconds of 1-connection load per round"
    )
    parser.add_argument("--connections", type=int, default=50, help="high-load connections")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument(
        "--profile", choices=("auto", "always", "never"), default="auto", help="py-spy the gateway"
    )
    parser.add_argument("--profile-seconds", type=float, default=8)
    parser.add_argument(
        "--quick", action="store_true", help="a ~30 s smoke run (reports in .bench-tmp/quick/)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="tables and plots (default docs/bench/)"
    )
    args = parser.parse_args(argv)
    args.out = args.out or stack.output_dir(quick=args.quick)
    if args.quick:
        args.duration, args.low_duration, args.rounds, args.profile_seconds = 2, 1, 1, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack.stop_on_sigterm()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (or make bench-tools)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    args.noise = stack.noise_note(stack.machine_busy())
    print(args.noise)
    started = time.monotonic()
    with stack.workdir("overhead") as work, contextlib.ExitStack() as running:
        sim = running.enter_context(stack.start_simulator(work, "--fail-rate", "0", "--seed", "1"))
        direct = sim.base_url("sms1")
        path = "/api/sms/provider1"
        bare = running.enter_context(stack.start_bare_proxy(work, direct))
        gw1 = running.enter_context(stack.start_gateway(work, stack.gateway_config(sim)))
        gw2 = running.enter_context(
            stack.start_gateway(work, stack.gateway_config(sim), name="gateway-2w", workers=2)
        )
        gwx = running.enter_context(
            stack.start_gateway(
                work, stack.gateway_config(sim, client="httpx"), name="gateway-httpx"
            )
        )
        contenders = [
            Contender("direct", "simulated provider, no proxy", direct + path),
            Contender("bare-proxy", "raw ASGI + aiohttp, 1 worker", bare.url(path)),
            Contender("gateway", "transparent route, 1 worker", gw1.url(path)),
            Contender("gateway-2w", "transparent route, 2 workers", gw2.url(path)),
        ]
        if stack.nginx_binary():
            nginx = running.enter_context(stack.start_nginx(work, direct))
            contenders.append(Contender("nginx", "nginx 1 worker, keepalive", nginx.url(path)))
        else:
            print("nginx is not installed (apt-get install -y nginx): skipped")
        contenders.append(
            Contender("gateway-httpx", "transparent route, httpx client", gwx.url(path))
        )

        print(f"warming up {len(contenders)} contenders ...", flush=True)
        for contender in contenders:
            run_wrk(contender.url, 10, 1, write_script(work, f"warm-{contender.name}"))
        for round_no in range(1, args.rounds + 1):
            for contender in contenders:
                tag = f"{contender.name}-r{round_no}"
                contender.high.append(
                    run_wrk(contender.url, args.connections, args.duration, write_script(work, tag))
                )
                contender.low.append(
                    run_wrk(contender.url, 1, args.low_duration, write_script(work, tag + "-low"))
                )
                high = contender.high[-1]
                print(
                    f"  round {round_no} {contender.name:14} {high.per_second:9.0f} req/s"
                    f"  p50 {high.p50_ms:6.2f} ms  p99 {high.p99_ms:6.2f} ms"
                    f"  | 1 conn p50 {contender.low[-1].p50_ms:.3f} ms",
                    flush=True,
                )
        report = Report(contenders, args)
        print()
        print(report.table())
        print(report.summary())
        profile = baseline = None
        if args.profile == "always" or (args.profile == "auto" and not report.targets_met()):
            print(f"profiling the 1-worker gateway for {args.profile_seconds:g} s with py-spy ...")
            profile = record_profile(
                gw1.serving_pids()[0],
                gw1.url(path),
                work,
                args.profile_seconds,
                name="gateway",
                svg=args.out / "gateway-profile.svg",
            )
            baseline = record_profile(
                bare.process.pid, bare.url(path), work, args.profile_seconds, name="bare"
            )
            if profile is not None:
                print(render_profile(profile, baseline))
        note = gateway_log_note(gw1)
    elapsed = time.monotonic() - started
    write_outputs(report, profile, baseline, args, elapsed, note)
    print(f"\nwrote {args.out / 'overhead.md'} and overhead.png ({elapsed:.0f} s)")
    return 0


def gateway_log_note(gateway: stack.Gateway) -> str:
    size = gateway.process.log.stat().st_size if gateway.process.log.exists() else 0
    return (
        f"The gateways logged one JSON line per request (level info) to a file; the 1-worker "
        f"gateway wrote {size / 1e6:.0f} MB of log in this run."
    )


@dataclass
class Report:
    contenders: list[Contender]
    args: argparse.Namespace

    def by_name(self, name: str) -> Contender | None:
        return next((c for c in self.contenders if c.name == name), None)

    def throughput_ratio(self) -> float:
        gateway, bare = self.by_name("gateway"), self.by_name("bare-proxy")
        if gateway is None or bare is None:
            return float("nan")
        return ratio(gateway.median_high().per_second, bare.median_high().per_second)

    def added_p50(self, name: str) -> float:
        contender, direct = self.by_name(name), self.by_name("direct")
        if contender is None or direct is None:
            return float("nan")
        return contender.median_low().p50_ms - direct.median_low().p50_ms

    def targets_met(self) -> bool:
        return (
            self.throughput_ratio() >= TARGET_THROUGHPUT_RATIO
            and self.added_p50("gateway") <= TARGET_ADDED_P50_MS
        )

    def table(self) -> str:
        bare = self.by_name("bare-proxy")
        bare_rps = bare.median_high().per_second if bare else float("nan")
        rows = []
        for c in self.contenders:
            high, low = c.median_high(), c.median_low()
            rows.append(
                [
                    f"`{c.name}`",
                    c.what,
                    thousands(high.per_second),
                    "–".join(
                        thousands(r.per_second)
                        for r in (min(c.high, key=rps), max(c.high, key=rps))
                    ),
                    fixed(ratio(high.per_second, bare_rps)),
                    fixed(high.p50_ms),
                    fixed(high.p99_ms),
                    thousands(high.non_2xx + high.socket_errors),
                    fixed(low.p50_ms, 3),
                    fixed(low.p99_ms, 3),
                    "—" if c.name == "direct" else f"{self.added_p50(c.name):+.3f}",
                ]
            )
        return markdown_table(
            [
                "contender",
                "what",
                "req/s",
                "rounds' range",
                "x bare",
                "p50 ms",
                "p99 ms",
                "errors",
                "1-conn p50 ms",
                "1-conn p99 ms",
                "added p50 ms",
            ],
            rows,
            numeric=[False, False, *([True] * 9)],
        )

    def summary(self) -> str:
        throughput = self.throughput_ratio()
        added = self.added_p50("gateway")
        lines = [
            f"gateway / bare-proxy req/s: {throughput:.2f} "
            f"(target >= {TARGET_THROUGHPUT_RATIO:.2f}): {verdict(throughput >= 0.9)}",
            f"gateway added p50 at 1 connection: {added:+.3f} ms "
            f"(target <= {TARGET_ADDED_P50_MS} ms): {verdict(added <= TARGET_ADDED_P50_MS)}",
        ]
        for a, b in (("gateway-2w", "gateway"), ("nginx", "gateway"), ("gateway", "gateway-httpx")):
            first, second = self.by_name(a), self.by_name(b)
            if first and second:
                value = ratio(first.median_high().per_second, second.median_high().per_second)
                lines.append(f"{a} / {b} req/s: {value:.2f}")
        return "\n".join(lines) + "\n"


def compare_features(profile: Profile, baseline: Profile | None) -> str:
    """The gateway's CPU per request by feature, beside the bare proxy's."""
    theirs = dict(baseline.by_feature) if baseline else {}
    rows = []
    for name, pct in profile.by_feature:
        other = theirs.pop(name, None)
        rows.append(
            [
                name,
                fixed(pct, 1),
                fixed(profile.us_per_request(pct), 0),
                fixed(baseline.us_per_request(other), 0) if baseline and other else "—",
            ]
        )
    for name, pct in theirs.items():
        rows.append([name, "—", "—", fixed(baseline.us_per_request(pct), 0) if baseline else "—"])
    total = profile.us_per_request(100)
    rows.append(
        [
            "**all (CPU per request)**",
            "100",
            f"**{total:.0f}**",
            f"**{baseline.us_per_request(100):.0f}**" if baseline else "—",
        ]
    )
    return markdown_table(
        ["feature", "% of gateway samples", "gateway µs/request", "bare proxy µs/request"],
        rows,
        numeric=[False, True, True, True],
    )


def render_profile(profile: Profile, baseline: Profile | None = None) -> str:
    served = f"{profile.per_second:,.0f} req/s"
    if baseline is not None:
        served += f"; the bare proxy, recorded the same way, served {baseline.per_second:,.0f}"
    lines = [
        f"py-spy at {SAMPLE_RATE} Hz for {profile.seconds:g} s, {profile.samples} busy samples "
        f"of the 1-worker gateway under 50-connection load ({served}). Idle time is excluded; "
        "µs/request = busy samples of a feature / sample rate / requests served.",
        "",
        "Where a request's CPU goes, by feature (each sample goes to the innermost frame "
        "that names one):",
        "",
        compare_features(profile, baseline),
        "Busy time by package, the gateway by module (self time):",
        "",
        markdown_table(
            ["package", "% of samples"],
            [[name, fixed(pct, 1)] for name, pct in profile.by_package],
            numeric=[False, True],
        ),
        "Top functions by self time:",
        "",
        markdown_table(
            ["function (file:line)", "% self"],
            [[f"`{name}`", fixed(pct, 1)] for name, pct in profile.self_top],
            numeric=[False, True],
        ),
        "Top functions by inclusive time (the function and what it calls):",
        "",
        markdown_table(
            ["function (file:line)", "% inclusive"],
            [[f"`{name}`", fixed(pct, 1)] for name, pct in profile.inclusive_top],
            numeric=[False, True],
        ),
    ]
    return "\n".join(lines)


def write_outputs(
    report: Report,
    profile: Profile | None,
    baseline: Profile | None,
    args: argparse.Namespace,
    elapsed: float,
    note: str,
) -> None:
    today = datetime.date.today().isoformat()
    command = "python -m bench.overhead" + (" --quick" if args.quick else "")
    parts = [
        "# Overhead: the gateway's pass-through path\n",
        f"`{command}` on {today}, {stack.machine()}, {stack.revision()}; {args.rounds} "
        f"interleaved rounds of {args.duration:g} s at {args.connections} connections and "
        f"{args.low_duration:g} s at 1 connection, median round shown; wrk 1 thread; "
        f"simulator `--fail-rate 0`; {args.noise}; {elapsed:.0f} s in all.\n",
        report.table(),
        "```\n" + report.summary() + "```\n",
        note + "\n",
    ]
    if profile is not None:
        parts.append("## Profile\n")
        parts.append(render_profile(profile, baseline))
        parts.append("Flame graph: [gateway-profile.svg](gateway-profile.svg).\n")
    raw = {
        c.name: {
            "high": [_as_dict(r) for r in c.high],
            "low": [_as_dict(r) for r in c.low],
        }
        for c in report.contenders
    }
    parts.append("<details><summary>every round (JSON)</summary>\n\n```json\n")
    parts.append(json.dumps(raw, indent=1) + "\n```\n</details>\n")
    (args.out / "overhead.md").write_text("\n".join(parts))
    plot(report, args.out / "overhead.png", f"{command}, {today}, {os.cpu_count()} cores")


def _as_dict(result: WrkResult) -> dict[str, float]:
    return {name: getattr(result, name) for name in WrkResult.__slots__}


def plot(report: Report, path: Path, subtitle: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    names = [c.name for c in report.contenders]
    highs = [c.median_high() for c in report.contenders]
    lows = [c.median_low() for c in report.contenders]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.6))
    colours = ["#888888" if n in ("direct", "bare-proxy", "nginx") else "#1f77b4" for n in names]
    left.barh(names, [h.per_second for h in highs], color=colours)
    left.invert_yaxis()
    left.set_xlabel(f"requests/s at {report.args.connections} connections (higher is better)")
    left.xaxis.set_major_formatter(lambda value, _pos: f"{value / 1000:g}k")
    for y, h in enumerate(highs):
        left.text(h.per_second, y, f" {h.per_second:,.0f}", va="center", fontsize=8)
    spread = [(h.p50_ms, h.p99_ms) for h in highs]
    y = range(len(names))
    middle.barh([i - 0.2 for i in y], [s[0] for s in spread], height=0.4, label="p50")
    middle.barh([i + 0.2 for i in y], [s[1] for s in spread], height=0.4, label="p99")
    middle.set_yticks(list(y), names)
    middle.invert_yaxis()
    middle.set_xscale("log")
    middle.set_xlabel(f"latency ms at {report.args.connections} connections (log)")
    middle.legend()
    right.barh([i - 0.2 for i in y], [lo.p50_ms for lo in lows], height=0.4, label="p50")
    right.barh([i + 0.2 for i in y], [lo.p99_ms for lo in lows], height=0.4, label="p99")
    right.set_yticks(list(y), names)
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("latency ms at 1 connection (log, lower is better)")
    right.legend()
    fig.suptitle(f"Pass-through overhead — {subtitle}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
