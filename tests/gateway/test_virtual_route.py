"""The virtual route /api/<type>: the gateway picks providers by policy."""

import orjson
import pytest

from gateway.config import parse_config
from gateway.errors import UpstreamConnectError
from gateway.upstream import UpstreamResponse

SMS = orjson.dumps({"phone": "01712345678", "text": "hello"})
JSON = {"content-type": "application/json"}


def answers(by_provider):
    """An upstream answer per provider label: a status, or an exception class."""

    def answer(provider, url, body, headers):
        outcome = by_provider.get(provider, 200)
        if isinstance(outcome, type):
            raise outcome(provider)
        return UpstreamResponse(outcome, b'{"message":"from ' + provider.encode() + b'"}', ())

    return answer


def test_failover_delivers_through_the_next_provider(client, upstream):
    upstream.answer = answers({"sms/provider1": 500})
    response = client.post("/api/sms", content=SMS, headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"message": "from sms/provider2"}
    assert response.headers["x-gateway-provider"] == "sms/provider2"
    assert response.headers["x-gateway-attempts"] == "2"
    assert response.headers["x-gateway-possible-duplicates"] == "0"
    assert [call[0] for call in upstream.calls] == ["sms/provider1", "sms/provider2"]


def test_every_attempt_carries_the_same_message_id(client, upstream):
    upstream.answer = answers({"sms/provider1": 500, "sms/provider2": UpstreamConnectError})
    response = client.post("/api/sms", content=SMS, headers={**JSON, "idempotency-key": "otp-42"})
    keys = {(c[3]["idempotency-key"], c[3]["x-notification-id"]) for c in upstream.calls}
    assert keys == {("otp-42", "otp-42")}
    assert len(upstream.calls) == 3
    assert response.headers["x-notification-id"] == "otp-42"


def test_the_remaining_deadline_is_forwarded(client, upstream):
    client.post("/api/sms", content=SMS, headers={**JSON, "x-request-timeout": "700ms"})
    sent = int(upstream.calls[0][3]["x-request-timeout"])
    assert 0 < sent <= 700
    assert upstream.calls[0][4] <= 0.7, "the per-try timeout is clamped to the deadline"


def test_a_bad_deadline_header_is_a_400_naming_it(client, upstream):
    response = client.post("/api/sms", content=SMS, headers={**JSON, "x-request-timeout": "-5"})
    assert response.status_code == 400
    assert response.json()["field"] == "x-request-timeout"
    assert upstream.calls == []


def test_an_invalid_message_costs_no_provider_call(client, upstream):
    response = client.post("/api/email", content=b'{"subject": "s"}', headers=JSON)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["body", "recipients"]
    assert upstream.calls == []


def test_exhaustion_is_a_502_naming_each_attempt(make_client, upstream):
    config = parse_config("policies:\n  failover:\n    retry: {max_attempts: 3}\n")
    upstream.answer = answers({f"sms/provider{i}": 500 for i in (1, 2, 3)})
    with make_client(config) as client:
        response = client.post("/api/sms", content=SMS, headers=JSON)
    assert response.status_code == 502
    body = response.json()
    assert body["reason"] == "all 3 attempts used"
    assert [(a["provider"], a["outcome"]) for a in body["attempts"]] == [
        ("sms/provider1", "5xx"),
        ("sms/provider2", "5xx"),
        ("sms/provider3", "5xx"),
    ]


def test_open_breakers_fail_fast_with_503_and_retry_after(make_client, upstream):
    config = parse_config(
        "policies:\n  failover:\n    retry: {max_attempts: 3}\n"
        "    breaker: {consecutive_failures: 1, open_ms: 4000}\n"
        "    budget: {kind: none}\n"
    )
    upstream.answer = answers({f"sms/provider{i}": 503 for i in (1, 2, 3)})
    with make_client(config) as client:
        client.post("/api/sms", content=SMS, headers=JSON)
        calls_before = len(upstream.calls)
        response = client.post("/api/sms", content=SMS, headers=JSON)
        metrics = client.get("/metrics").text
    assert response.status_code == 503
    assert response.headers["retry-after"] == "4"
    assert response.json()["attempts"] == []
    assert len(upstream.calls) == calls_before, "fail fast: no provider call"
    assert (
        'gateway_breaker_transitions_total{provider="sms/provider1",route="sms",state="open"}'
        in metrics
    )


def test_a_provider_4xx_goes_back_as_is(client, upstream):
    upstream.answer = answers({"sms/provider1": 422})
    response = client.post("/api/sms", content=SMS, headers=JSON)
    assert response.status_code == 422
    assert len(upstream.calls) == 1


@pytest.mark.parametrize("path", ["/api/fax", "/api/SMS"])
def test_unknown_types_are_404(client, path):
    assert client.post(path, content=SMS, headers=JSON).status_code == 404


def test_delivery_metrics_count_results(client, upstream):
    upstream.answer = answers({"sms/provider1": 500})
    client.post("/api/sms", content=SMS, headers=JSON)
    text = client.get("/metrics").text
    assert 'gateway_deliveries_total{result="delivered",route="virtual",type="sms"} 1.0' in text
    assert 'gateway_upstream_attempts_total{outcome="5xx",provider="sms/provider1"} 1.0' in text
