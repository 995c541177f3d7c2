"""An in-memory upstream client for route tests that need no sockets."""

import asyncio
import threading
from collections.abc import Callable, Mapping

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import GatewayConfig, default_config
from gateway.upstream import UpstreamResponse

Answer = Callable[[str, str, bytes, Mapping[str, str]], UpstreamResponse]


def ok(provider: str, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
    return UpstreamResponse(
        200,
        b'{"message":"SMS sent via Provider 1"}',
        (("content-type", "application/json; charset=utf-8"), ("connection", "keep-alive")),
    )


class FakeUpstream:
    """Records every call and answers with `answer` (or raises what it raises).

    While `gate` is cleared, calls wait for it (the app runs in the test client's
    own thread and loop, hence a threading.Event waited for off the loop).
    """

    def __init__(self, answer: Answer = ok) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, bytes, dict[str, str], float]] = []
        self.closed = False
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    async def post(self, provider, url, body, headers, timeout_s):
        self.calls.append((provider, url, body, dict(headers), timeout_s))
        if not self.gate.is_set():
            self.waiting.set()
            await asyncio.to_thread(self.gate.wait, 10)
        return self.answer(provider, url, body, headers)

    async def aclose(self):
        self.closed = True


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def make_client(upstream):
    def make(config: GatewayConfig | None = None) -> TestClient:
        return TestClient(
            create_app(config or default_config(), client=upstream), raise_server_exceptions=False
        )

    return make


@pytest.fixture
def client(make_client):
    with make_client() as test_client:
        yield test_client
