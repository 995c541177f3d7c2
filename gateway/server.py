"""Run the gateway under uvicorn (uvloop, httptools, no access log: we log our own line)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from gateway.config import GatewayConfig, default_config, load_config
from gateway.telemetry.logging import configure_logging

CONFIG_ENV = "GATEWAY_CONFIG"
"""Path of the config file, handed to worker processes (empty: the embedded default)."""


def config_from_environment() -> GatewayConfig:
    path = os.environ.get(CONFIG_ENV, "")
    return load_config(Path(path)) if path else default_config()


def app_from_environment() -> Starlette:
    """uvicorn factory for worker processes, which re-read the config they are given."""
    from gateway.app import create_app

    path = os.environ.get(CONFIG_ENV, "")
    config = config_from_environment()
    configure_logging(config.server.log_level)
    return create_app(config, config_path=Path(path) if path else None)


def serve(
    config: GatewayConfig, config_path: Path | None, *, host: str, port: int, workers: int
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM, then drain in-flight requests
    for at most `server.shutdown_timeout_ms` and exit."""
    os.environ[CONFIG_ENV] = str(config_path) if config_path else ""
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "server_header": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": config.server.shutdown_timeout_ms / 1000,
        "timeout_keep_alive": 30,
    }
    if workers > 1:
        # Each worker writes metric samples here; any worker's /metrics sums them all.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="gateway-metrics-")
        )
        uvicorn.run("gateway.server:app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        return
    uvicorn.run(app_from_environment(), **options)  # type: ignore[arg-type]
