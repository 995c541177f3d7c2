"""What only the Redis backend has to get right: stream entries, consumers and namespaces."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from gateway.storage.redis import RedisStore
from tests.storage.conftest import message


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
async def namespace(client: redis.asyncio.Redis) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = [key async for key in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def stores(redis_url: str, namespace: str) -> AsyncIterator[list[RedisStore]]:
    """Opened stores are closed after the test; each test opens its own."""
    opened: list[RedisStore] = []
    yield opened
    for store in opened:
        await store.close()


async def open_store(url: str, namespace: str, stores: list[RedisStore]) -> RedisStore:
    store = RedisStore(url, namespace=namespace)
    await store.open()
    stores.append(store)
    return store


async def test_a_stale_stream_entry_is_acknowledged_and_skipped(
    redis_url: str, namespace: str, stores: list[RedisStore], client: redis.asyncio.Redis
) -> None:
    store = await open_store(redis_url, namespace, stores)
    await store.add(message("m1"))
    await store.claim("worker-a", 10, 60)
    await store.delivered("m1", "sms/provider1", 1)
    await client.xadd(f"{namespace}:outbox", {"id": "m1"})
    await client.xadd(f"{namespace}:outbox", {"id": "gone"})

    assert await store.claim("worker-a", 10, 60) == []
    assert await client.xlen(f"{namespace}:outbox") == 0
    pending = await client.xpending(f"{namespace}:outbox", f"{namespace}:workers")
    assert pending["pending"] == 0


async def test_the_stream_holds_only_the_backlog(
    redis_url: str, namespace: str, stores: list[RedisStore], client: redis.asyncio.Redis
) -> None:
    store = await open_store(redis_url, namespace, stores)
    for i in range(5):
        await store.add(message(f"m{i}"))
    assert await client.xlen(f"{namespace}:outbox") == 5

    for m in await store.claim("worker-a", 3, 60):
        await store.delivered(m.id, "sms/provider1", 1)

    assert await client.xlen(f"{namespace}:outbox") == 2


async def test_a_crashed_replicas_messages_are_taken_over_after_the_lease(
    redis_url: str, namespace: str, stores: list[RedisStore]
) -> None:
    crashed = await open_store(redis_url, namespace, stores)
    survivor = await open_store(redis_url, namespace, stores)
    for i in range(3):
        await crashed.add(message(f"m{i}"))
    await crashed.claim("replica-1", 10, 0.2)
    await crashed.close()

    assert await survivor.claim("replica-2", 10, 0.2) == []
    await asyncio.sleep(0.3)
    taken = await survivor.claim("replica-2", 10, 0.2)

    assert sorted(m.id for m in taken) == ["m0", "m1", "m2"]


async def test_namespaces_on_one_server_do_not_see_each_other(
    redis_url: str, namespace: str, stores: list[RedisStore], client: redis.asyncio.Redis
) -> None:
    mine = await open_store(redis_url, namespace, stores)
    theirs = await open_store(redis_url, f"{namespace}:other", stores)
    await mine.add(message("m1"))
    await mine.begin("k1", "fp", 30)

    assert await theirs.get("m1") is None
    assert await theirs.claim("worker-a", 10, 60) == []
    assert (await theirs.begin("k1", "fp", 30)).state == "new"


async def test_on_open_idle_consumers_are_forgotten_but_never_one_holding_messages(
    redis_url: str,
    namespace: str,
    stores: list[RedisStore],
    client: redis.asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await open_store(redis_url, namespace, stores)
    await store.add(message("m1"))
    await store.claim("holder", 10, 60)
    await store.claim("idle", 10, 60)
    monkeypatch.setattr("gateway.storage.redis.IDLE_CONSUMER_MS", 1)
    await asyncio.sleep(0.05)

    await open_store(redis_url, namespace, stores)

    consumers = await client.xinfo_consumers(f"{namespace}:outbox", f"{namespace}:workers")
    assert [consumer["name"] for consumer in consumers] == [b"holder"]


async def test_a_redis_url_that_answers_nothing_fails_on_open() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")

    with pytest.raises(redis.ConnectionError):
        await store.open()
