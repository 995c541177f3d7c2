"""Through the gateway, a client that only swapped its base URL sees the provider."""

import collections

import httpx
import pytest

SMS = {"phone": "01712345678", "text": "hello"}
EMAIL = {"subject": "Hi", "body": "Hello", "recipients": ["alice@example.com"]}


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("sms", {"phone": "0123", "text": "x"}),
        ("sms", {"phone": "01712345678", "text": "  "}),
        ("email", {"subject": "s", "body": "b", "recipients": ["bad"]}),
        ("email", {"subject": "s", "body": "b", "recipients": []}),
    ],
)
def test_a_400_reads_the_same_as_the_providers_own(sim, gateway, kind, payload):
    direct = httpx.post(sim.url(kind, 1), json=payload)
    proxied = httpx.post(gateway.url(f"/api/{kind}/provider1"), json=payload)
    assert (proxied.status_code, proxied.json()["error"]) == (400, direct.json()["error"])
    assert proxied.headers["content-type"] == direct.headers["content-type"]
    assert sim.ledger(scope="all")["attempts"]["400"] == 1, "only the direct call reached it"


@pytest.mark.parametrize(("kind", "payload"), [("sms", SMS), ("email", EMAIL)])
def test_answers_pass_through_unchanged(sim, gateway, kind, payload):
    bodies = collections.Counter()
    with httpx.Client() as client:
        for _ in range(40):
            answer = client.post(gateway.url(f"/api/{kind}/provider2"), json=payload)
            bodies[(answer.status_code, answer.text)] += 1
    label = kind.upper()
    assert set(bodies) == {
        (200, f'{{"message":"{label} sent via Provider 2"}}'),
        (500, f'{{"error":"Failed to send {kind} via Provider 2"}}'),
    }
    assert sim.ledger(f"{kind}2")["accepted"] == bodies[next(k for k in bodies if k[0] == 200)]


def test_request_ids_and_trace_context_are_kept(sim, gateway):
    answer = httpx.post(
        gateway.url("/api/sms/provider1"),
        json=SMS,
        headers={"x-request-id": "req-7", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    )
    assert answer.headers["x-request-id"] == "req-7"


def test_a_refused_connection_is_a_502_naming_the_provider(sim, gateway):
    sim.control("sms3", down="refuse")
    answer = httpx.post(gateway.url("/api/sms/provider3"), json=SMS)
    assert answer.status_code == 502
    assert answer.json()["provider"] == "sms/provider3"
    assert answer.json()["outcome"] == "connect_error"
    assert [a["outcome"] for a in answer.json()["attempts"]] == ["connect_error"] * 2


def test_a_hang_is_a_504_after_the_try_timeout(sim, gateway):
    sim.control("email1", hang_rate=1)
    answer = httpx.post(gateway.url("/api/email/provider1"), json=EMAIL, timeout=10)
    assert answer.status_code == 504
    assert answer.json()["outcome"] == "timeout"


def test_a_reset_mid_answer_is_a_502_and_not_retried(sim, gateway):
    sim.control("email2", reset_rate=1, fail_rate=0)
    answer = httpx.post(gateway.url("/api/email/provider2"), json=EMAIL)
    assert answer.status_code == 502
    assert answer.json()["outcome"] == "reset"
    assert sim.ledger("email2")["attempts"]["reset"] == 1, "ambiguous: never sent twice"


def test_unknown_provider_and_oversized_bodies_are_refused_locally(sim, gateway):
    assert httpx.post(gateway.url("/api/sms/provider9"), json=SMS).status_code == 404
    big = {**SMS, "text": "x" * 70_000}
    assert httpx.post(gateway.url("/api/sms/provider1"), json=big).status_code == 413
    assert sum(sim.ledger(scope="all")["attempts"].values()) == 0
