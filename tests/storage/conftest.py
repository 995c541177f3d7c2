"""Stores for the storage tests: SQLite on a file in tmp_path, Redis on a real server.

The Redis server is started once per session on a free loopback port, without
persistence; every test gets its own namespace on it. `GATEWAY_TEST_REDIS_URL`
points the tests at a server that is already running instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio

from gateway.resilience.clock import FakeClock
from gateway.storage import OutboxMessage, Store
from gateway.storage.redis import RedisStore
from gateway.storage.sqlite import SQLiteStore

START = 1_700_000_000.0
"""Wall-clock epoch seconds the fake clock starts at."""

MakeStore = Callable[[], Awaitable[Store]]
PassTime = Callable[[float], Awaitable[None]]


def message(message_id: str | None = None, **fields: object) -> OutboxMessage:
    """A message with a body that is not UTF-8, so a store that decodes it would fail."""
    base: dict[str, object] = {
        "id": message_id or uuid.uuid4().hex,
        "type": "sms",
        "body": b'{"to":"+15550100","message":"hi"}\x00\xff',
        "headers": {"traceparent": "00-4bf92f3577b34da6-00f067aa0ba902b7-01", "x-request-id": "r1"},
    }
    return OutboxMessage(**{**base, **fields})


def is_sqlite_file(path: Path) -> bool:
    return path.read_bytes().startswith(b"SQLite format 3\0")


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def make_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[MakeStore]:
    """Open stores over one backing store (one file, or one namespace on one server),
    like several processes or replicas sharing it; all are closed after the test."""
    opened: list[Store] = []
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    namespace = f"test-{uuid.uuid4().hex[:12]}"

    async def make() -> Store:
        store: Store
        if backend == "sqlite":
            store = SQLiteStore(tmp_path / "outbox.sqlite3", clock=clock)
        else:
            store = RedisStore(url, namespace=namespace, clock=clock)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    if backend == "redis":
        client = redis.asyncio.Redis.from_url(url)
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    return await make_store()


@pytest.fixture
def pass_time(backend: str, clock: FakeClock) -> PassTime:
    """Let `seconds` pass: the fake clock moves, and on Redis, which enforces leases
    and key expiry with its own clock, that much real time passes too."""

    async def pass_(seconds: float) -> None:
        clock.advance(seconds)
        if backend == "redis":
            await asyncio.sleep(seconds)

    return pass_
