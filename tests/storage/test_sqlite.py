"""What only the SQLite backend promises: a real file, shared by processes, that
outlives them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.resilience.clock import FakeClock
from gateway.storage import StoredResponse
from gateway.storage.sqlite import CLAIM_SQL, PURGE_BATCH, SCHEMA_VERSION, SQLiteStore
from tests.storage.conftest import START, is_sqlite_file, message


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "gateway.sqlite3"


async def opened(path: Path, **options: object) -> SQLiteStore:
    store = SQLiteStore(path, **options)  # type: ignore[arg-type]
    await store.open()
    return store


def run_python(source: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_file_and_its_directory_are_created(path: Path) -> None:
    store = await opened(path)
    await store.close()

    assert is_sqlite_file(path)


async def test_a_committed_message_survives_closing_and_reopening(path: Path) -> None:
    store = await opened(path)
    await store.add(message("m1", errors={"sms/provider1": "timeout"}))
    await store.close()

    reopened = await opened(path)
    got = await reopened.get("m1")
    await reopened.close()

    assert got is not None
    assert (got.body, got.status, got.errors) == (
        message().body,
        "queued",
        {"sms/provider1": "timeout"},
    )


async def test_another_process_reads_a_message_as_soon_as_add_returns(path: Path) -> None:
    store = await opened(path)
    await store.add(message("m1"))

    out = run_python(
        """
        import asyncio, json, sys
        from pathlib import Path
        from gateway.storage.sqlite import SQLiteStore

        async def main():
            store = SQLiteStore(Path(sys.argv[1]))
            await store.open()
            got = await store.get("m1")
            await store.close()
            print(json.dumps({"status": got.status, "body": got.body.hex()}))

        asyncio.run(main())
        """,
        str(path),
    )
    await store.close()

    assert json.loads(out) == {"status": "queued", "body": message().body.hex()}


async def test_two_processes_claiming_one_file_take_each_message_exactly_once(
    path: Path,
) -> None:
    store = await opened(path)
    ids = [f"m{i:03}" for i in range(300)]
    for message_id in ids:
        await store.add(message(message_id))
    claimer = textwrap.dedent(
        """
        import asyncio, sys
        from pathlib import Path
        from gateway.storage.sqlite import SQLiteStore

        async def main():
            store = SQLiteStore(Path(sys.argv[1]))
            await store.open()
            while batch := await store.claim(sys.argv[2], 5, 60):
                for m in batch:
                    print(m.id)
            await store.close()

        asyncio.run(main())
        """
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", claimer, str(path), owner, stdout=subprocess.PIPE
        )
        for owner in ("a", "b")
    ]
    outputs = await asyncio.gather(*(process.communicate() for process in processes))
    counts = await store.counts()
    await store.close()

    assert [process.returncode for process in processes] == [0, 0]
    claimed = [line for stdout, _ in outputs for line in stdout.decode().split()]
    assert sorted(claimed) == ids
    assert counts["sending"] == 300


async def test_many_concurrent_adds_share_commits_and_a_duplicate_fails_alone(
    path: Path,
) -> None:
    store = await opened(path)
    await store.add(message("dup"))
    ids = [f"m{i:03}" for i in range(100)]

    results = await asyncio.gather(
        *(store.add(message(message_id)) for message_id in [*ids[:50], "dup", *ids[50:]]),
        return_exceptions=True,
    )
    counts = await store.counts()
    await store.close()

    failures = [result for result in results if result is not None]
    assert len(failures) == 1
    assert isinstance(failures[0], ValueError)
    assert "dup" in str(failures[0])
    assert counts["queued"] == 101


@pytest.mark.parametrize(("durability", "synchronous"), [("full", 2), ("normal", 1)])
async def test_durability_sets_how_often_the_log_is_synced(
    path: Path, durability: str, synchronous: int
) -> None:
    store = await opened(path, durability=durability)
    level = await store._run(lambda: store._connection.execute("PRAGMA synchronous").fetchone()[0])
    await store.close()

    assert level == synchronous
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unknown_durability_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        SQLiteStore(path, durability="fast")  # type: ignore[arg-type]


async def test_the_schema_version_is_recorded(path: Path) -> None:
    await (await opened(path)).close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_file_from_a_newer_gateway_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")

    with pytest.raises(RuntimeError, match="schema version 99"):
        await opened(path)


async def test_claim_finds_due_messages_through_an_index(path: Path) -> None:
    await (await opened(path)).close()

    with sqlite3.connect(path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + CLAIM_SQL,
            {"owner": "a", "now": 0.0, "lease_until": 1.0, "limit": 10},
        ).fetchall()

    details = " | ".join(row[-1] for row in plan)
    assert "USING INDEX outbox_due (due_at<?)" in details
    assert "SCAN outbox" not in details


async def test_expired_idempotency_keys_are_purged_a_batch_at_a_time(path: Path) -> None:
    clock = FakeClock(START)
    store = await opened(path, clock=clock)
    for i in range(PURGE_BATCH + 10):
        await store.finish(f"k{i}", "fp", StoredResponse(202, {}, b""), 1)
    clock.advance(2)

    await store.begin("fresh", "fp", 30)
    await store.close()

    with sqlite3.connect(path) as conn:
        left = conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0]
    assert left == 10 + 1
