"""The virtual route against the seed's providers: every message once, none twice."""

import asyncio
import uuid

import aiohttp

SMS = {"phone": "01712345678", "text": "hello"}


async def send_all(url, count, concurrency=20):
    statuses = {}

    async def one(session, message_id):
        async with session.post(url, json=SMS, headers={"x-notification-id": message_id}) as r:
            await r.read()
            statuses[message_id] = (r.status, r.headers.get("x-gateway-attempts"), await r.text())

    ids = [uuid.uuid4().hex for _ in range(count)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(one(s, i) for i in ids))
    return statuses


async def test_every_message_is_delivered_exactly_once(sim, gateway):
    statuses = await send_all(gateway.url("/api/sms"), 200)
    ledger = sim.ledger(scope="all", keys="all")
    assert [s for s in statuses.values() if s[0] != 200] == []
    assert ledger["unique"] == 200
    assert ledger["duplicates"] == 0
    attempts = sum(int(a) for _, a, _ in statuses.values())
    assert attempts == sum(
        p["attempts"]["200"] + p["attempts"]["500"] for p in ledger["providers"].values()
    )


async def test_a_provider_down_is_routed_around(sim, gateway):
    sim.control("sms1", down="refuse")
    statuses = await send_all(gateway.url("/api/sms"), 100)
    assert [s for s in statuses.values() if s[0] != 200] == []
    assert sim.ledger("sms1")["accepted"] == 0
    assert sim.ledger(scope="all")["unique"] == 100
