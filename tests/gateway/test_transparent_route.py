"""The transparent route: a drop-in for the provider that refuses bad input itself."""

import orjson
import pytest

from gateway.config import parse_config
from gateway.errors import UpstreamTimeout
from gateway.upstream import UpstreamResponse

SMS = {"phone": "01712345678", "text": "hello"}


def post(client, path, payload=None, *, content=None, headers=None):
    headers = {"content-type": "application/json", **(headers or {})}
    body = content if content is not None else orjson.dumps(payload)
    return client.post(path, content=body, headers=headers)


def test_a_good_message_is_forwarded_byte_for_byte_to_the_named_provider(client, upstream):
    raw = b'{ "phone" : "01712345678", "text": "hello" }'
    response = post(client, "/api/sms/provider2", content=raw)
    assert response.status_code == 200
    assert response.json() == {"message": "SMS sent via Provider 1"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    provider, url, body, _, timeout_s = upstream.calls[0]
    assert (provider, url, body) == (
        "sms/provider2",
        "http://127.0.0.1:8072/api/sms/provider2",
        raw,
    )
    assert timeout_s == pytest.approx(2.0)


def test_the_providers_status_and_body_come_back_unchanged(client, upstream):
    upstream.answer = lambda *a: UpstreamResponse(
        500, b'{"error":"Failed to send sms via Provider 1"}', (("content-type", "text/x"),)
    )
    response = post(client, "/api/sms/provider1", SMS)
    assert response.status_code == 500
    assert response.content == b'{"error":"Failed to send sms via Provider 1"}'
    assert response.headers["content-type"] == "text/x"


def test_hop_by_hop_headers_are_stripped_both_ways_and_tracing_is_forwarded(client, upstream):
    response = post(
        client,
        "/api/sms/provider1",
        SMS,
        headers={
            "connection": "keep-alive, x-private",
            "x-private": "secret",
            "keep-alive": "timeout=5",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "idempotency-key": "k-1",
        },
    )
    sent = upstream.calls[0][3]
    assert "x-private" not in sent
    assert "keep-alive" not in sent
    assert "connection" not in sent
    assert sent["traceparent"].startswith("00-0af7651916cd43dd")
    assert sent["idempotency-key"] == "k-1"
    assert "connection" not in {k.lower() for k in response.headers if k.lower() != "connection"}


def test_a_new_request_id_is_made_and_returned(client, upstream):
    response = post(client, "/api/sms/provider1", SMS)
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert upstream.calls[0][3]["x-request-id"] == request_id


def test_the_callers_request_id_is_kept(client, upstream):
    response = post(client, "/api/sms/provider1", SMS, headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert upstream.calls[0][3]["x-request-id"] == "abc-123"


def test_an_invalid_message_gets_the_providers_400_text_and_is_not_forwarded(client, upstream):
    response = post(client, "/api/sms/provider1", {"phone": "123", "text": ""})
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid or missing phone number",
        "field": "phone",
        "errors": [
            {"field": "phone", "message": "Invalid or missing phone number"},
            {"field": "text", "message": "Invalid or missing text"},
        ],
    }
    assert upstream.calls == []


def test_malformed_json_is_a_400_naming_the_body(client, upstream):
    response = post(client, "/api/email/provider1", content=b'{"subject": ')
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert upstream.calls == []


def test_a_non_json_content_type_is_a_400_naming_it(client, upstream):
    response = client.post(
        "/api/sms/provider1", content=b"phone=1", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "content-type"
    assert upstream.calls == []


def test_an_oversized_body_is_a_413_and_not_forwarded(make_client, upstream):
    config = parse_config("server:\n  max_body_bytes: 100\n")
    with make_client(config) as client:
        response = post(client, "/api/sms/provider1", {**SMS, "text": "x" * 200})
    assert response.status_code == 413
    assert response.json() == {
        "error": "Request body exceeds 100 bytes",
        "field": "body",
        "limit_bytes": 100,
    }
    assert upstream.calls == []


@pytest.mark.parametrize("path", ["/api/fax/provider1", "/api/sms/provider4", "/api/sms/main"])
def test_unknown_type_or_provider_is_a_json_404(client, upstream, path):
    response = post(client, path, SMS)
    assert response.status_code == 404
    assert "error" in response.json()
    assert upstream.calls == []


def test_unknown_paths_and_methods_answer_json(client):
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    wrong_method = client.get("/api/sms/provider1")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "Method Not Allowed"}


def test_an_upstream_timeout_is_a_504_naming_the_provider(client, upstream):
    def hang(provider, *_):
        raise UpstreamTimeout(provider, 2.0)

    upstream.answer = hang
    response = post(
        client, "/api/email/provider3", {"subject": "s", "body": "b", "recipients": ["a@b.io"]}
    )
    assert response.status_code == 504
    assert response.json()["provider"] == "email/provider3"
    assert response.json()["outcome"] == "timeout"


def test_an_unexpected_bug_is_a_json_500_without_traceback(client, upstream):
    def bug(*_):
        raise RuntimeError("boom")

    upstream.answer = bug
    response = post(client, "/api/sms/provider1", SMS)
    assert response.status_code == 500
    assert response.json() == {"error": "Internal gateway error"}


def test_the_client_is_closed_on_shutdown(make_client, upstream):
    with make_client() as client:
        assert client.get("/readyz").json()["status"] == "ready"
    assert upstream.closed
