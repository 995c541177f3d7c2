"""The SQLite backend: one file, no server, shared safely by processes on one host.

Every statement runs on one worker thread that owns the connection, so the
event loop never waits on disk and statements never interleave. Writes open
with `BEGIN IMMEDIATE`, which takes the file's write lock before reading: two
gateway processes on one file therefore claim disjoint messages, and a writer
that finds the lock taken waits (`busy_timeout`) instead of failing.

Adds are committed in groups: the adds that arrive while the thread is busy
are inserted together and share one commit (one fsync), and each `add` returns
only once the commit holding its row is done. Under concurrent load that is
one fsync per group instead of one per message, several times the throughput,
without giving up "committed before the 202".

Durability: `full` fsyncs the write-ahead log on every commit (an accepted
message survives a power cut); `normal` leaves that to checkpoints (it survives
the process dying, not the machine).

A queued or sending message carries `due_at`, the time a worker may take it
next (its next attempt while queued, the end of its lease while sending); a
settled message has none. One partial index on `due_at` makes `claim` a range
scan at any backlog, and counts are kept by triggers so `counts` reads four rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, cast, get_args

import orjson

from gateway.storage.base import KeyClaim, OutboxMessage, Status, StoredResponse, WallClock

Durability = Literal["full", "normal"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

BUSY_TIMEOUT_S = 10.0
"""How long a write waits for another process to release the file's write lock."""
PURGE_BATCH = 100
"""Expired idempotency keys deleted per `begin`: enough to outpace creation, never a long stall."""

_SCHEMA: tuple[tuple[str, ...], ...] = (
    # Version 1.
    (
        """
        CREATE TABLE outbox (
            id              TEXT PRIMARY KEY,
            type            TEXT NOT NULL,
            body            BLOB NOT NULL,
            headers         TEXT NOT NULL,
            status          TEXT NOT NULL
                            CHECK (status IN ('queued', 'sending', 'delivered', 'failed')),
            attempts        INTEGER NOT NULL,
            created_at      REAL NOT NULL,
            updated_at      REAL NOT NULL,
            next_attempt_at REAL NOT NULL,
            delivered_at    REAL,
            provider        TEXT,
            errors          TEXT NOT NULL,
            lease_owner     TEXT,
            due_at          REAL
        )
        """,
        "CREATE INDEX outbox_due ON outbox (due_at) WHERE due_at IS NOT NULL",
        "CREATE INDEX outbox_dead ON outbox (created_at) WHERE status = 'failed'",
        """
        CREATE TABLE status_counts (
            status TEXT PRIMARY KEY,
            n      INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
        """
        INSERT INTO status_counts (status, n)
        VALUES ('queued', 0), ('sending', 0), ('delivered', 0), ('failed', 0)
        """,
        """
        CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN
            UPDATE status_counts SET n = n + 1 WHERE status = NEW.status;
        END
        """,
        """
        CREATE TRIGGER outbox_count_update AFTER UPDATE OF status ON outbox
        WHEN OLD.status <> NEW.status BEGIN
            UPDATE status_counts SET n = n - 1 WHERE status = OLD.status;
            UPDATE status_counts SET n = n + 1 WHERE status = NEW.status;
        END
        """,
        """
        CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN
            UPDATE status_counts SET n = n - 1 WHERE status = OLD.status;
        END
        """,
        """
        CREATE TABLE idempotency_keys (
            key         TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
            expires_at  REAL NOT NULL,
            status      INTEGER,
            headers     TEXT,
            body        BLOB
        )
        """,
        "CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)",
    ),
)
SCHEMA_VERSION = len(_SCHEMA)

_COLUMNS = (
    "id, type, body, headers, status, attempts, created_at, updated_at, "
    "next_attempt_at, delivered_at, provider, errors"
)
CLAIM_SQL = f"""
    UPDATE outbox
    SET status = 'sending', lease_owner = :owner, due_at = :lease_until, updated_at = :now
    WHERE id IN (SELECT id FROM outbox WHERE due_at <= :now ORDER BY due_at LIMIT :limit)
    RETURNING {_COLUMNS}
"""
"""Public so a test can pin that the planner serves it from the `outbox_due` index."""


class SQLiteStore:
    """`Store` over one SQLite file (created with its directory if missing)."""

    def __init__(
        self,
        path: Path,
        *,
        durability: Durability = "full",
        clock: WallClock = time.time,
    ) -> None:
        if durability not in get_args(Durability):
            raise ValueError(f"durability must be 'full' or 'normal', got {durability!r}")
        self.path = path
        self.durability = durability
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        # Adds waiting for the next group commit; shared with the worker thread.
        self._adds_lock = threading.Lock()
        self._adds: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._adds_scheduled = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, durability={self.durability!r})"

    # Lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        if self._executor is not None:
            raise RuntimeError(f"{self!r} is already open")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            await self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # Queued after every statement already submitted, so those finish first.
        await asyncio.get_running_loop().run_in_executor(executor, self._close)
        executor.shutdown(wait=True)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
            self._conn = conn
            self._migrate()
        except BaseException:
            self._conn = None
            conn.close()
            raise

    def _migrate(self) -> None:
        with self._write() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than the "
                    f"{SCHEMA_VERSION} this gateway knows: run the newer gateway"
                )
            for statements in _SCHEMA[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # Plumbing ----------------------------------------------------------------

    async def _run(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._executor is None:
            raise RuntimeError(f"{self!r} is not open")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: fn(*args, **kwargs)
        )

    @property
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self!r} is not open")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the file's write lock from its first read."""
        conn = self._connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        conn.execute("COMMIT")

    # Outbox ------------------------------------------------------------------

    async def add(self, message: OutboxMessage) -> None:
        """Store `message` as `queued`; zero timestamps mean now, a zero
        `next_attempt_at` means due at once. Raises ValueError if its id exists."""
        now = self._clock()
        created_at = message.created_at or now
        next_attempt_at = message.next_attempt_at or created_at
        row = {
            "id": message.id,
            "type": message.type,
            "body": message.body,
            "headers": _json(message.headers),
            "attempts": message.attempts,
            "created_at": created_at,
            "updated_at": now,
            "next_attempt_at": next_attempt_at,
            "errors": _json(message.errors),
        }
        if self._executor is None:
            raise RuntimeError(f"{self!r} is not open")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._adds_lock:
            self._adds.append((row, done))
            schedule, self._adds_scheduled = not self._adds_scheduled, True
        if schedule:
            self._executor.submit(self._commit_adds, loop)
        await done

    def _commit_adds(self, loop: asyncio.AbstractEventLoop) -> None:
        """Insert every add waiting now in one transaction, then answer each of them."""
        with self._adds_lock:
            batch, self._adds = self._adds, []
            self._adds_scheduled = False
        outcomes: list[BaseException | None] = []
        try:
            with self._write() as conn:
                for row, _ in batch:
                    try:
                        conn.execute(
                            """
                            INSERT INTO outbox (
                                id, type, body, headers, status, attempts, created_at,
                                updated_at, next_attempt_at, errors, due_at
                            ) VALUES (
                                :id, :type, :body, :headers, 'queued', :attempts, :created_at,
                                :updated_at, :next_attempt_at, :errors, :next_attempt_at
                            )
                            """,
                            row,
                        )
                    except sqlite3.IntegrityError as exc:
                        # Only this statement is undone; the rest of the group commits.
                        duplicate = ValueError(f"message {row['id']!r} already exists")
                        duplicate.__cause__ = exc
                        outcomes.append(duplicate)
                    else:
                        outcomes.append(None)
        except BaseException as exc:
            outcomes = [exc] * len(batch)
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, done, outcome)

    async def claim(self, owner: str, limit: int, lease_s: float) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        now = self._clock()
        params = {"owner": owner, "now": now, "lease_until": now + lease_s, "limit": limit}
        return await self._run(self._claim, params)

    def _claim(self, params: dict[str, Any]) -> list[OutboxMessage]:
        with self._write() as conn:
            rows = conn.execute(CLAIM_SQL, params).fetchall()
        return [_message(row) for row in rows]

    async def delivered(self, message_id: str, provider: str, attempts: int) -> None:
        """Mark delivered; a repeated report (two holders of one message) keeps the first."""
        now = self._clock()
        await self._run(
            self._execute,
            """
            UPDATE outbox
            SET status = 'delivered', provider = ?, attempts = ?, delivered_at = ?,
                updated_at = ?, lease_owner = NULL, due_at = NULL
            WHERE id = ? AND status <> 'delivered'
            """,
            (provider, attempts, now, now, message_id),
        )

    async def retry_later(
        self, message_id: str, delay_s: float, attempts: int, errors: dict[str, str]
    ) -> None:
        """Back to `queued`, due in `delay_s`. A message already delivered or failed
        is left alone: the report comes from a holder whose lease ran out."""
        now = self._clock()
        await self._run(
            self._execute,
            """
            UPDATE outbox
            SET status = 'queued', attempts = ?, errors = json_patch(errors, ?),
                next_attempt_at = ?, due_at = ?, updated_at = ?, lease_owner = NULL
            WHERE id = ? AND status IN ('queued', 'sending')
            """,
            (attempts, _json(errors), now + delay_s, now + delay_s, now, message_id),
        )

    async def dead_letter(self, message_id: str, attempts: int, errors: dict[str, str]) -> None:
        """Give up (errors merged); a message already delivered or failed is left alone."""
        now = self._clock()
        await self._run(
            self._execute,
            """
            UPDATE outbox
            SET status = 'failed', attempts = ?, errors = json_patch(errors, ?),
                updated_at = ?, lease_owner = NULL, due_at = NULL
            WHERE id = ? AND status IN ('queued', 'sending')
            """,
            (attempts, _json(errors), now, message_id),
        )

    async def requeue(self, message_id: str) -> bool:
        """A dead letter back to `queued`, due now; attempts and errors are kept."""
        now = self._clock()
        changed = await self._run(
            self._execute,
            """
            UPDATE outbox
            SET status = 'queued', created_at = ?, updated_at = ?, next_attempt_at = ?,
                due_at = ?
            WHERE id = ? AND status = 'failed'
            """,
            (now, now, now, now, message_id),
        )
        return changed == 1

    def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._write() as conn:
            return conn.execute(sql, params).rowcount

    async def get(self, message_id: str) -> OutboxMessage | None:
        return await self._run(self._get, message_id)

    def _get(self, message_id: str) -> OutboxMessage | None:
        row = self._connection.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (message_id,)
        ).fetchone()
        return None if row is None else _message(row)

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        return await self._run(self._dead_letters, limit)

    def _dead_letters(self, limit: int) -> list[OutboxMessage]:
        rows = self._connection.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE status = 'failed' "
            "ORDER BY created_at, id LIMIT ?",
            (max(limit, 0),),
        ).fetchall()
        return [_message(row) for row in rows]

    async def counts(self) -> dict[Status, int]:
        return await self._run(self._counts)

    def _counts(self) -> dict[Status, int]:
        rows = self._connection.execute("SELECT status, n FROM status_counts").fetchall()
        return {cast(Status, status): n for status, n in rows}

    # Idempotency keys ----------------------------------------------------------

    async def begin(self, key: str, fingerprint: str, in_flight_s: float) -> KeyClaim:
        return await self._run(self._begin, key, fingerprint, self._clock(), in_flight_s)

    def _begin(self, key: str, fingerprint: str, now: float, in_flight_s: float) -> KeyClaim:
        with self._write() as conn:
            conn.execute(
                """
                DELETE FROM idempotency_keys WHERE key IN (
                    SELECT key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?
                )
                """,
                (now, PURGE_BATCH),
            )
            row = conn.execute(
                "SELECT fingerprint, state, status, headers, body FROM idempotency_keys "
                "WHERE key = ? AND expires_at > ?",
                (key, now),
            ).fetchone()
            if row is None:
                conn.execute(
                    """
                    INSERT OR REPLACE INTO idempotency_keys (key, fingerprint, state, expires_at)
                    VALUES (?, ?, 'in_flight', ?)
                    """,
                    (key, fingerprint, now + in_flight_s),
                )
                return KeyClaim("new")
        held_fingerprint, state, status, headers, body = row
        if held_fingerprint != fingerprint:
            return KeyClaim("mismatch")
        if state == "in_flight":
            return KeyClaim("in_flight")
        return KeyClaim("replay", StoredResponse(status, orjson.loads(headers), body))

    async def finish(
        self, key: str, fingerprint: str, response: StoredResponse, ttl_s: float
    ) -> None:
        await self._run(
            self._execute,
            """
            INSERT OR REPLACE INTO idempotency_keys
                (key, fingerprint, state, expires_at, status, headers, body)
            VALUES (?, ?, 'done', ?, ?, ?, ?)
            """,
            (
                key,
                fingerprint,
                self._clock() + ttl_s,
                response.status,
                _json(response.headers),
                response.body,
            ),
        )

    async def release(self, key: str) -> None:
        """Forget `key` if it is still in flight; a recorded answer is kept."""
        await self._run(
            self._execute,
            "DELETE FROM idempotency_keys WHERE key = ? AND state = 'in_flight'",
            (key,),
        )


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    return OutboxMessage(
        id=row[0],
        type=row[1],
        body=bytes(row[2]),
        headers=orjson.loads(row[3]),
        status=row[4],
        attempts=row[5],
        created_at=row[6],
        updated_at=row[7],
        next_attempt_at=row[8],
        delivered_at=row[9],
        provider=row[10],
        errors=orjson.loads(row[11]),
    )


def _json(value: dict[str, str]) -> str:
    # Text, not bytes: SQLite's JSON functions refuse BLOBs.
    return orjson.dumps(value).decode()


def _settle(done: asyncio.Future[None], outcome: BaseException | None) -> None:
    if done.cancelled():
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)
