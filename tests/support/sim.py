"""Run gateway-sim as a real process for tests, on free loopback ports.

    with running_simulator("--seed", "1") as sim:
        httpx.post(sim.url("sms", 2), json={...})
        sim.control("sms2", down="refuse")
        assert sim.ledger(scope="all")["duplicates"] == 0

Ports are picked by the simulator itself (`0`) and read back from its ready
file, so parallel test runs never race for a port. `simulator_fixture(...)`
turns this into a pytest fixture for a conftest or a test module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import aiohttp
import httpx
import pytest

from tests.support.tools import stop_process

STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
PROVIDER_NAMES = ("sms1", "sms2", "sms3", "email1", "email2", "email3")
# Run from the project root: from elsewhere (say tests/), `-m simulator` could pick up
# the tests/simulator directory as a namespace package instead of the real one.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SimulatorError(RuntimeError):
    """The simulator did not start, or refused an admin call (`.answer` holds its JSON)."""

    def __init__(self, message: str, answer: Any = None) -> None:
        super().__init__(message)
        self.answer = answer


class SimulatorProcess:
    """A running gateway-sim: where each provider listens, and its admin endpoints."""

    def __init__(
        self, process: subprocess.Popen[bytes], host: str, ports: dict[str, int], workdir: Path
    ) -> None:
        self.process = process
        self.host = host
        self.ports = ports  # provider name ("sms1") -> port
        self._workdir = workdir
        self._client = httpx.Client(timeout=5.0)
        self._final_output: str | None = None

    # Addresses ----------------------------------------------------------------

    def base_url(self, kind: str, index: int) -> str:
        """`http://host:port` of provider `index` of `kind` ("sms" or "email")."""
        return f"http://{self.host}:{self.ports[f'{kind}{index}']}"

    def url(self, kind: str, index: int) -> str:
        """The provider's one route, `.../api/<kind>/provider<index>`."""
        return f"{self.base_url(kind, index)}/api/{kind}/provider{index}"

    # Admin endpoints ------------------------------------------------------------

    def admin(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """An admin call through the first provider port that accepts a connection
        (a provider in `refuse` mode has none)."""
        last_error: Exception | None = None
        for name in PROVIDER_NAMES:
            url = f"http://{self.host}:{self.ports[name]}{path}"
            try:
                return self._client.request(method, url, params=params, json=json_body)
            except httpx.ConnectError as exc:
                last_error = exc
        raise SimulatorError(f"no provider port accepts connections: {last_error}")

    def _ok(self, response: httpx.Response) -> dict[str, Any]:
        answer: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise SimulatorError(f"{response.request.url}: {response.status_code} {answer}", answer)
        return answer

    def control(self, target: str = "all", **knobs: Any) -> dict[str, Any]:
        """Change knobs of `target` (sms1..email3, sms, email, all); the providers' views."""
        answer = self._ok(self.admin("POST", "/__control", json_body={"target": target, **knobs}))
        providers: dict[str, Any] = answer["providers"]
        return providers

    def view(self, target: str) -> dict[str, Any]:
        """`target`'s port, listening state, outage and knobs, as `GET /__control` shows them."""
        answer = self._ok(self.admin("GET", "/__control", params={"target": target}))
        provider: dict[str, Any] = answer["providers"][target]
        return provider

    def ledger(
        self,
        provider: str | None = None,
        *,
        scope: Literal["provider", "all"] = "provider",
        keys: Literal["all", "duplicates", "none"] = "all",
    ) -> dict[str, Any]:
        """One provider's ledger, or with `scope="all"` the process-wide view by key."""
        params: dict[str, str] = {"scope": scope, "keys": keys}
        if scope == "provider":
            params["target"] = provider or "sms1"
        return self._ok(self.admin("GET", "/__ledger", params=params))

    def reset(self, *, knobs: bool = True) -> None:
        """Clear every ledger and, by default, restore every provider's startup knobs."""
        self._ok(self.admin("POST", "/__reset", params={"scope": "all", "knobs": str(int(knobs))}))

    # Lifetime -------------------------------------------------------------------

    def output(self) -> str:
        """What the process printed (stdout and stderr), so far or until it stopped."""
        if self._final_output is not None:
            return self._final_output
        return (self._workdir / "output.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Signal the process, kill it if it lingers; its exit status."""
        self._client.close()
        stop_process(self.process, sig, timeout)
        if self._final_output is None:
            self._final_output = self.output()
            shutil.rmtree(self._workdir, ignore_errors=True)
        return self.process.returncode


def simulator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def start_simulator(
    *args: str,
    host: str = "127.0.0.1",
    free_ports: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float = STARTUP_TIMEOUT_S,
) -> SimulatorProcess:
    """Start gateway-sim with `args` and wait until every port listens.

    With `free_ports` (the default) each provider gets a free port; pass False to
    test the `PORT_*` variables or explicit `--sms-ports`/`--email-ports`.
    """
    workdir = Path(tempfile.mkdtemp(prefix="gateway-sim-"))
    ready = workdir / "ready.json"
    command = simulator_command("--host", host, "--ready-file", str(ready))
    if free_ports:
        command += ["--sms-ports", "0,0,0", "--email-ports", "0,0,0"]
    command += args
    with (workdir / "output.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=PROJECT_ROOT,
        )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            process.wait()
            output = (workdir / "output.log").read_text(errors="replace")
            shutil.rmtree(workdir, ignore_errors=True)
            raise SimulatorError(f"gateway-sim did not start (exit {process.returncode}): {output}")
        time.sleep(0.02)
    info = json.loads(ready.read_text())
    return SimulatorProcess(process, host, info["ports"], workdir)


@contextlib.contextmanager
def running_simulator(*args: str, **options: Any) -> Iterator[SimulatorProcess]:
    """`start_simulator` as a context manager that always stops the process."""
    sim = start_simulator(*args, **options)
    try:
        yield sim
    finally:
        sim.stop()


def simulator_fixture(
    *args: str,
    scope: Literal["function", "module", "package", "session"] = "module",
    name: str | None = None,
) -> Any:
    """A pytest fixture yielding a simulator started with `args`, e.g. in a conftest:

    sim = simulator_fixture("--seed", "1", scope="session")
    """

    @pytest.fixture(scope=scope, name=name)
    def _simulator() -> Iterator[SimulatorProcess]:
        with running_simulator(*args) as sim:
            yield sim

    return _simulator


# Load -----------------------------------------------------------------------------


async def post_many(
    url: str,
    body: Any,
    count: int,
    *,
    concurrency: int = 16,
    headers: Mapping[str, str] | None = None,
) -> list[int]:
    """POST `body` to `url` `count` times, `concurrency` at a time; statuses in order sent."""
    statuses = [0] * count
    next_index = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in next_index:
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                statuses[index] = response.status

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses
