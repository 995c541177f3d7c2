"""A real loopback HTTP server whose answer each test chooses: ok, 500, hang, reset."""

import asyncio
import contextlib

import pytest

from gateway.upstream.aiohttp_client import AiohttpUpstreamClient
from gateway.upstream.httpx_client import HttpxUpstreamClient


class ScriptedServer:
    """Speaks just enough HTTP/1.1; `behaviour` decides how each request is answered."""

    def __init__(self) -> None:
        self.behaviour = "ok"
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/sms/provider1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((lines[0], headers, body))
                if self.behaviour == "hang":
                    await asyncio.sleep(3600)
                if self.behaviour == "reset":
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"par')
                    await writer.drain()
                    writer.transport.abort()
                    return
                status = b"500 Internal Server Error" if self.behaviour == "500" else b"200 OK"
                payload = b'{"message":"SMS sent via Provider 1"}'
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json; charset=utf-8\r\n"
                    b"Retry-After: 3\r\nContent-Length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def provider():
    server = ScriptedServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(params=["aiohttp", "httpx"])
async def client(request):
    cls = AiohttpUpstreamClient if request.param == "aiohttp" else HttpxUpstreamClient
    upstream = cls(max_connections=10, connect_timeout_s=1.0)
    yield upstream
    await upstream.aclose()
