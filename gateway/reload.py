"""Hot reload: on a change of the config file, or SIGHUP, validate and swap.

An invalid file is refused and logged with every problem, and the running
config stays. Requests in flight finish under the rules they started with.
Breaker, budget and latency state restart from scratch with the new policies.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import ConfigError, load_config
from gateway.telemetry.logging import get_logger

if TYPE_CHECKING:
    from gateway.app import Gateway

log = get_logger()


class ConfigReloader:
    """Watches one config file (by polling its modification time, no extra dependency)."""

    def __init__(self, gateway: Gateway, path: Path | None, interval_s: float = 1.0) -> None:
        self._gateway = gateway
        self._path = path
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._seen = self._stamp()
        self.reloads = 0
        self.rejected = 0

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat() if self._path else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat else None

    def reload(self) -> bool:
        """Load the file again and serve it if valid; True when swapped in."""
        if self._path is None:
            return False
        self._seen = self._stamp()
        try:
            config = load_config(self._path)
        except ConfigError as exc:
            self.rejected += 1
            log.error(
                "config_rejected",
                file=str(self._path),
                issues=[str(issue) for issue in exc.issues],
                kept="previous config",
            )
            return False
        self._gateway.apply(config)
        self.reloads += 1
        log.info("config_reloaded", file=str(self._path))
        return True

    def start(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # Not in the main thread (tests) or on a platform without signals: poll only.
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        self._task = asyncio.create_task(self._watch())
        return self._task

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            stamp = self._stamp()
            if stamp is not None and stamp != self._seen:
                self.reload()
