"""The small interface every upstream HTTP client offers the rest of the gateway."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete HTTP answer from a provider, whatever its status."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    """Response headers as received (names lower-cased), hop-by-hop ones included;
    the proxy decides what to pass on."""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class UpstreamClient(Protocol):
    """Sends one POST to a provider over a shared, pooled, keep-alive connection pool.

    Implementations raise only `gateway.errors.UpstreamError` subclasses (naming
    `provider`) for calls that produced no complete answer; any HTTP status,
    500 included, is a normal `UpstreamResponse`.
    """

    async def post(
        self, provider: str, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...
