"""What every backend promises (`gateway.storage.base`), run against SQLite and Redis."""

from __future__ import annotations

import asyncio

import pytest

from gateway.resilience.clock import FakeClock
from gateway.storage import KeyClaim, Store, StoredResponse
from tests.storage.conftest import START, MakeStore, PassTime, message

LEASE_S = 0.3
"""Short, because Redis measures leases in real time."""
LONG_LEASE_S = 60.0


async def claim_ids(store: Store, owner: str = "worker-a", limit: int = 100) -> list[str]:
    return sorted(m.id for m in await store.claim(owner, limit, LONG_LEASE_S))


# Add and get -------------------------------------------------------------------


async def test_an_added_message_reads_back_with_every_field(store: Store) -> None:
    sent = message("m1")

    await store.add(sent)
    got = await store.get("m1")

    assert got is not None
    assert (got.id, got.type, got.body, got.headers) == ("m1", "sms", sent.body, sent.headers)
    assert got.status == "queued"
    assert got.attempts == 0
    assert got.created_at == got.updated_at == got.next_attempt_at == START
    assert got.delivered_at is None
    assert got.provider is None
    assert got.errors == {}


async def test_add_keeps_the_times_attempts_and_errors_it_is_given(store: Store) -> None:
    await store.add(
        message("m1", created_at=START - 5, attempts=2, errors={"sms/provider1": "timeout"})
    )

    got = await store.get("m1")

    assert got is not None
    assert got.created_at == got.next_attempt_at == START - 5
    assert got.attempts == 2
    assert got.errors == {"sms/provider1": "timeout"}


async def test_an_empty_body_and_no_headers_round_trip(store: Store) -> None:
    await store.add(message("m1", body=b"", headers={}))

    got = await store.get("m1")

    assert got is not None
    assert (got.body, got.headers) == (b"", {})


async def test_getting_an_unknown_message_finds_none(store: Store) -> None:
    assert await store.get("nope") is None


async def test_adding_an_id_twice_is_refused_and_the_first_is_kept(store: Store) -> None:
    await store.add(message("m1", body=b"first"))

    with pytest.raises(ValueError, match="m1"):
        await store.add(message("m1", body=b"second"))

    got = await store.get("m1")
    assert got is not None
    assert got.body == b"first"
    assert (await store.counts())["queued"] == 1


# Claim and leases ----------------------------------------------------------------


async def test_claim_takes_only_messages_that_are_due(store: Store, clock: FakeClock) -> None:
    await store.add(message("now"))
    await store.add(message("later", next_attempt_at=START + 10))

    assert await claim_ids(store) == ["now"]
    clock.advance(9.9)
    assert await claim_ids(store) == []
    clock.advance(0.1)
    assert await claim_ids(store) == ["later"]


async def test_claim_takes_at_most_limit_messages(store: Store) -> None:
    for i in range(5):
        await store.add(message(f"m{i}"))

    batches = [await claim_ids(store, limit=2) for _ in range(4)]

    assert [len(batch) for batch in batches] == [2, 2, 1, 0]
    assert sorted(m for batch in batches for m in batch) == [f"m{i}" for i in range(5)]
    assert await store.claim("worker-a", 0, LONG_LEASE_S) == []


async def test_a_claimed_message_is_sending(store: Store, clock: FakeClock) -> None:
    await store.add(message("m1"))
    clock.advance(1)

    (claimed,) = await store.claim("worker-a", 10, LONG_LEASE_S)
    got = await store.get("m1")

    assert claimed.id == "m1"
    assert claimed.body == message().body
    assert claimed.status == "sending"
    assert got is not None
    assert got.status == "sending"
    assert got.updated_at == START + 1


async def test_a_claimed_message_is_not_claimed_again_until_its_lease_runs_out(
    store: Store, pass_time: PassTime
) -> None:
    await store.add(message("m1"))

    first = await store.claim("worker-a", 10, LEASE_S)
    again = await store.claim("worker-b", 10, LEASE_S)
    await pass_time(LEASE_S + 0.1)
    after_lease = await store.claim("worker-b", 10, LEASE_S)

    assert [m.id for m in first] == ["m1"]
    assert again == []
    assert [m.id for m in after_lease] == ["m1"]
    assert after_lease[0].status == "sending"
    assert (await store.counts())["sending"] == 1


async def test_a_holder_whose_lease_ran_out_cannot_undo_the_new_holders_outcome(
    store: Store, pass_time: PassTime
) -> None:
    await store.add(message("m1"))
    await store.claim("worker-a", 10, LEASE_S)
    await pass_time(LEASE_S + 0.1)
    await store.claim("worker-b", 10, LEASE_S)

    await store.delivered("m1", "sms/provider2", 1)
    await store.retry_later("m1", 5, 2, {"sms/provider1": "timeout"})
    await store.dead_letter("m1", 2, {"sms/provider1": "timeout"})
    await store.delivered("m1", "sms/provider1", 2)
    await pass_time(LEASE_S + 0.1)

    got = await store.get("m1")
    assert got is not None
    assert (got.status, got.provider, got.attempts, got.errors) == (
        "delivered",
        "sms/provider2",
        1,
        {},
    )
    assert await store.claim("worker-c", 10, LEASE_S) == []
    assert await store.counts() == {"queued": 0, "sending": 0, "delivered": 1, "failed": 0}


# Outcomes ------------------------------------------------------------------------


async def test_delivered_records_provider_attempts_and_time(
    store: Store, clock: FakeClock, pass_time: PassTime
) -> None:
    await store.add(message("m1"))
    await store.claim("worker-a", 10, LEASE_S)
    clock.advance(1)

    await store.delivered("m1", "sms/provider2", 2)

    got = await store.get("m1")
    assert got is not None
    assert got.status == "delivered"
    assert got.provider == "sms/provider2"
    assert got.attempts == 2
    assert got.delivered_at == got.updated_at == START + 1
    await pass_time(LEASE_S + 0.1)
    assert await claim_ids(store) == []


async def test_retry_later_is_not_due_before_its_delay_and_merges_errors(
    store: Store, clock: FakeClock
) -> None:
    await store.add(message("m1", errors={"sms/provider1": "timeout"}))
    await store.claim("worker-a", 10, LONG_LEASE_S)

    await store.retry_later("m1", 30, 1, {"sms/provider2": "HTTP 503"})

    got = await store.get("m1")
    assert got is not None
    assert got.status == "queued"
    assert got.attempts == 1
    assert got.next_attempt_at == START + 30
    assert got.errors == {"sms/provider1": "timeout", "sms/provider2": "HTTP 503"}
    clock.advance(29.9)
    assert await claim_ids(store) == []
    clock.advance(0.1)
    assert await claim_ids(store) == ["m1"]

    await store.retry_later("m1", 30, 2, {"sms/provider1": "reset"})
    got = await store.get("m1")
    assert got is not None
    assert got.errors == {"sms/provider1": "reset", "sms/provider2": "HTTP 503"}


async def test_retry_later_without_delay_is_due_at_once(store: Store) -> None:
    await store.add(message("m1"))
    await store.claim("worker-a", 10, LONG_LEASE_S)

    await store.retry_later("m1", 0, 1, {})

    assert await claim_ids(store, "worker-b") == ["m1"]


async def test_a_queued_message_moved_to_later_is_claimed_once_when_due(
    store: Store, clock: FakeClock
) -> None:
    await store.add(message("m1"))

    await store.retry_later("m1", 30, 0, {})

    assert await claim_ids(store) == []
    clock.advance(30)
    assert await claim_ids(store) == ["m1"]
    assert await claim_ids(store) == []


async def test_dead_letter_keeps_the_message_with_its_errors(
    store: Store, pass_time: PassTime
) -> None:
    await store.add(message("m1", errors={"sms/provider1": "timeout"}))
    await store.claim("worker-a", 10, LEASE_S)

    await store.dead_letter("m1", 3, {"sms/provider2": "HTTP 500"})

    got = await store.get("m1")
    assert got is not None
    assert got.status == "failed"
    assert got.attempts == 3
    assert got.errors == {"sms/provider1": "timeout", "sms/provider2": "HTTP 500"}
    assert [m.id for m in await store.dead_letters()] == ["m1"]
    await pass_time(LEASE_S + 0.1)
    assert await claim_ids(store) == []


async def test_a_queued_message_can_be_dead_lettered_and_is_then_never_claimed(
    store: Store,
) -> None:
    await store.add(message("m1"))

    await store.dead_letter("m1", 0, {"gateway": "expired"})

    assert await claim_ids(store) == []
    assert await store.counts() == {"queued": 0, "sending": 0, "delivered": 0, "failed": 1}


async def test_dead_letters_are_listed_oldest_first_up_to_the_limit(
    store: Store, clock: FakeClock
) -> None:
    for message_id in ("c", "a", "b"):
        await store.add(message(message_id))
        clock.advance(1)
    await store.add(message("still-queued"))
    for message_id in ("b", "a", "c"):
        await store.dead_letter(message_id, 1, {})

    assert [m.id for m in await store.dead_letters()] == ["c", "a", "b"]
    assert [m.id for m in await store.dead_letters(limit=2)] == ["c", "a"]
    assert await store.dead_letters(limit=0) == []
    assert all(m.status == "failed" for m in await store.dead_letters())


async def test_requeue_puts_a_dead_letter_back_due_now_and_young(
    store: Store, clock: FakeClock
) -> None:
    await store.add(message("m1"))
    await store.claim("worker-a", 10, LONG_LEASE_S)
    await store.dead_letter("m1", 3, {"sms/provider1": "timeout"})
    clock.advance(100)

    assert await store.requeue("m1") is True

    got = await store.get("m1")
    assert got is not None
    assert got.status == "queued"
    assert got.created_at == got.next_attempt_at == got.updated_at == START + 100
    assert got.attempts == 3
    assert got.errors == {"sms/provider1": "timeout"}
    assert await store.dead_letters() == []
    assert await claim_ids(store) == ["m1"]


async def test_requeue_refuses_anything_but_a_dead_letter(store: Store) -> None:
    await store.add(message("queued"))
    await store.add(message("delivered"))
    await store.delivered("delivered", "sms/provider1", 1)
    await store.add(message("failed"))
    await store.dead_letter("failed", 1, {})

    assert await store.requeue("nope") is False
    assert await store.requeue("queued") is False
    assert await store.requeue("delivered") is False
    assert await store.requeue("failed") is True
    assert await store.requeue("failed") is False


async def test_reports_about_unknown_messages_change_nothing(store: Store) -> None:
    await store.delivered("nope", "sms/provider1", 1)
    await store.retry_later("nope", 1, 1, {"sms/provider1": "timeout"})
    await store.dead_letter("nope", 1, {})

    assert await store.get("nope") is None
    assert await store.counts() == {"queued": 0, "sending": 0, "delivered": 0, "failed": 0}


async def test_counts_name_all_four_statuses_and_follow_every_move(
    store: Store, clock: FakeClock
) -> None:
    assert await store.counts() == {"queued": 0, "sending": 0, "delivered": 0, "failed": 0}
    for i in range(5):
        await store.add(message(f"m{i}"))
    assert await store.counts() == {"queued": 5, "sending": 0, "delivered": 0, "failed": 0}

    m0, m1, m2, m3 = await store.claim("worker-a", 4, LONG_LEASE_S)
    assert await store.counts() == {"queued": 1, "sending": 4, "delivered": 0, "failed": 0}

    await store.delivered(m0.id, "sms/provider1", 1)
    await store.retry_later(m1.id, 10, 1, {})
    await store.dead_letter(m2.id, 1, {})
    assert await store.counts() == {"queued": 2, "sending": 1, "delivered": 1, "failed": 1}

    await store.requeue(m2.id)
    await store.delivered(m3.id, "sms/provider3", 1)
    assert await store.counts() == {"queued": 3, "sending": 0, "delivered": 2, "failed": 0}


# Idempotency keys ----------------------------------------------------------------

RESPONSE = StoredResponse(202, {"content-type": "application/json"}, b'{"id":"m1"}\xff')


async def test_the_first_request_owns_a_key_and_a_repeat_finds_it_in_flight(
    store: Store,
) -> None:
    assert await store.begin("k1", "fp", 30) == KeyClaim("new")
    assert await store.begin("k1", "fp", 30) == KeyClaim("in_flight")
    assert await store.begin("k2", "fp", 30) == KeyClaim("new")


async def test_a_finished_key_replays_the_first_answer(store: Store) -> None:
    await store.begin("k1", "fp", 30)

    await store.finish("k1", "fp", RESPONSE, 3600)

    assert await store.begin("k1", "fp", 30) == KeyClaim("replay", RESPONSE)
    assert await store.begin("k1", "fp", 30) == KeyClaim("replay", RESPONSE)


async def test_a_key_reused_with_another_body_is_a_mismatch(store: Store) -> None:
    await store.begin("k1", "fp", 30)
    assert await store.begin("k1", "other", 30) == KeyClaim("mismatch")

    await store.finish("k1", "fp", RESPONSE, 3600)
    assert await store.begin("k1", "other", 30) == KeyClaim("mismatch")


async def test_release_frees_an_in_flight_key_for_a_retry(store: Store) -> None:
    await store.begin("k1", "fp", 30)

    await store.release("k1")

    assert await store.begin("k1", "fp", 30) == KeyClaim("new")


async def test_release_keeps_a_recorded_answer(store: Store) -> None:
    await store.begin("k1", "fp", 30)
    await store.finish("k1", "fp", RESPONSE, 3600)

    await store.release("k1")
    await store.release("never-taken")

    assert await store.begin("k1", "fp", 30) == KeyClaim("replay", RESPONSE)


async def test_a_recorded_answer_is_forgotten_after_its_ttl(
    store: Store, pass_time: PassTime
) -> None:
    await store.begin("k1", "fp", 30)
    await store.finish("k1", "fp", RESPONSE, 0.6)

    await pass_time(0.2)
    assert await store.begin("k1", "fp", 30) == KeyClaim("replay", RESPONSE)
    await pass_time(0.5)
    assert await store.begin("k1", "other", 30) == KeyClaim("new")


async def test_a_key_whose_holder_died_is_free_after_in_flight_s(
    store: Store, pass_time: PassTime
) -> None:
    await store.begin("k1", "fp", 0.3)
    assert await store.begin("k1", "fp", 0.3) == KeyClaim("in_flight")

    await pass_time(0.4)

    assert await store.begin("k1", "fp", 30) == KeyClaim("new")


# Several processes or replicas on one store --------------------------------------


async def test_of_many_concurrent_requests_with_one_key_exactly_one_owns_it(
    make_store: MakeStore,
) -> None:
    stores = [await make_store() for _ in range(5)]

    claims = await asyncio.gather(*(stores[i % 5].begin("k1", "fp", 30) for i in range(50)))

    assert sorted(claim.state for claim in claims) == ["in_flight"] * 49 + ["new"]


async def test_two_stores_claiming_one_backlog_take_each_message_exactly_once(
    make_store: MakeStore,
) -> None:
    first, second = await make_store(), await make_store()
    ids = [f"m{i:03}" for i in range(200)]
    for message_id in ids:
        await first.add(message(message_id))

    async def drain(store: Store, owner: str) -> list[str]:
        taken: list[str] = []
        while batch := await store.claim(owner, 7, LONG_LEASE_S):
            taken += [m.id for m in batch]
        return taken

    by_first, by_second = await asyncio.gather(drain(first, "a"), drain(second, "b"))

    assert sorted(by_first + by_second) == ids
    assert (await first.counts())["sending"] == 200


async def test_a_message_added_through_one_store_is_seen_by_another(
    make_store: MakeStore,
) -> None:
    writer, reader = await make_store(), await make_store()

    await writer.add(message("m1"))

    got = await reader.get("m1")
    assert got is not None
    assert got.id == "m1"


# Lifecycle -----------------------------------------------------------------------


async def test_a_closed_store_refuses_work_and_closing_twice_is_harmless(
    store: Store,
) -> None:
    await store.close()
    await store.close()

    with pytest.raises(RuntimeError, match="not open"):
        await store.add(message("m1"))
    with pytest.raises(RuntimeError, match="not open"):
        await store.claim("worker-a", 1, LEASE_S)
    with pytest.raises(RuntimeError, match="not open"):
        await store.begin("k1", "fp", 30)
