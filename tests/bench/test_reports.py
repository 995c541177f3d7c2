"""What the benchmarks conclude from their measurements, on made-up records and profiles."""

import asyncio
import time

from bench.delivery import (
    FAILOVER,
    HEDGED,
    NAIVE,
    OutageRun,
    Run,
    Scenario,
    failure_reasons,
    run_table,
    targets,
)
from bench.loadgen import Outcome, Record, closed_loop, open_loop
from bench.overhead import feature_of, package_of, summarise_collapsed
from bench.stats import DeliveryCount

SEED = Scenario("seed", "seed", {}, (FAILOVER, NAIVE), 4)
TAIL = Scenario("tail-ok", "tail", {}, (FAILOVER, HEDGED), 4)
OUTAGE = Scenario("outage", "outage", {}, (FAILOVER,), 0)


def record(n, started, latency_s, status=200, calls=1, reason=""):
    outcome = Outcome(status=status, calls=calls, reason=reason)
    return Record(f"m-{n}", started, started, started + latency_s, outcome)


def run(scenario, contender, records, delivered, calls):
    count = DeliveryCount(sent=len(records), delivered=delivered, accepted=delivered)
    return Run(scenario, contender, records, count, calls, int(calls), seconds=1.0)


def test_seed_targets_read_delivery_duplicates_and_calls_per_delivered():
    records = [record(n, 0.0, 0.01) for n in range(3)] + [record(3, 0.0, 0.02, status=502)]
    found = targets([run(SEED, FAILOVER, records, delivered=3, calls=6)], [])
    by_what = {t.what.split(":")[1].strip(): t for t in found}
    delivered = by_what[">= 99.9 % delivered (200) within the 2 s deadline"]
    assert (delivered.met, delivered.measured.split()[0]) == (False, "75.00")
    assert by_what["0 duplicates"].met
    calls = by_what["<= 2.1 calls per delivered message"]
    assert (calls.met, calls.measured) == (True, "2.000")


def test_an_answer_after_the_deadline_does_not_count_as_delivered_in_time():
    records = [record(0, 0.0, 2.5), record(1, 0.0, 0.1)]
    assert run(SEED, FAILOVER, records, delivered=2, calls=2).ok_in_deadline_pct == 50.0


def test_hedging_targets_compare_p99_and_calls_with_failover():
    slow = [record(n, 0.0, 0.5 if n % 2 else 0.01) for n in range(4)]
    fast = [record(n, 0.0, 0.05) for n in range(4)]
    found = targets(
        [run(TAIL, FAILOVER, slow, delivered=4, calls=4), run(TAIL, HEDGED, fast, 4, calls=5)],
        [],
    )
    p99, extra = found
    assert p99.met  # 500 ms against 50 ms: 10x
    assert not extra.met  # 25 % more calls
    assert extra.measured.startswith("+25.0 %")


def test_outage_arithmetic_windows_503s_calls_and_recovery():
    records = [
        record(0, 0.5, 0.001),  # before the outage
        record(1, 1.2, 0.002, status=503),
        record(2, 1.5, 0.002, status=503),
        record(3, 1.8, 0.300, status=502),
        record(4, 3.1, 0.010, status=503),  # after recovery, still refused
        record(5, 4.6, 0.010),  # first success: ended at 4.61
        record(6, 5.2, 0.010),
    ]
    base = run(OUTAGE, FAILOVER, records, delivered=3, calls=4)
    outage = OutageRun(base, down_at=1.0, up_at=3.0, calls_in_outage=3, metrics_at={})
    assert outage.requests_in_outage == 3
    assert round(outage.share_503_pct(), 1) == 66.7
    assert outage.calls_per_request == 1.0
    assert round(outage.recovery_s(), 2) == 1.61
    assert outage.stable_after_s() == 1.0  # the bin [4, 5) and every later one are all 200
    assert round(outage.ok_after_recovery_pct(), 1) == 66.7


def test_tables_and_failure_reasons_render_one_row_per_run():
    records = [record(0, 0.0, 0.01), record(1, 0.0, 0.01, status=502, reason="budget")]
    runs = [run(SEED, FAILOVER, records, delivered=1, calls=3)]
    assert run_table(runs).count("\n") == 3
    assert "502 budget: 1" in failure_reasons(runs)
    assert "answered 200" in failure_reasons([run(SEED, NAIVE, records[:1], 1, 1)])


COLLAPSED = """\
process 1:"python -m gateway";main (gateway/cli.py:70);_handle (gateway/routes.py:120);\
post (gateway/upstream/aiohttp_client.py:50);_request (aiohttp/client.py:500) 6
process 1:"python -m gateway";main (gateway/cli.py:70);_handle (gateway/routes.py:120);\
info (structlog/_native.py:10) 3
process 1:"python -m gateway";main (gateway/cli.py:70);mask_text (masking.py:37) 1
"""


def test_collapsed_stacks_give_self_inclusive_and_package_shares():
    total, self_top, inclusive, packages, features = summarise_collapsed(COLLAPSED)
    assert total == 10
    assert self_top[0] == ("_request (aiohttp/client.py:500)", 60.0)
    # `main` is under every sample: it says nothing and is left out.
    assert dict(inclusive)["_handle (gateway/routes.py:120)"] == 90.0
    assert "main (gateway/cli.py:70)" not in dict(inclusive)
    assert dict(packages) == {
        "aiohttp client": 60.0,
        "structlog logging": 30.0,
        "gateway/telemetry/masking.py": 10.0,
    }
    assert dict(features) == {
        "upstream call (aiohttp client)": 60.0,
        "request log line (structlog, masking)": 40.0,
    }


def test_a_sample_goes_to_the_innermost_feature_skipping_asyncio():
    stack = [
        "_handle (gateway/routes.py:120)",
        "deliver (gateway/delivery/driver.py:18)",
        "wait (asyncio/tasks.py:399)",
    ]
    assert feature_of(stack) == "policy engine (plan, driver, breaker, budget)"
    assert feature_of(["Runner.run (asyncio/runners.py:86)"]).startswith("event loop")


def test_frames_of_our_code_are_named_by_module():
    assert package_of("Plan._choose (gateway/delivery/plan.py:250)") == "gateway/delivery/plan.py"
    assert package_of("Runner.run (asyncio/runners.py:118)") == "asyncio"
    assert package_of("uuid4 (uuid.py:721)").startswith("other")


async def _fake_send(message_id):
    await asyncio.sleep(0)
    return Outcome(status=200 if message_id.endswith(("1", "3")) else 500, calls=1)


async def test_closed_loop_sends_every_id_once():
    records = await closed_loop(_fake_send, [f"x-{n}" for n in range(10)], concurrency=3)
    assert sorted(r.id for r in records) == sorted(f"x-{n}" for n in range(10))
    assert sum(r.ok for r in records) == 2


async def test_open_loop_sends_rate_times_duration_and_drops_beyond_the_cap():
    async def slow(message_id):
        await asyncio.sleep(0.5)
        return Outcome(status=200, calls=1)

    # Every message is already due (start in the past), so all 20 are scheduled at once,
    # long before the first of the 5 in flight answers.
    ids = (f"y-{n}" for n in range(100))
    start = time.perf_counter() - 10
    records = await open_loop(slow, ids, rate=1000, duration_s=0.02, max_in_flight=5, start=start)
    assert len(records) == 20
    assert sum(r.outcome.status == "dropped" for r in records) == 15
