"""Accept-and-deliver on the virtual route, status, dead letters and idempotency keys,
on a real SQLite store with the in-memory upstream."""

import concurrent.futures
import time
from datetime import UTC, datetime

import orjson
import pytest

from gateway.config import parse_config
from gateway.upstream import UpstreamResponse

SMS = orjson.dumps({"phone": "01712345678", "text": "hello"})
JSON = {"content-type": "application/json"}
ASYNC = {**JSON, "prefer": "respond-async"}
FAST_OUTBOX = "delivery: {poll_ms: 10, retry_base_ms: 10, retry_cap_ms: 20}\n"


def wait_for(client, message_id, status, timeout_s=10.0, min_attempts=0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = client.get(f"/api/messages/{message_id}").json()
        if view["status"] == status and view["attempts"] >= min_attempts:
            return view
        time.sleep(0.02)
    raise AssertionError(f"{message_id} never became {status}: {view}")


def by_provider(statuses):
    def answer(provider, url, body, headers):
        return UpstreamResponse(statuses.get(provider, 200), b'{"message":"ok"}', ())

    return answer


@pytest.fixture
def outbox_client(make_client):
    with make_client(parse_config(FAST_OUTBOX)) as client:
        yield client


def test_respond_async_answers_202_then_delivers(outbox_client, upstream):
    upstream.answer = by_provider({"sms/provider1": 500})
    answer = outbox_client.post("/api/sms", content=SMS, headers=ASYNC)
    assert answer.status_code == 202
    body = answer.json()
    assert answer.headers["location"] == body["status_url"] == f"/api/messages/{body['id']}"
    assert answer.headers["preference-applied"] == "respond-async"
    view = wait_for(outbox_client, body["id"], "delivered")
    assert view["provider"] == "sms/provider2"
    assert view["attempts"] == 2
    assert view["delivered_at"] is not None
    sent_ids = {call[3]["x-notification-id"] for call in upstream.calls}
    assert sent_ids == {body["id"]}, "every attempt carries the message id"


def test_an_unknown_message_is_404(outbox_client):
    assert outbox_client.get("/api/messages/nope").status_code == 404


def test_bad_input_is_refused_before_anything_is_stored(outbox_client, upstream):
    answer = outbox_client.post("/api/sms", content=b'{"phone": 1}', headers=ASYNC)
    assert answer.status_code == 400
    assert outbox_client.get("/admin/outbox").json()["counts"]["queued"] == 0


def test_a_message_refused_by_providers_is_dead_lettered_and_can_be_requeued(
    outbox_client, upstream
):
    upstream.answer = by_provider({f"sms/provider{i}": 422 for i in (1, 2, 3)})
    message_id = outbox_client.post("/api/sms", content=SMS, headers=ASYNC).json()["id"]
    view = wait_for(outbox_client, message_id, "failed")
    assert view["errors"] == {"sms/provider1": "4xx"}
    listed = outbox_client.get("/admin/dead-letters").json()["dead_letters"]
    assert [m["id"] for m in listed] == [message_id]

    upstream.answer = by_provider({})
    assert outbox_client.post(f"/admin/dead-letters/{message_id}/requeue").status_code == 200
    wait_for(outbox_client, message_id, "delivered")
    assert outbox_client.post("/admin/dead-letters/nope/requeue").status_code == 404


def test_messages_older_than_max_age_are_dead_lettered(make_client, upstream):
    upstream.answer = by_provider({f"sms/provider{i}": 503 for i in (1, 2, 3)})
    config = parse_config(
        "delivery: {poll_ms: 10, retry_base_ms: 10, retry_cap_ms: 20, max_age_ms: 300, "
        "lease_ms: 30000}\n"
    )
    with make_client(config) as client:
        message_id = client.post("/api/sms", content=SMS, headers=ASYNC).json()["id"]
        view = wait_for(client, message_id, "failed")
    assert set(view["errors"]) == {"sms/provider1", "sms/provider2", "sms/provider3"}
    assert view["attempts"] >= 3


def test_a_policy_in_async_mode_needs_no_prefer_header(make_client, upstream):
    config = parse_config(FAST_OUTBOX + "policies:\n  failover:\n    mode: async\n")
    with make_client(config) as client:
        assert client.post("/api/sms", content=SMS, headers=JSON).status_code == 202


def test_exhausted_sync_requests_are_enqueued_when_the_policy_says_so(make_client, upstream):
    upstream.answer = by_provider({f"sms/provider{i}": 500 for i in (1, 2, 3)})
    config = parse_config(
        FAST_OUTBOX + "policies:\n  failover:\n    on_exhausted: enqueue\n"
        "    retry: {max_attempts: 3}\n"
    )
    with make_client(config) as client:
        answer = client.post("/api/sms", content=SMS, headers=JSON)
        assert answer.status_code == 202
        upstream.answer = by_provider({})
        wait_for(client, answer.json()["id"], "delivered")


def test_a_repeated_idempotency_key_replays_the_first_answer(client, upstream):
    headers = {**JSON, "idempotency-key": "key-1"}
    first = client.post("/api/sms", content=SMS, headers=headers)
    again = client.post("/api/sms", content=SMS, headers=headers)
    assert len(upstream.calls) == 1
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-gateway-provider"] == first.headers["x-gateway-provider"]


def test_the_same_key_with_another_body_is_422(client, upstream):
    client.post("/api/sms", content=SMS, headers={**JSON, "idempotency-key": "k2"})
    other = orjson.dumps({"phone": "01712345678", "text": "other"})
    answer = client.post("/api/sms", content=other, headers={**JSON, "idempotency-key": "k2"})
    assert answer.status_code == 422
    assert len(upstream.calls) == 1


def test_a_failed_first_try_releases_the_key(make_client, upstream):
    upstream.answer = by_provider({f"sms/provider{i}": 500 for i in (1, 2, 3)})
    with make_client(parse_config("policies:\n  failover:\n    retry: {max_attempts: 3}\n")) as c:
        headers = {**JSON, "idempotency-key": "k3"}
        assert c.post("/api/sms", content=SMS, headers=headers).status_code == 502
        upstream.answer = by_provider({})
        again = c.post("/api/sms", content=SMS, headers=headers)
    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers


def test_keys_are_scoped_per_client_when_configured(make_client, upstream):
    config = parse_config("idempotency: {client_header: x-client-id}\n")
    with make_client(config) as client:
        for who in ("alice", "bob"):
            headers = {**JSON, "idempotency-key": "same", "x-client-id": who}
            assert (
                "idempotent-replayed"
                not in client.post("/api/sms/provider1", content=SMS, headers=headers).headers
            )
    assert len(upstream.calls) == 2


def test_an_async_accept_is_replayed_too(outbox_client, upstream):
    headers = {**ASYNC, "idempotency-key": "k4"}
    first = outbox_client.post("/api/sms", content=SMS, headers=headers).json()
    again = outbox_client.post("/api/sms", content=SMS, headers=headers)
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]


def test_a_message_is_queued_then_sending_then_delivered(outbox_client, upstream):
    upstream.answer = by_provider({f"sms/provider{i}": 503 for i in (1, 2, 3)})
    message_id = outbox_client.post("/api/sms", content=SMS, headers=ASYNC).json()["id"]
    queued = wait_for(outbox_client, message_id, "queued", min_attempts=3)
    assert queued["next_attempt_at"] is not None
    assert set(queued["errors"]) == {"sms/provider1", "sms/provider2", "sms/provider3"}
    upstream.gate.clear()
    upstream.waiting.clear()
    upstream.answer = by_provider({})
    assert upstream.waiting.wait(10), "the outbox retried the message"
    wait_for(outbox_client, message_id, "sending")
    upstream.gate.set()
    delivered = wait_for(outbox_client, message_id, "delivered")
    assert delivered["errors"].get("sms/provider1") == "5xx", delivered


def test_a_repeat_while_the_first_is_in_flight_is_409(client, upstream):
    upstream.gate.clear()
    headers = {**JSON, "idempotency-key": "k5"}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/api/sms", content=SMS, headers=headers)
        assert upstream.waiting.wait(10)
        repeat = client.post("/api/sms", content=SMS, headers=headers)
        upstream.gate.set()
        assert first.result().status_code == 200
    assert repeat.status_code == 409
    assert len(upstream.calls) == 1


def test_while_every_breaker_is_open_a_message_waits_for_them(make_client, upstream):
    upstream.answer = by_provider({f"sms/provider{i}": 503 for i in (1, 2, 3)})
    config = parse_config(
        FAST_OUTBOX + "policies:\n  failover:\n    breaker: {consecutive_failures: 1, "
        "open_ms: 3000}\n    retry: {max_attempts: 3}\n"
    )
    with make_client(config) as client:
        tripping = client.post("/api/sms", content=SMS, headers=ASYNC).json()["id"]
        wait_for(client, tripping, "queued", min_attempts=3)
        waiting = client.post("/api/sms", content=SMS, headers=ASYNC).json()["id"]
        time.sleep(0.5)  # many polls of 10 ms: without the pause it would be retried often
        view = client.get(f"/api/messages/{waiting}").json()
    assert view["attempts"] == 0, "nothing was sent while every breaker was open"
    assert view["status"] == "queued"
    due_in = datetime.fromisoformat(view["next_attempt_at"]) - datetime.now(UTC)
    assert due_in.total_seconds() > 1.5, "not claimed again before the breakers reopen"
