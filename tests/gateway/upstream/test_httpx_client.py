"""The httpx client's error mapping, with respx standing in for the network."""

import httpx
import pytest
import respx

from gateway.errors import UpstreamConnectError, UpstreamReset, UpstreamTimeout
from gateway.upstream.httpx_client import HttpxUpstreamClient

URL = "http://provider.test/api/email/provider2"


@pytest.fixture
async def client():
    upstream = HttpxUpstreamClient(max_connections=4, connect_timeout_s=0.5)
    yield upstream
    await upstream.aclose()


@respx.mock
async def test_status_body_and_headers_pass_through(client):
    route = respx.post(URL).mock(
        return_value=httpx.Response(429, content=b"slow down", headers={"Retry-After": "7"})
    )
    response = await client.post("email/provider2", URL, b"{}", {"idempotency-key": "k"}, 1.0)
    assert (response.status, response.body, response.header("retry-after")) == (
        429,
        b"slow down",
        "7",
    )
    assert route.calls.last.request.headers["idempotency-key"] == "k"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectError("refused"), UpstreamConnectError),
        (httpx.ConnectTimeout("slow connect"), UpstreamTimeout),
        (httpx.ReadTimeout("slow answer"), UpstreamTimeout),
        (httpx.RemoteProtocolError("peer closed"), UpstreamReset),
        (httpx.ReadError("reset by peer"), UpstreamReset),
    ],
)
@respx.mock
async def test_transport_failures_map_to_gateway_errors(client, raised, expected):
    respx.post(URL).mock(side_effect=raised)
    with pytest.raises(expected) as caught:
        await client.post("email/provider2", URL, b"{}", {}, 1.0)
    assert caught.value.provider == "email/provider2"
    assert caught.value.__cause__ is raised
