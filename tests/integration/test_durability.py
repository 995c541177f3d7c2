"""Nothing accepted is lost: a gateway killed mid-way, and a replica lost under load."""

import asyncio
import signal
import time

import aiohttp
import pytest

from tests.support.gateway import start_gateway

SMS = {"phone": "01712345678", "text": "hello"}
# Leases short enough that a dead worker's messages come back within the test.
OUTBOX = "delivery: {lease_ms: 3000, poll_ms: 20, retry_base_ms: 50, retry_cap_ms: 200}\n"


async def accept(url, count, concurrency=16):
    """Send `count` messages with Prefer: respond-async; the ids that got a 202."""
    accepted = []

    async def one(session):
        try:
            async with session.post(url, json=SMS, headers={"prefer": "respond-async"}) as r:
                if r.status == 202:
                    accepted.append((await r.json())["id"])
        except aiohttp.ClientError:
            pass  # the gateway was killed under this request: it was never accepted

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(one(s) for _ in range(count)))
    return accepted


def wait_delivered(sim, ids, timeout_s=40.0):
    """The simulator's ledger once it holds every id (it keys sends by message id)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ledger = sim.ledger(scope="all", keys="all")
        missing = set(ids) - set(ledger["keys"])
        if not missing or time.monotonic() > deadline:
            return ledger, missing
        time.sleep(0.2)


def test_a_gateway_killed_mid_delivery_loses_nothing_it_accepted(sim, record_property):
    sim.control("sms", latency_ms=40)  # slow enough that kill -9 lands mid-delivery
    first = start_gateway(sim, OUTBOX)
    try:
        accepted = asyncio.run(accept(first.url("/api/sms"), 300))
        time.sleep(0.3)
    finally:
        first.stop(signal.SIGKILL)
    delivered_before_restart = set(sim.ledger(scope="all")["keys"]) & set(accepted)
    assert len(accepted) == 300
    assert len(delivered_before_restart) < len(accepted), "the kill must land mid-way"

    second = start_gateway(sim, OUTBOX)
    try:
        ledger, missing = wait_delivered(sim, accepted)
    finally:
        second.stop()
    assert missing == set()
    twice = sum(1 for key in accepted if ledger["keys"][key]["count"] > 1)
    record_property("delivered_twice", twice)
    print(f"accepted {len(accepted)}, all delivered, {twice} delivered twice")


@pytest.mark.usefixtures("redis_url")
def test_a_replica_lost_under_load_leaves_its_messages_to_the_other(sim, redis_url, tmp_path):
    store = f"store: '{redis_url}?namespace=replicas-{tmp_path.name}'\n"
    sim.control("sms", latency_ms=40)
    one = start_gateway(sim, OUTBOX + store)
    two = start_gateway(sim, OUTBOX + store)
    try:

        async def load():
            return await asyncio.gather(
                accept(one.url("/api/sms"), 150), accept(two.url("/api/sms"), 150)
            )

        from_one, from_two = asyncio.run(load())
        one.stop(signal.SIGKILL)
        left_by_one = set(from_one) - set(sim.ledger(scope="all")["keys"])
        _, missing = wait_delivered(sim, from_one + from_two)
    finally:
        one.stop(signal.SIGKILL)
        two.stop()
    assert len(from_one) == len(from_two) == 150
    assert left_by_one, "the kill must leave replica one with work in hand"
    assert missing == set(), "replica two finished everything, replica one's included"
