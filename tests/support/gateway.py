"""Run `gateway serve` as a real process for tests, in front of a running simulator.

with running_gateway(sim, "policies:\\n  failover: {...}") as gw:
    httpx.post(gw.url("/api/sms"), json={...})
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.sim import PROJECT_ROOT, SimulatorProcess
from tests.support.tools import free_port, stop_process

STARTUP_TIMEOUT_S = 20.0


def providers_yaml(sim: SimulatorProcess) -> str:
    """The `providers:` section pointing every provider at `sim`."""
    lines = ["providers:"]
    for kind in ("sms", "email"):
        lines.append(f"  {kind}:")
        lines += [f"    provider{i}: {{url: '{sim.base_url(kind, i)}'}}" for i in (1, 2, 3)]
    return "\n".join(lines) + "\n"


class GatewayProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
        self.process = process
        self.port = port
        self.workdir = workdir
        self.config_file = workdir / "gateway.yaml"
        self.log_file = workdir / "output.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        return stop_process(self.process, sig, timeout)


def start_gateway(
    sim: SimulatorProcess, extra_yaml: str = "", *, workers: int = 1
) -> GatewayProcess:
    """Start a gateway whose providers are `sim`'s, with `extra_yaml` appended to its config."""
    workdir = Path(tempfile.mkdtemp(prefix="gateway-"))
    (workdir / "gateway.yaml").write_text(providers_yaml(sim) + extra_yaml)
    port = free_port()
    command = [
        sys.executable, "-m", "gateway", "serve",
        "--config", str(workdir / "gateway.yaml"),
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    with (workdir / "output.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=dict(os.environ)
        )
    gateway = GatewayProcess(process, port, workdir)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            gateway.stop(signal.SIGKILL)
            raise RuntimeError(f"gateway did not start: {gateway.log()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(gateway.url("/readyz"), timeout=1).status_code == 200:
                return gateway
        time.sleep(0.05)


@contextlib.contextmanager
def running_gateway(
    sim: SimulatorProcess, extra_yaml: str = "", *, workers: int = 1
) -> Iterator[GatewayProcess]:
    gateway = start_gateway(sim, extra_yaml, workers=workers)
    try:
        yield gateway
    finally:
        gateway.stop()
        shutil.rmtree(gateway.workdir, ignore_errors=True)
