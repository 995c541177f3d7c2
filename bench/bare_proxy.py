"""The least a Python proxy can do on this stack: the ceiling the gateway is held to.

Raw ASGI (no framework, no routing, no validation, no metrics, no log), one pooled
aiohttp session, uvicorn on uvloop and httptools with the access log off, one
worker. Every request is forwarded to `<upstream><path>` with its end-to-end
headers; the answer comes back as is.

    .venv/bin/python -m bench.bare_proxy --port 9000 --upstream http://127.0.0.1:8071
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

_NOT_FORWARDED = {b"host", b"content-length", b"connection", b"keep-alive", b"transfer-encoding"}
_NOT_RETURNED = {
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "date",
    "server",
}


class BareProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k not in _NOT_FORWARDED
        }
        if self.session is None:
            raise RuntimeError("the session opens at lifespan startup")
        try:
            async with self.session.post(
                self.upstream + scope["path"], data=body, headers=headers
            ) as response:
                status, content = response.status, await response.read()
                returned = [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.headers.items()
                    if k.lower() not in _NOT_RETURNED
                ]
        except (aiohttp.ClientError, TimeoutError):
            status, content, returned = 502, b'{"error":"bad gateway"}', []
        returned.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": returned})
        await send({"type": "http.response.body", "body": content})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=512, limit_per_host=0),
                    auto_decompress=False,
                    skip_auto_headers=("User-Agent", "Accept-Encoding"),
                    cookie_jar=aiohttp.DummyCookieJar(),
                    timeout=aiohttp.ClientTimeout(total=5),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8071")
    args = parser.parse_args()
    uvicorn.run(
        BareProxy(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
        workers=1,
    )


if __name__ == "__main__":
    main()
