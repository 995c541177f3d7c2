"""One provider's port: uvicorn's httptools protocol on a socket we own.

We drive uvicorn's protocol directly instead of `uvicorn.Server` because an
outage in `refuse` mode must really close the listening socket and later open
it again on the same port, six ports share one loop, and signals belong to the
process, not to one server. The protocol is uvicorn's, so HTTP parsing,
keep-alive and flow control are exactly what `uvicorn` would do.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from simulator.admin import ADMIN_PATHS
from simulator.asgi import TRANSPORT_EXTENSION

BACKLOG: Final = 2048
KEEP_ALIVE_S: Final = 5  # Express's keepAliveTimeout


class _Protocol(HttpToolsProtocol):
    """uvicorn's protocol, also handing the app its transport: ASGI has no message
    for "reset this connection", and a failing provider does exactly that."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {TRANSPORT_EXTENSION: {"transport": self.transport}}


class Listener:
    """Serves one ASGI app on host:port; can stop listening and start again."""

    def __init__(self, name: str, host: str, port: int, app: Any) -> None:
        self.name = name
        self.host = host
        self.port = port  # 0 until the first bind picks a free port
        self.config = uvicorn.Config(
            app,
            http=_Protocol,
            ws="none",
            interface="asgi3",
            lifespan="off",
            access_log=False,
            log_config=None,
            proxy_headers=False,
            server_header=False,
            date_header=False,  # kept fresh for all six ports by `set_date`
            timeout_keep_alive=KEEP_ALIVE_S,
            backlog=BACKLOG,
        )
        self.config.load()
        self.state = ServerState()
        self._server: asyncio.AbstractServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def _protocol(self) -> asyncio.Protocol:
        return _Protocol(config=self.config, server_state=self.state, app_state={})

    async def start(self) -> None:
        """Listen (again) on the port; raises OSError if it cannot be bound."""
        if self._server is not None:
            return
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, sock=sock, backlog=BACKLOG)

    def stop(self) -> None:
        """Close the listening socket and drop every connection, as a crashed process
        would: new connections are refused and open ones break.

        An admin call in flight is spared until it has answered: it may be the very
        `POST /__control` that closed this port, and its caller needs the answer.
        """
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.state.connections):
            if isinstance(connection, HttpToolsProtocol) and _answering_admin(connection):
                connection.shutdown()  # closes once the answer is sent
            else:
                connection.transport.abort()

    async def shutdown(self, grace_s: float) -> None:
        """Stop listening, let answers in flight finish for up to `grace_s`, then cut the rest."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.state.connections):
            connection.shutdown()  # closes idle keep-alive connections at once
        if self.state.tasks:
            await asyncio.wait(list(self.state.tasks), timeout=grace_s)
        for connection in list(self.state.connections):
            connection.transport.abort()
        tasks = list(self.state.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def set_date(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.state.default_headers = headers


def _answering_admin(connection: HttpToolsProtocol) -> bool:
    cycle = connection.cycle
    answering = cycle is not None and not cycle.response_complete
    return answering and connection.scope.get("path") in ADMIN_PATHS


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Re-listening on the same port after an outage must not wait for TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
