"""`open_store` picks the backend from the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio

from gateway.storage import open_store
from gateway.storage.redis import RedisStore
from gateway.storage.sqlite import SQLiteStore
from tests.storage.conftest import is_sqlite_file, message


async def test_sqlite_alone_means_a_file_in_the_data_directory(tmp_path: Path) -> None:
    store = await open_store("sqlite", tmp_path / "data")
    await store.add(message("m1"))
    await store.close()

    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "data" / "gateway.sqlite3"
    assert store.durability == "full"
    assert is_sqlite_file(store.path)


async def test_a_sqlite_url_names_an_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "outbox.db"

    store = await open_store(f"sqlite://{target}", tmp_path / "data", durability="normal")
    await store.close()

    assert isinstance(store, SQLiteStore)
    assert (store.path, store.durability) == (target, "normal")
    assert is_sqlite_file(target)


async def test_a_redis_url_opens_a_redis_store(redis_url: str, tmp_path: Path) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    existed = await client.exists("gateway:outbox")
    store = await open_store(redis_url, tmp_path)
    try:
        assert isinstance(store, RedisStore)
        assert store.namespace == "gateway"
        assert await store.get("never-added") is None
    finally:
        await store.close()
        if not existed:  # leave a shared test server as it was
            await client.delete("gateway:outbox")
        await client.aclose()


@pytest.mark.parametrize(
    ("url", "scheme"), [("postgres://db/gateway", "postgres"), ("mysql", "mysql"), ("", "")]
)
async def test_an_unknown_store_is_refused_by_name(tmp_path: Path, url: str, scheme: str) -> None:
    with pytest.raises(ValueError, match=f"unknown store '{scheme}'"):
        await open_store(url, tmp_path)


async def test_a_relative_sqlite_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        await open_store("sqlite://relative.db", tmp_path)


async def test_a_namespace_in_a_redis_url_prefixes_the_keys(redis_url: str, tmp_path: Path) -> None:

    store = await open_store(f"{redis_url}?namespace=ns-{tmp_path.name}", tmp_path)
    try:
        await store.add(message("m1"))
    finally:
        await store.close()
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [key.decode() async for key in client.scan_iter(f"ns-{tmp_path.name}:*")]
    finally:
        await client.aclose()
    assert any(key.endswith("m1") for key in keys)
