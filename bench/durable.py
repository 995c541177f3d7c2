"""Durable delivery per store: how fast it accepts, how fast it drains, what a backlog costs.

For each store (SQLite with `delivery.durability: full`, SQLite `normal`, Redis), a
fresh gateway (1 worker, the shipped delivery settings) in front of the simulator:

  1. accept   wrk POSTs a valid SMS with `Prefer: respond-async` (50 connections,
              10 s) while every sms provider is down (`down=refuse`), so the
              backlog only grows: 202s per second, and their p50/p99. The outbox
              workers still run (and fail): their rounds and CPU are counted.
  2. drain    the providers come back with the seed's behaviour (fail_rate 0.5)
              and /admin/outbox is polled until the outbox is empty (or a time
              limit): delivered per second, how long the breakers kept the first
              delivery waiting, and from the simulator's ledger the provider calls
              per delivered message and the duplicates.
  3. backlog  a second fresh gateway and store take 100 000 messages (`--quick`:
              20 000) with the providers down, stopped at a time limit if slower:
              the gateway's RSS (its processes' VmRSS), the SQLite file and WAL on
              disk or Redis' `used_memory`, then the drain from that backlog.

Redis is a redis-server of our own on a free port, `appendonly yes` with
`appendfsync everysec` (a crash or power cut loses at most the last second, as
SQLite `normal` can). Every phase is bounded; one that hits its limit says how far it got.

    .venv/bin/python -m bench.durable            # about 5 minutes
    .venv/bin/python -m bench.durable --quick    # about 1 minute
    .venv/bin/python -m bench.durable --stores sqlite-full,redis
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import itertools
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import stack
from bench.plots import pyplot
from bench.stats import (
    WrkResult,
    fixed,
    ledger_attempts,
    markdown_table,
    metric_sum,
    parse_wrk,
    ratio,
    thousands,
)

ACCEPT_SCRIPT = """\
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "respond-async"
"""
# With a quota the thread stops itself after that many answers; wrk itself sleeps
# its whole duration, so the benchmark interrupts it (SIGINT) once the outbox has them.
QUOTA_SCRIPT = """\
local quota = {quota}
local answered = 0
function response(status, headers, body)
  answered = answered + 1
  if answered >= quota then
    wrk.thread:stop()
  end
end
"""


@dataclass(frozen=True)
class StoreSpec:
    name: str
    what: str
    store: str
    """`sqlite` or `redis`; the Redis URL is made per gateway."""
    durability: str = "full"


REDIS_PERSISTENCE = {
    "always": "`appendonly yes`, `appendfsync always`",
    "everysec": "`appendonly yes`, `appendfsync everysec`",
    "no": "`appendonly yes`, `appendfsync no`",
    "off": "`appendonly no`, `save ''` (no persistence)",
}
REDIS_WHAT = {
    "always": "Redis 1 server, AOF fsync per write",
    "everysec": "Redis 1 server, AOF fsync every second",
    "no": "Redis 1 server, AOF, fsync left to the OS",
    "off": "Redis 1 server, no persistence",
}

STORES: dict[str, StoreSpec] = {
    spec.name: spec
    for spec in (
        StoreSpec("sqlite-full", "SQLite, WAL fsynced per group commit", "sqlite", "full"),
        StoreSpec("sqlite-normal", "SQLite, WAL fsynced at checkpoints", "sqlite", "normal"),
        StoreSpec("redis", REDIS_WHAT["everysec"], "redis"),
    )
}


# -- pure helpers (tests/bench/test_durable.py) -----------------------------------------------


def parse_vm_rss(status: str) -> int:
    """Bytes of `VmRSS` in the text of /proc/<pid>/status (the kernel writes kB); 0 when
    absent, as for a zombie or a kernel thread."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, _, unit = line.split(":", 1)[1].strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"unexpected VmRSS unit in {line!r}")
            return int(value) * 1024
    return 0


def parse_children(texts: Sequence[str]) -> list[int]:
    """Child pids from the contents of /proc/<pid>/task/<tid>/children, one text per thread."""
    return [int(pid) for text in texts for pid in text.split()]


def parse_cpu_ticks(stat: str) -> int:
    """utime + stime, in clock ticks, from the text of /proc/<pid>/stat (the command name,
    in parentheses, may hold spaces and parentheses itself)."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_percent(seconds_before: float, seconds_after: float, elapsed: float) -> float:
    """CPU time spent over `elapsed` wall seconds, as % of one core."""
    return 100 * ratio(seconds_after - seconds_before, elapsed)


@dataclass(frozen=True, slots=True)
class Counts:
    """One poll of `GET /admin/outbox`, `t` seconds into its phase."""

    t: float
    queued: int
    sending: int
    delivered: int
    failed: int
    cpu: float = math.nan
    """CPU seconds the gateway had used by then (NaN when not measured)."""
    store_cpu: float = math.nan
    """The same for redis-server."""

    @property
    def pending(self) -> int:
        """Not settled yet: queued (due or backing off) or sending."""
        return self.queued + self.sending

    @property
    def stored(self) -> int:
        return self.queued + self.sending + self.delivered + self.failed

    @classmethod
    def of(cls, t: float, answer: dict[str, Any]) -> Counts:
        counts = answer["counts"]
        return cls(
            t, counts["queued"], counts["sending"], counts["delivered"], counts.get("failed", 0)
        )


def value_at(samples: Sequence[Counts], t: float, what: str) -> float:
    """`what` (a Counts attribute) at time `t`, interpolated linearly between polls; NaN
    outside them."""
    for before, after in itertools.pairwise(samples):
        if before.t <= t <= after.t:
            a, b = getattr(before, what), getattr(after, what)
            if after.t == before.t:
                return float(b)
            return float(a + (b - a) * (t - before.t) / (after.t - before.t))
    if len(samples) == 1 and samples[0].t == t:
        return float(getattr(samples[0], what))
    return math.nan


def cpu_share(samples: Sequence[Counts], t0: float, t1: float, what: str = "cpu") -> float:
    """CPU used between `t0` and `t1` (seconds of the phase), % of one core."""
    return cpu_percent(value_at(samples, t0, what), value_at(samples, t1, what), t1 - t0)


def time_to_reach(samples: Sequence[Counts], value: float, what: str = "delivered") -> float | None:
    """When `what` (a Counts attribute) first reached `value`, interpolated linearly between
    the two polls around it; None if it never did."""
    previous: Counts | None = None
    for sample in samples:
        current = getattr(sample, what)
        if current >= value:
            if previous is None:
                return sample.t
            before = getattr(previous, what)
            if current == before:
                return sample.t
            return float(
                previous.t + (sample.t - previous.t) * (value - before) / (current - before)
            )
        previous = sample
    return None


@dataclass(frozen=True, slots=True)
class DrainStats:
    backlog: int
    """Pending when the providers came back."""
    delivered: int
    """Delivered by the end of the phase."""
    left: int
    """Still pending at the end (0 when the outbox emptied)."""
    failed: int
    first_s: float | None
    """From providers up to the first delivery (the breakers' open time shows here)."""
    rate: float
    """Delivered per second between 10 % and 90 % of what the phase delivered."""
    mean_rate: float
    """Delivered per second from the first delivery to the end of the phase."""
    emptied_s: float | None
    """From providers up to an empty outbox; None when the time limit came first."""
    seconds: float
    cpu: float = math.nan
    """The gateway's CPU, % of one core, over the same 10 % to 90 % (else the whole phase)."""
    store_cpu: float = math.nan


def drain_stats(samples: Sequence[Counts]) -> DrainStats:
    """The drain's numbers from its polls (the first taken as the providers came back)."""
    if not samples:
        nan = math.nan
        return DrainStats(0, 0, 0, 0, None, nan, nan, None, 0.0)
    first, last = samples[0], samples[-1]
    delivered = last.delivered - first.delivered
    shifted = [dataclasses.replace(s, delivered=s.delivered - first.delivered) for s in samples]
    first_s = time_to_reach(shifted, 1) if delivered else None
    rate = math.nan
    window = (first.t, last.t)
    if delivered >= 10:
        t10, t90 = time_to_reach(shifted, 0.1 * delivered), time_to_reach(shifted, 0.9 * delivered)
        if t10 is not None and t90 is not None and t90 > t10:
            rate = 0.8 * delivered / (t90 - t10)
            window = (t10, t90)
    mean_rate = math.nan
    if first_s is not None and last.t > first_s:
        mean_rate = delivered / (last.t - first_s)
    emptied = next((s.t for s in samples if s.pending == 0), None)
    return DrainStats(
        backlog=first.pending,
        delivered=delivered,
        left=last.pending,
        failed=last.failed - first.failed,
        first_s=first_s,
        rate=rate,
        mean_rate=mean_rate,
        emptied_s=emptied,
        seconds=last.t,
        cpu=cpu_share(samples, *window),
        store_cpu=cpu_share(samples, *window, what="store_cpu"),
    )


def fill_rate(samples: Sequence[Counts], start: float = 0.1, end: float = 0.9) -> float:
    """Stored per second between `start` and `end` of the final count (accepted over time)."""
    if not samples:
        return math.nan
    final = samples[-1].stored
    t0 = time_to_reach(samples, start * final, "stored")
    t1 = time_to_reach(samples, end * final, "stored")
    if t0 is None or t1 is None or t1 <= t0:
        return math.nan
    return (end - start) * final / (t1 - t0)


def megabytes(value: float | None) -> str:
    """Bytes as `12.3` MB (10^6); an em dash when unknown."""
    return "—" if value is None else f"{value / 1e6:.1f}"


def seconds_or_limit(value: float | None, limit: float) -> str:
    return f"> {limit:g} (limit)" if value is None else f"{value:.1f}"


# -- measurements ------------------------------------------------------------------------------


@dataclass
class Accept:
    wrk: WrkResult
    stored: int
    """Messages in the outbox afterwards (warm-up included)."""
    in_backoff: int | None
    """Of those, queued but not due: the workers tried them while the providers were down."""
    samples: list[Counts]
    limited: bool = False
    """A backlog fill that ran out of time before its quota."""
    gateway_cpu: float = math.nan
    """The gateway's CPU meanwhile, % of one core."""
    store_cpu: float = math.nan
    """redis-server's CPU meanwhile, % of one core (SQLite runs inside the gateway)."""
    rounds: int | None = None
    """Rounds of delivery the outbox workers ran by the end (providers down: all failed)."""

    @property
    def accepted(self) -> int:
        return self.wrk.requests - self.wrk.non_2xx

    @property
    def per_second(self) -> float:
        return ratio(self.accepted, self.wrk.seconds)


@dataclass
class Drain:
    stats: DrainStats
    samples: list[Counts]
    ledger: dict[str, Any]
    limit_s: float

    @property
    def gateway_cpu(self) -> float:
        return self.stats.cpu

    @property
    def store_cpu(self) -> float:
        return self.stats.store_cpu

    @property
    def calls_per_delivered(self) -> float:
        return ratio(ledger_attempts(self.ledger), self.ledger.get("unique", 0))

    @property
    def duplicates(self) -> int:
        return int(self.ledger.get("accepted", 0)) - int(self.ledger.get("unique", 0))


@dataclass
class Footprint:
    rss_idle: int
    rss_backlog: int = 0
    rss_drained: int = 0
    sqlite_db: int | None = None
    sqlite_wal: int | None = None
    redis_used: int | None = None
    redis_used_idle: int | None = None
    redis_rss: int | None = None
    redis_aof: int | None = None
    """Bytes appended to Redis' AOF while the backlog was filled."""
    redis_delayed_fsync: int | None = None
    """Redis' `aof_delayed_fsync` by the end of the fill, since the server started: writes
    held back because the previous second's fsync had not finished (a slow disk)."""

    def on_disk(self) -> int | None:
        if self.sqlite_db is not None:
            return self.sqlite_db + (self.sqlite_wal or 0)
        return self.redis_aof

    def store_bytes(self) -> int | None:
        """What the backlog costs where it is kept: the SQLite files, or Redis' memory."""
        if self.sqlite_db is not None:
            return self.on_disk()
        if self.redis_used is not None:
            return self.redis_used - (self.redis_used_idle or 0)
        return None


@dataclass
class StoreResult:
    spec: StoreSpec
    accept: Accept | None = None
    drain: Drain | None = None
    fill: Accept | None = None
    footprint: Footprint | None = None
    backlog_drain: Drain | None = None
    errors: list[str] = field(default_factory=list)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (uvicorn's workers and their helpers)."""
    todo, seen = [pid], []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        texts = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    texts.append((task / "children").read_text())
        todo.extend(parse_children(texts))
    return seen


def rss_of_tree(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, in bytes."""
    total = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError):
            total += parse_vm_rss(Path(f"/proc/{current}/status").read_text())
    return total


def shares(cpu: Sequence[float]) -> tuple[float, float]:
    """The gateway's and the store server's CPU % from a `cpu_meter` (NaN: no server)."""
    return cpu[0], cpu[1] if len(cpu) > 1 else math.nan


def cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its descendants."""
    ticks = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ticks += parse_cpu_ticks(Path(f"/proc/{current}/stat").read_text())
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cpu_meter(*pids: int) -> Iterator[list[float]]:
    """Yields a list that holds, once the block is done, each pid's CPU % of one core."""
    before = [cpu_of_tree(pid) for pid in pids]
    started = time.monotonic()
    shares: list[float] = []
    yield shares
    elapsed = time.monotonic() - started
    after = [cpu_of_tree(pid) for pid in pids]
    shares.extend(cpu_percent(b, a, elapsed) for b, a in zip(before, after, strict=True))


def outbox_rounds(gateway: stack.Gateway) -> int | None:
    """Rounds of delivery the gateway's outbox workers finished, whatever their result."""
    try:
        samples = gateway.metrics()
    except (stack.StackError, OSError, ValueError):
        return None
    return round(metric_sum(samples, "gateway_deliveries_total", route="outbox"))


def outbox(gateway: stack.Gateway, t0: float) -> Counts:
    return Counts.of(time.monotonic() - t0, stack.http_json(gateway.url("/admin/outbox")))


def write_script(work: Path, name: str, quota: int = 0) -> Path:
    script = work / f"{name}.lua"
    text = ACCEPT_SCRIPT.format(body=stack.SMS_BODY.decode())
    if quota:
        text += QUOTA_SCRIPT.format(quota=quota)
    script.write_text(text)
    return script


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    seconds: float,
    watch: Callable[[], Counts] | None = None,
    *,
    stop_at: int | None = None,
    interval: float = 0.5,
) -> tuple[WrkResult, list[Counts]]:
    """wrk on `url`, `watch()` polled every `interval` meanwhile; wrk is interrupted once a
    poll counts `stop_at` stored messages."""
    seconds = max(1, round(seconds))  # wrk takes whole seconds
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    samples: list[Counts] = []
    popen = subprocess.Popen(
        [*command, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + seconds + 30
        interrupted = False
        while popen.poll() is None and time.monotonic() < deadline:
            if watch is not None:
                with contextlib.suppress(stack.StackError, OSError, ValueError):
                    samples.append(watch())
                reached = bool(stop_at is not None and samples and samples[-1].stored >= stop_at)
                if reached and not interrupted:
                    popen.send_signal(signal.SIGINT)
                    interrupted = True
            time.sleep(interval)
        out, err = popen.communicate(timeout=30)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    if popen.returncode != 0:
        raise stack.StackError(f"wrk failed ({popen.returncode}): {err or out}")
    if watch is not None:
        with contextlib.suppress(stack.StackError, OSError, ValueError):
            samples.append(watch())
    return parse_wrk(out), samples


def sqlite_files(data_dir: Path) -> tuple[int, int]:
    """Bytes of the SQLite database files (main file with -shm, and -wal) under `data_dir`."""
    main = wal = 0
    for path in data_dir.glob("*"):
        if path.is_file():
            if path.name.endswith("-wal"):
                wal += path.stat().st_size
            else:
                main += path.stat().st_size
    return main, wal


def sqlite_in_backoff(data_dir: Path) -> int | None:
    """Queued messages not due yet, read from the gateway's file (a diagnostic: it
    reads the schema of gateway/storage/sqlite.py, None if that changes)."""
    try:
        path = next(p for p in data_dir.glob("*.sqlite3"))
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            (n,) = db.execute(
                "SELECT count(*) FROM outbox WHERE status = 'queued' AND due_at > ?",
                (time.time(),),
            ).fetchone()
            return int(n)
    except (StopIteration, sqlite3.Error):
        return None


# -- Redis -------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    process: stack.Process
    port: int
    dir: Path

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=30)

    def url(self, namespace: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?namespace={namespace}"

    def aof_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file())


@contextlib.contextmanager
def start_redis(work: Path, appendfsync: str = "everysec") -> Iterator[RedisServer]:
    """redis-server on a free port; `appendfsync` `always`, `everysec`, `no`, or `off` for
    no AOF at all."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise stack.StackError("redis-server is not installed (apt-get install -y redis-server)")
    port = stack.free_port()
    data = work / "redis"
    data.mkdir()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    command += ["--save", ""]
    if appendfsync == "off":
        command += ["--appendonly", "no"]
    else:
        command += ["--appendonly", "yes", "--appendfsync", appendfsync]
    command += ["--protected-mode", "no", "--daemonize", "no"]
    with stack.running(stack.spawn("redis", command, work)) as process:
        stack.wait_until(process, lambda: stack.port_open(port), f"port {port}")
        yield RedisServer(process, port, data)


# -- the run -----------------------------------------------------------------------------------


def config(
    spec: StoreSpec, sim: stack.Simulator, redis: RedisServer | None, namespace: str
) -> dict[str, Any]:
    cfg = stack.gateway_config(sim)
    if spec.store == "redis":
        if redis is None:
            raise stack.StackError("no redis-server")
        cfg["store"] = redis.url(namespace)
    else:
        cfg["store"] = "sqlite"
        cfg["delivery"] = {"durability": spec.durability}
    return cfg


def in_backoff(spec: StoreSpec, gw: stack.Gateway, work: Path, redis: RedisServer | None) -> Any:
    if spec.store == "redis":
        if redis is None:
            return None
        namespace = gw.config["store"].rsplit("namespace=", 1)[1]
        with contextlib.suppress(Exception):
            return int(redis.client().zcard(f"{namespace}:retries"))
        return None
    return sqlite_in_backoff(work / f"{gw.process.name}-data")


def drain(
    gw: stack.Gateway,
    sim: stack.Simulator,
    limit_s: float,
    interval: float,
    label: str,
    pids: Sequence[int],
) -> Drain:
    """Providers up; poll the outbox until it is empty or `limit_s` passed; providers down.
    `pids`: the gateway's, then the store server's if any (their CPU is measured)."""
    sim.reset(knobs=False)  # a ledger of this drain only

    def poll(t0: float) -> Counts:
        sample = outbox(gw, t0)
        cpu = [cpu_of_tree(pid) for pid in pids]
        return dataclasses.replace(sample, cpu=cpu[0], store_cpu=cpu[1] if cpu[1:] else math.nan)

    samples = [poll(time.monotonic())]
    sim.control("sms", down=None)
    t0 = time.monotonic()
    samples[0] = dataclasses.replace(samples[0], t=0.0)
    try:
        while True:
            time.sleep(interval)
            sample = poll(t0)
            samples.append(sample)
            if sample.pending == 0 or sample.t >= limit_s:
                break
    finally:
        ledger = sim.ledger("none")
        sim.control("sms", down="refuse")
    stats = drain_stats(samples)
    print(
        f"    {label}: {thousands(stats.delivered)} of {thousands(stats.backlog)} delivered in "
        f"{stats.seconds:.1f} s, {fixed(stats.rate, 0)}/s (10-90 %), first after "
        f"{fixed(stats.first_s, 1)} s, {thousands(stats.left)} left, gateway CPU "
        f"{fixed(stats.cpu, 0)} %",
        flush=True,
    )
    return Drain(stats, samples, ledger, limit_s)


def measure_store(
    spec: StoreSpec,
    sim: stack.Simulator,
    redis: RedisServer | None,
    work: Path,
    args: argparse.Namespace,
) -> StoreResult:
    result = StoreResult(spec)
    print(f"{spec.name}: {spec.what}", flush=True)
    server = redis if spec.store == "redis" else None
    sim.control("sms", down="refuse")
    name = f"{spec.name}-rate"
    with stack.start_gateway(work, config(spec, sim, redis, name), name=name) as gw:
        pids = [gw.process.pid] + ([server.process.pid] if server else [])
        url = gw.url("/api/sms")
        if args.warmup:
            run_wrk(url, write_script(work, f"{name}-warm"), 10, args.warmup)
        t0 = time.monotonic()
        with cpu_meter(*pids) as cpu:
            load, samples = run_wrk(
                url, write_script(work, name), args.connections, args.duration,
                lambda: outbox(gw, t0),
            )  # fmt: skip
        stored = samples[-1].stored if samples else 0
        accept = result.accept = Accept(
            load, stored, in_backoff(spec, gw, work, redis), samples, False, *shares(cpu)
        )
        accept.rounds = outbox_rounds(gw)
        print(
            f"    accept: {thousands(accept.per_second)}/s  p50 {load.p50_ms:.2f} ms  "
            f"p99 {load.p99_ms:.2f} ms  gateway CPU {accept.gateway_cpu:.0f} %  "
            f"({thousands(stored)} stored, {accept.in_backoff} backing off, "
            f"{accept.rounds} worker rounds)",
            flush=True,
        )
        if accept.accepted > stored:
            result.errors.append(f"{spec.name}: {accept.accepted} answered 202, {stored} stored")
        result.drain = drain(gw, sim, args.drain_limit, args.interval, "drain", pids)
        result.errors += [f"{spec.name}-rate gateway: {e}" for e in gw.process.errors()]

    name = f"{spec.name}-backlog"
    if server is not None:
        server.client().flushall()
    with stack.start_gateway(work, config(spec, sim, redis, name), name=name) as gw:
        pids = [gw.process.pid] + ([server.process.pid] if server else [])
        footprint = result.footprint = Footprint(rss_idle=rss_of_tree(gw.process.pid))
        aof_before = 0
        if server is not None:
            footprint.redis_used_idle = int(server.client().info("memory")["used_memory"])
            aof_before = server.aof_bytes()
        t0 = time.monotonic()
        with cpu_meter(*pids) as cpu:
            load, samples = run_wrk(
                gw.url("/api/sms"),
                write_script(work, name, quota=args.backlog),
                args.connections,
                args.fill_limit,
                lambda: outbox(gw, t0),
                stop_at=args.backlog,
                interval=args.interval,
            )
        time.sleep(args.settle)  # the last group commit, the AOF's next fsync
        stored = outbox(gw, t0).stored
        footprint.rss_backlog = rss_of_tree(gw.process.pid)
        if server is not None:
            footprint.redis_used = int(server.client().info("memory")["used_memory"])
            footprint.redis_rss = rss_of_tree(server.process.pid)
            footprint.redis_aof = server.aof_bytes() - aof_before
            persistence = server.client().info("persistence")
            footprint.redis_delayed_fsync = int(persistence.get("aof_delayed_fsync", 0))
        else:
            footprint.sqlite_db, footprint.sqlite_wal = sqlite_files(work / f"{name}-data")
        fill = result.fill = Accept(
            load,
            stored,
            in_backoff(spec, gw, work, redis),
            samples,
            stored < args.backlog,
            *shares(cpu),
        )
        fill.rounds = outbox_rounds(gw)
        if fill.accepted > stored:
            result.errors.append(f"{spec.name}: {fill.accepted} answered 202, {stored} stored")
        print(
            f"    backlog: {thousands(stored)} stored in {load.seconds:.1f} s "
            f"({fixed(fill_rate(samples), 0)}/s), gateway RSS {megabytes(footprint.rss_idle)} -> "
            f"{megabytes(footprint.rss_backlog)} MB, store {megabytes(footprint.store_bytes())} MB",
            flush=True,
        )
        result.backlog_drain = drain(
            gw, sim, args.backlog_drain_limit, args.interval, "backlog drain", pids
        )
        footprint.rss_drained = rss_of_tree(gw.process.pid)
        result.errors += [f"{spec.name}-backlog gateway: {e}" for e in gw.process.errors()]
    return result


# -- the report --------------------------------------------------------------------------------


def count_or_dash(value: float | None) -> str:
    """`thousands`, an em dash for None or NaN."""
    return "—" if value is None or math.isnan(value) else thousands(value)


def cpu_cell(gateway: float, store: float) -> str:
    """`95` for the gateway alone, `95 / 12` with the Redis server."""
    return fixed(gateway, 0) + ("" if math.isnan(store) else f" / {fixed(store, 0)}")


def accept_table(results: Sequence[StoreResult]) -> str:
    rows = [
        [
            f"`{r.spec.name}`",
            r.spec.what,
            thousands(a.per_second),
            fixed(a.wrk.p50_ms),
            fixed(a.wrk.p99_ms),
            thousands(a.accepted),
            thousands(a.wrk.non_2xx + a.wrk.socket_errors),
            cpu_cell(a.gateway_cpu, a.store_cpu),
            thousands(a.stored),
            count_or_dash(a.rounds),
            count_or_dash(a.in_backoff),
        ]
        for r in results
        if (a := r.accept) is not None
    ]
    headers = ["store", "what", "202/s", "p50 ms", "p99 ms", "202s", "errors"]
    headers += ["CPU % gateway / redis", "stored", "worker rounds", "backing off"]
    return markdown_table(headers, rows, numeric=[False, False, *([True] * 9)])


def drain_table(results: Sequence[StoreResult], which: str) -> str:
    rows = [
        [
            f"`{r.spec.name}`",
            thousands(d.stats.backlog),
            thousands(d.stats.delivered),
            thousands(d.stats.left),
            fixed(d.stats.first_s, 1),
            count_or_dash(d.stats.rate),
            count_or_dash(d.stats.mean_rate),
            seconds_or_limit(d.stats.emptied_s, d.limit_s),
            fixed(d.calls_per_delivered),
            thousands(d.duplicates),
            thousands(d.stats.failed),
            cpu_cell(d.gateway_cpu, d.store_cpu),
        ]
        for r in results
        if (d := getattr(r, which)) is not None
    ]
    headers = ["store", "backlog", "delivered", "left", "first delivery s"]
    headers += ["delivered/s (10–90 %)", "delivered/s (mean)", "empty after s"]
    headers += ["calls / delivered", "duplicates", "dead-lettered", "CPU % gateway / redis"]
    return markdown_table(headers, rows, numeric=[False, *([True] * 11)])


def backlog_table(results: Sequence[StoreResult], target: int) -> str:
    rows = []
    for r in results:
        f, fp = r.fill, r.footprint
        if f is None or fp is None:
            continue
        store = fp.store_bytes()
        if fp.sqlite_db is not None:
            where = f"db {megabytes(fp.sqlite_db)} + WAL {megabytes(fp.sqlite_wal)} MB on disk"
        else:
            where = (
                f"used_memory {megabytes(fp.redis_used)} MB (empty: "
                f"{megabytes(fp.redis_used_idle)}), redis-server RSS {megabytes(fp.redis_rss)} MB, "
                f"{megabytes(fp.redis_aof)} MB appended to the AOF"
            )
            if fp.redis_delayed_fsync:
                where += f", `aof_delayed_fsync` {thousands(fp.redis_delayed_fsync)} since start"
        rows.append(
            [
                f"`{r.spec.name}`",
                thousands(f.stored) + (" (time limit)" if f.limited else ""),
                fixed(f.wrk.seconds, 1),
                count_or_dash(fill_rate(f.samples)),
                fixed(f.wrk.p99_ms),
                cpu_cell(f.gateway_cpu, f.store_cpu),
                count_or_dash(f.rounds),
                count_or_dash(f.in_backoff),
                f"{megabytes(fp.rss_idle)} → {megabytes(fp.rss_backlog)} → "
                f"{megabytes(fp.rss_drained)}",
                megabytes(store),
                count_or_dash(ratio(store, f.stored) if store is not None else None),
                where,
            ]
        )
    headers = ["store", f"stored (of {thousands(target)})", "fill s", "202/s (10–90 %)"]
    headers += ["p99 ms", "CPU % gateway / redis", "worker rounds", "backing off"]
    headers += ["gateway RSS MB: empty → backlog → drained", "store MB", "bytes / message"]
    headers += ["where"]
    return markdown_table(headers, rows, numeric=[False, *([True] * 10), False])


def by_name(results: Sequence[StoreResult], name: str) -> StoreResult | None:
    return next((r for r in results if r.spec.name == name), None)


def ratio_lines(results: Sequence[StoreResult]) -> list[str]:
    """`a / b` for the accept and drain rates of the stores, and each store's big-backlog
    drain against its small one."""
    lines = []

    def value(r: StoreResult | None, what: str) -> float:
        if r is None:
            return math.nan
        if what == "accept":
            return r.accept.per_second if r.accept else math.nan
        if what == "drain":
            return r.drain.stats.rate if r.drain else math.nan
        if what == "backlog drain":
            return r.backlog_drain.stats.rate if r.backlog_drain else math.nan
        if what == "fill":
            return fill_rate(r.fill.samples) if r.fill else math.nan
        raise ValueError(what)

    for what in ("accept", "drain", "fill", "backlog drain"):
        for a, b in (("sqlite-normal", "sqlite-full"), ("redis", "sqlite-full")):
            first, second = by_name(results, a), by_name(results, b)
            if first and second:
                quotient = ratio(value(first, what), value(second, what))
                lines.append(f"{what} rate {a} / {b}: {fixed(quotient)}")
    for r in results:
        lines.append(
            f"{r.spec.name} drain rate, big backlog / accept backlog: "
            f"{fixed(ratio(value(r, 'backlog drain'), value(r, 'drain')))}"
        )
    return lines


def fastest(results: Sequence[StoreResult], key: Callable[[StoreResult], float]) -> str:
    known = [r for r in results if not math.isnan(key(r))]
    if not known:
        return "—"
    best = max(known, key=key)
    return f"`{best.spec.name}` ({thousands(key(best))}/s)"


def cpu_sentence(shares: Sequence[float], what: str) -> str:
    """What the gateway's CPU says about the limit of `what`."""
    known = [share for share in shares if not math.isnan(share)]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = f"{low:.0f} %" if round(low) == round(high) else f"{low:.0f}–{high:.0f} %"
    if low >= 85:
        return (
            f" The gateway process used {span} of a core {what}: its one Python process is "
            "the limit here, not the store."
        )
    return f" The gateway process used {span} of a core {what}."


def interpretations(results: Sequence[StoreResult]) -> dict[str, str]:
    def accept(r: StoreResult) -> float:
        return r.accept.per_second if r.accept else math.nan

    def drained(r: StoreResult) -> float:
        return r.drain.stats.rate if r.drain else math.nan

    def big(r: StoreResult) -> float:
        return r.backlog_drain.stats.rate if r.backlog_drain else math.nan

    def filled(r: StoreResult) -> float:
        return fill_rate(r.fill.samples) if r.fill else math.nan

    full, normal = by_name(results, "sqlite-full"), by_name(results, "sqlite-normal")
    redis = by_name(results, "redis")
    said = f"Fastest to accept: {fastest(results, accept)}."
    if full and normal:
        said += (
            f" SQLite `normal` / `full`: ×{fixed(ratio(accept(normal), accept(full)))} "
            "(what the per-commit fsync costs once group commit shares it)."
        )
    if full and redis:
        said += f" Redis / SQLite `full`: ×{fixed(ratio(accept(redis), accept(full)))}."
    said += cpu_sentence([r.accept.gateway_cpu for r in results if r.accept], "while accepting")

    drains = [r.drain for r in results if r.drain] + [
        r.backlog_drain for r in results if r.backlog_drain
    ]
    firsts = [d.stats.first_s for d in drains if d.stats.first_s is not None]
    drain_said = f"Fastest to drain: {fastest(results, drained)}."
    if firsts:
        drain_said += (
            f" The first delivery came {min(firsts):.1f}–{max(firsts):.1f} s after the "
            "providers were back: the breakers opened while they were down and stay open for "
            "`open_ms` (5 s in `failover`) before a probe."
        )
    drain_said += cpu_sentence([d.gateway_cpu for d in drains], "while draining")

    backlog_said = (
        f"Fastest to fill: {fastest(results, filled)}; fastest to drain the big backlog: "
        f"{fastest(results, big)}."
    )
    ratios = [ratio(big(r), drained(r)) for r in results]
    ratios = [x for x in ratios if not math.isnan(x)]
    if ratios:
        backlog_said += (
            f" Against the small backlog the drain rate was ×{min(ratios):.2f}–×{max(ratios):.2f}."
        )
    backoffs = [r.fill.in_backoff for r in results if r.fill and r.fill.in_backoff]
    if backoffs:
        backlog_said += (
            f" While the providers were down the workers kept claiming messages and put up to "
            f"{thousands(max(backoffs))} of them into retry backoff, due up to the backlog's "
            "age later: an outbox that empties waits for those at the end."
        )
    return {"accept": said, "drain": drain_said, "backlog": backlog_said}


def report(results: Sequence[StoreResult], args: argparse.Namespace, elapsed: float) -> str:
    today = datetime.date.today().isoformat()
    command = "python -m bench.durable" + (" --quick" if args.quick else "")
    says = interpretations(results)
    errors = [e for r in results for e in r.errors]
    parts = [
        "# Durable delivery: accept rate, drain rate, backlog\n",
        f"`{command}` on {today}, {stack.machine()}, {stack.revision()}; {args.noise}; "
        f"{elapsed:.0f} s in all.\n",
        "Each store gets a fresh gateway (1 worker, the shipped `delivery` settings: "
        "16 workers, batch 64, the `failover` preset) in front of the simulator (seed 1, "
        "fail_rate 0.5). Accepting: wrk (1 thread, "
        f"{args.connections} connections) POSTs a valid SMS with `Prefer: respond-async` to "
        "`/api/sms` while every sms provider refuses connections. Draining: the providers "
        "come back and `/admin/outbox` is polled every "
        f"{args.interval:g} s until the outbox is empty or the phase's time limit; calls "
        "and duplicates come from the simulator's ledger. Redis is a `redis-server` of the "
        f"run's own with {REDIS_PERSISTENCE[args.redis_fsync]}.\n",
        f"## 1. Accept rate, providers down ({args.duration:g} s)\n",
        accept_table(results),
        "`worker rounds`: rounds of delivery the outbox workers ran meanwhile, every one "
        'failed as the providers were down (`gateway_deliveries_total{route="outbox"}`). '
        "`backing off`: accepted messages they had scheduled for a later retry by the end.\n",
        says["accept"] + "\n",
        f"## 2. Drain of that backlog, seed providers (limit {args.drain_limit:g} s)\n",
        drain_table(results, "drain"),
        says["drain"] + "\n",
        f"## 3. Backlog of {thousands(args.backlog)} (fill limit {args.fill_limit:g} s)\n",
        backlog_table(results, args.backlog),
        f"Then its drain (limit {args.backlog_drain_limit:g} s):\n",
        drain_table(results, "backlog_drain"),
        says["backlog"] + "\n",
        "## Ratios\n",
        "```\n" + "\n".join(ratio_lines(results)) + "\n```\n",
        "![accept and drain per store](durable.png)\n",
    ]
    if errors:
        parts.append("## Errors seen\n")
        parts.append("\n".join(f"- {e}" for e in errors) + "\n")
    raw = {r.spec.name: raw_result(r) for r in results}
    parts.append("<details><summary>every number (JSON)</summary>\n\n```json\n")
    parts.append(json.dumps(raw, indent=1) + "\n```\n</details>\n")
    return "\n".join(parts)


def raw_result(r: StoreResult) -> dict[str, Any]:
    def accept(a: Accept | None) -> Any:
        if a is None:
            return None
        return {
            "wrk": {n: getattr(a.wrk, n) for n in WrkResult.__slots__},
            "stored": a.stored,
            "in_backoff": a.in_backoff,
            "worker_rounds": a.rounds,
            "cpu_gateway_pct": a.gateway_cpu,
            "cpu_redis_pct": a.store_cpu,
            "fill_rate_10_90": fill_rate(a.samples),
        }

    def drained(d: Drain | None) -> Any:
        if d is None:
            return None
        return {
            **asdict(d.stats),
            "ledger": {k: d.ledger.get(k) for k in ("accepted", "unique", "attempts")},
            "cpu_gateway_pct": d.gateway_cpu,
            "cpu_redis_pct": d.store_cpu,
        }

    return {
        "accept": accept(r.accept),
        "drain": drained(r.drain),
        "fill": accept(r.fill),
        "footprint": asdict(r.footprint) if r.footprint else None,
        "backlog_drain": drained(r.backlog_drain),
    }


def plot(results: Sequence[StoreResult], path: Path, subtitle: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (bars, fill), (small, big) = axes
    names = [r.spec.name for r in results if r.accept]
    rates = [r.accept.per_second for r in results if r.accept]
    bars.barh(names, rates, color="#1f77b4")
    bars.invert_yaxis()
    for y, r in enumerate(r for r in results if r.accept):
        assert r.accept is not None
        label = f" {r.accept.per_second:,.0f}/s, p99 {r.accept.wrk.p99_ms:.0f} ms"
        bars.text(r.accept.per_second, y, label, va="center", fontsize=8)
    bars.set_xlabel("202 Accepted per second, providers down (higher is better)")
    for r in results:
        if r.fill:
            fill.plot(
                [s.t for s in r.fill.samples], [s.stored for s in r.fill.samples], label=r.spec.name
            )
    fill.set_xlabel("seconds of the backlog fill")
    fill.set_ylabel("messages stored")
    fill.legend()
    for axis, which, title in (
        (small, "drain", "accept backlog"),
        (big, "backlog_drain", "big backlog"),
    ):
        for r in results:
            d: Drain | None = getattr(r, which)
            if d:
                axis.plot(
                    [s.t for s in d.samples],
                    [s.delivered - d.samples[0].delivered for s in d.samples],
                    label=r.spec.name,
                )
        axis.set_xlabel("seconds since the providers came back")
        axis.set_ylabel(f"delivered ({title})")
        axis.legend()
    fig.suptitle(f"Durable delivery per store — {subtitle}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def other_benchmarks() -> list[str]:
    """Other benchmark processes on the machine (`pgrep -f "bench\\."`), this one excluded."""
    done = subprocess.run(["pgrep", "-af", r"bench\."], capture_output=True, text=True, check=False)
    mine = {os.getpid(), os.getppid()}
    found = []
    for line in done.stdout.splitlines():
        pid, _, command = line.partition(" ")
        if pid.isdigit() and int(pid) not in mine and "pgrep" not in command:
            found.append(line)
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--stores", default=",".join(STORES), help="comma-separated, of %(default)s"
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds of accept load")
    parser.add_argument(
        "--warmup", type=float, default=1, help="seconds of warm-up at 10 connections"
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--drain-limit", type=float, default=20, help="seconds, drain of phase 2")
    parser.add_argument("--backlog", type=int, default=100_000, help="messages of phase 3")
    parser.add_argument("--fill-limit", type=float, default=40, help="seconds to fill the backlog")
    parser.add_argument(
        "--backlog-drain-limit", type=float, default=20, help="seconds, drain of phase 3"
    )
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between polls")
    parser.add_argument(
        "--settle", type=float, default=1, help="seconds before measuring a backlog"
    )
    parser.add_argument(
        "--redis-fsync",
        choices=("always", "everysec", "no", "off"),
        default="everysec",
        help="redis-server's appendfsync (off: no AOF)",
    )
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--out", type=Path, default=stack.DOCS, help="where tables and plots go")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.drain_limit, args.settle = 2, 0, 5, 0.5
        args.backlog, args.fill_limit, args.backlog_drain_limit = 20_000, 10, 5
    unknown = [s for s in args.stores.split(",") if s not in STORES]
    if unknown:
        parser.error(f"unknown stores {unknown}; known: {', '.join(STORES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack.stop_on_sigterm()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (or make bench-tools)")
        return 2
    specs = [
        dataclasses.replace(spec, what=REDIS_WHAT[args.redis_fsync])
        if spec.store == "redis"
        else spec
        for spec in (STORES[name] for name in args.stores.split(","))
    ]
    if any(s.store == "redis" for s in specs) and shutil.which("redis-server") is None:
        print("redis-server is not installed (apt-get install -y redis-server): redis skipped")
        specs = [s for s in specs if s.store != "redis"]
    others = other_benchmarks()
    if others:
        print("other benchmarks are running, numbers will be disturbed:\n  " + "\n  ".join(others))
    args.out.mkdir(parents=True, exist_ok=True)
    args.noise = stack.noise_note(stack.machine_busy())
    if others:
        args.noise += f", {len(others)} other benchmark process(es) running"
    print(args.noise)
    started = time.monotonic()
    results = []
    with stack.workdir("durable") as work, contextlib.ExitStack() as running:
        sim = running.enter_context(
            stack.start_simulator(work, "--seed", "1", "--provider", "sms:down=refuse")
        )
        redis = None
        if any(s.store == "redis" for s in specs):
            redis = running.enter_context(start_redis(work, args.redis_fsync))
        for spec in specs:
            results.append(measure_store(spec, sim, redis, work, args))
    elapsed = time.monotonic() - started
    print()
    print(accept_table(results))
    print(drain_table(results, "drain"))
    print(backlog_table(results, args.backlog))
    print(drain_table(results, "backlog_drain"))
    print("\n".join(ratio_lines(results)))
    for error in (e for r in results for e in r.errors):
        print(f"error: {error}")
    today = datetime.date.today().isoformat()
    (args.out / "durable.md").write_text(report(results, args, elapsed))
    command = "python -m bench.durable" + (" --quick" if args.quick else "")
    plot(results, args.out / "durable.png", f"{command}, {today}, {os.cpu_count()} cores")
    print(f"\nwrote {args.out / 'durable.md'} and durable.png ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
