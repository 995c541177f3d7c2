"""Both upstream clients keep the same contract, against a real loopback server."""

import socket

import pytest

from gateway.errors import UpstreamConnectError, UpstreamReset, UpstreamTimeout

HEADERS = {"content-type": "application/json", "x-request-id": "r1"}


async def test_an_answer_comes_back_whole_with_its_headers(client, provider):
    response = await client.post("sms/provider1", provider.url, b'{"a":1}', HEADERS, 2.0)
    assert response.status == 200
    assert response.body == b'{"message":"SMS sent via Provider 1"}'
    assert response.header("content-type") == "application/json; charset=utf-8"
    request_line, headers, body = provider.requests[0]
    assert request_line == "POST /api/sms/provider1 HTTP/1.1"
    assert headers["x-request-id"] == "r1"
    assert body == b'{"a":1}'


async def test_a_500_is_an_answer_not_an_error(client, provider):
    provider.behaviour = "500"
    response = await client.post("sms/provider1", provider.url, b"{}", HEADERS, 2.0)
    assert response.status == 500
    assert response.header("retry-after") == "3"


async def test_connections_are_reused(client, provider):
    for _ in range(5):
        await client.post("sms/provider1", provider.url, b"{}", HEADERS, 2.0)
    assert len(provider.requests) == 5
    # keep-alive: the scripted server serves all five on one connection
    assert all(h.get("connection", "keep-alive") != "close" for _, h, _ in provider.requests)


async def test_a_hang_becomes_a_timeout_naming_the_provider(client, provider):
    provider.behaviour = "hang"
    with pytest.raises(UpstreamTimeout, match="sms/provider1 did not answer within 200 ms"):
        await client.post("sms/provider1", provider.url, b"{}", HEADERS, 0.2)


async def test_a_cut_response_becomes_a_reset(client, provider):
    provider.behaviour = "reset"
    with pytest.raises(UpstreamReset) as caught:
        await client.post("sms/provider1", provider.url, b"{}", HEADERS, 2.0)
    assert caught.value.to_json()["outcome"] == "reset"


async def test_a_refused_connection_becomes_a_connect_error(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamConnectError) as caught:
        await client.post("sms/provider9", f"http://127.0.0.1:{port}/x", b"{}", HEADERS, 1.0)
    assert caught.value.status_code == 502
    assert caught.value.provider == "sms/provider9"
