"""How fast is gateway-sim on its own? It must never be a gateway benchmark's bottleneck.

Starts the simulator with `--fail-rate 0`, loads one provider port for a bounded
time and prints requests per second and latency percentiles. Uses `wrk` when
installed (Debian: `apt-get install -y wrk`), otherwise a small aiohttp load
generator (slower than wrk, so it measures less than the simulator can do).

    .venv/bin/python bench/simulator_throughput.py --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BODIES = {
    "sms": {"phone": "01712345678", "text": "benchmark"},
    "email": {"subject": "bench", "body": "benchmark", "recipients": ["a@example.com"]},
}
# wrk runs this per request: POST JSON, optionally with a fresh Idempotency-Key so the
# ledger grows by one key per send, as it does behind a real gateway.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
local unique = {unique}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
request = function()
  if not unique then return wrk.format() end
  counter = counter + 1
  return wrk.format(nil, nil, {{["Idempotency-Key"] = tid .. "-" .. counter}})
end
"""


@dataclass(frozen=True)
class Result:
    tool: str
    connections: int
    seconds: float
    requests: int
    non_2xx: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def start_simulator(kind: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = workdir / "ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--fail-rate",
            "0",
            "--sms-ports",
            "0,0,0",
            "--email-ports",
            "0,0,0",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("gateway-sim did not start")
        time.sleep(0.02)
    port = json.loads(ready.read_text())["ports"][f"{kind}1"]
    return process, f"http://127.0.0.1:{port}/api/{kind}/provider1"


def read_ledger(url: str) -> dict[str, object]:
    """The loaded provider's own count, to check the load really reached it."""
    ledger_url = url.split("/api/")[0] + "/__ledger?keys=none"
    with urllib.request.urlopen(ledger_url, timeout=10) as response:
        ledger: dict[str, object] = json.loads(response.read())
        return ledger


def _find(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"unexpected wrk output, no {pattern!r} in:\n{text}")
    return match


def _wrk_ms(text: str) -> float:
    number, unit = _find(r"^([\d.]+)(us|ms|s)$", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, kind: str, args: argparse.Namespace, workdir: Path) -> Result:
    script = workdir / "post.lua"
    body = json.dumps(BODIES[kind], separators=(",", ":"))
    script.write_text(WRK_SCRIPT.format(body=body, unique="true" if args.unique_keys else "false"))
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(_find(r"(\d+) requests in", output).group(1))
    seconds = float(_find(r"requests in ([\d.]+)s", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Result(
        tool=f"wrk -t{args.threads}",
        connections=args.connections,
        seconds=seconds,
        requests=requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(map(int, errors.groups())) if errors else 0,
        p50_ms=_wrk_ms(_find(r"^\s*50%\s+(\S+)$", output).group(1)),
        p99_ms=_wrk_ms(_find(r"^\s*99%\s+(\S+)$", output).group(1)),
    )


async def run_aiohttp(url: str, kind: str, args: argparse.Namespace) -> Result:
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    keys = itertools.count()
    deadline = time.perf_counter() + args.duration

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            headers = {"Idempotency-Key": f"k{next(keys)}"} if args.unique_keys else None
            started = time.perf_counter()
            try:
                async with session.post(url, json=BODIES[kind], headers=headers) as response:
                    await response.read()
                    if response.status >= 300:
                        counts["non_2xx"] += 1
            except aiohttp.ClientError:
                counts["errors"] += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(args.connections)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return Result(
        tool="aiohttp",
        connections=args.connections,
        seconds=seconds,
        requests=len(latencies),
        non_2xx=counts["non_2xx"],
        errors=counts["errors"],
        p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
    )


def print_table(results: list[Result], kind: str, unique_keys: bool) -> None:
    print(
        f"gateway-sim throughput: POST /api/{kind}/provider1, --fail-rate 0, "
        f"{'unique Idempotency-Key per request' if unique_keys else 'one body, one key'}, "
        f"{os.cpu_count()} CPUs"
    )
    header = (
        f"{'tool':<10} {'conns':>5} {'secs':>5} {'requests':>9} {'req/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.tool:<10} {r.connections:>5} {r.seconds:>5.1f} {r.requests:>9} "
            f"{r.per_second:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.non_2xx:>7} "
            f"{r.errors:>6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load (10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--kind", choices=sorted(BODIES), default="sms")
    parser.add_argument("--tool", choices=["auto", "wrk", "aiohttp"], default="auto")
    parser.add_argument(
        "--unique-keys",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a fresh Idempotency-Key per request (default on)",
    )
    args = parser.parse_args()
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "aiohttp"
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        workdir = Path(tmp)
        process, url = start_simulator(args.kind, workdir)
        try:
            if tool == "wrk":
                result = run_wrk(url, args.kind, args, workdir)
            else:
                result = asyncio.run(run_aiohttp(url, args.kind, args))
            ledger = read_ledger(url)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    print_table([result], args.kind, args.unique_keys)
    print(
        f"simulator ledger: {ledger['accepted']} accepted, {ledger['unique']} unique keys, "
        f"attempts {ledger['attempts']}"
    )


if __name__ == "__main__":
    main()
