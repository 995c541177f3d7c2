"""Durable storage: the outbox of accepted messages and the idempotency keys.

`open_store` picks the backend from a URL:

    sqlite                  SQLite file `gateway.sqlite3` in the data directory
    sqlite:///abs/path.db   SQLite file at that absolute path
    redis://host:port/db    Redis (also rediss:// for TLS, unix:///path.sock); add
                            ?namespace=name to share one server between gateways
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.storage.base import KeyClaim, OutboxMessage, Store, StoredResponse
from gateway.storage.sqlite import Durability

__all__ = ["KeyClaim", "OutboxMessage", "Store", "StoredResponse", "open_store"]

SQLITE_FILE = "gateway.sqlite3"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


async def open_store(url: str, data_dir: Path, *, durability: Durability = "full") -> Store:
    """The store `url` names, opened. `durability` applies to SQLite; Redis is as
    durable as the server's persistence settings make it."""
    store: Store
    if url == "sqlite":
        from gateway.storage.sqlite import SQLiteStore

        store = SQLiteStore(data_dir / SQLITE_FILE, durability=durability)
    elif url.startswith("sqlite:"):
        if not url.startswith("sqlite:///"):
            raise ValueError(f"store {url!r}: a SQLite URL names an absolute path, sqlite:///...")
        from gateway.storage.sqlite import SQLiteStore

        store = SQLiteStore(Path(url.removeprefix("sqlite://")), durability=durability)
    elif url.startswith(REDIS_SCHEMES):
        from gateway.storage.redis import RedisStore

        url, namespace = _namespace_of(url)
        store = RedisStore(url, namespace=namespace)
    else:
        scheme = url.partition(":")[0] if ":" in url else url
        raise ValueError(
            f"unknown store {scheme!r} in {url!r}: use 'sqlite', 'sqlite:///absolute/path.db' "
            "or 'redis://host:port/db'"
        )
    await store.open()
    return store


def _namespace_of(url: str, default: str = "gateway") -> tuple[str, str]:
    """Split our own `namespace` query parameter off a Redis URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    namespace = next((value for key, value in query if key == "namespace"), default)
    rest = urlencode([(key, value) for key, value in query if key != "namespace"])
    return urlunsplit(parts._replace(query=rest)), namespace or default
