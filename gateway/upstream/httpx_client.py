"""The httpx upstream client (`upstream.client: httpx`), kept because the user named
httpx; aiohttp is the default for its throughput (README, "Upstream client")."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gateway.errors import UpstreamConnectError, UpstreamReset, UpstreamTimeout
from gateway.upstream.base import UpstreamResponse


class HttpxUpstreamClient:
    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout_s: float,
        keepalive_s: float = 4.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_s,
            ),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    async def post(
        self, provider: str, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> UpstreamResponse:
        timeout = httpx.Timeout(timeout_s, connect=min(self._connect_timeout_s, timeout_s))
        try:
            response = await self._client.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(provider, timeout_s) from exc
        except httpx.ConnectError as exc:
            raise UpstreamConnectError(provider) from exc
        except httpx.TransportError as exc:  # RemoteProtocolError, ReadError, WriteError
            raise UpstreamReset(provider) from exc
        return UpstreamResponse(
            status=response.status_code,
            body=response.content,
            headers=tuple((k.lower(), v) for k, v in response.headers.multi_items()),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
