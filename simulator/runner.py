"""Run the six providers on one event loop until SIGINT or SIGTERM.

Signals are the process's: one handler stops every port, answers in flight get
a short grace, and the process exits 0. A port that cannot be bound at start
is a clear error and exit 1, before anything is announced as ready.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Final

from simulator.app import ProviderApp
from simulator.fleet import Fleet
from simulator.knobs import Knobs
from simulator.listener import Listener

SHUTDOWN_GRACE_S: Final = 0.5


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the command line decided: where each provider listens and how it behaves."""

    host: str
    ports: dict[str, int]  # provider name -> port; 0 lets the OS pick a free one
    knobs: dict[str, Knobs] = field(default_factory=dict)
    ready_file: Path | None = None


async def serve(plan: Plan) -> int:
    """Serve until a signal; the process's exit status."""
    loop = asyncio.get_running_loop()
    fleet = Fleet(plan.knobs)
    listeners: list[Listener] = []
    for name, state in fleet.states.items():
        listener = Listener(name, plan.host, plan.ports[name], ProviderApp(state, fleet))
        state.port = listener
        listeners.append(listener)
    for listener in listeners:
        try:
            await listener.start()
        except OSError as exc:
            print(
                f"gateway-sim: cannot listen on {plan.host}:{listener.port} "
                f"for {listener.name}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            for started in listeners:
                started.stop()
            return 1

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    _refresh_date(listeners)
    dates = loop.create_task(_keep_date_fresh(listeners))
    await fleet.start()
    _announce(plan, listeners)
    try:
        await stop.wait()
    finally:
        fleet.stop()
        dates.cancel()
        await asyncio.gather(*(listener.shutdown(SHUTDOWN_GRACE_S) for listener in listeners))
        if plan.ready_file is not None:
            plan.ready_file.unlink(missing_ok=True)
    return 0


def _refresh_date(listeners: list[Listener]) -> None:
    headers = [(b"date", formatdate(usegmt=True).encode("ascii"))]
    for listener in listeners:
        listener.set_date(headers)


async def _keep_date_fresh(listeners: list[Listener]) -> None:
    """One timer for all six ports' Date header, instead of one per server."""
    while True:
        await asyncio.sleep(1.0)
        _refresh_date(listeners)


def _announce(plan: Plan, listeners: list[Listener]) -> None:
    """One line on stdout, and the ready file (written whole, then renamed into place)."""
    urls = {listener.name: f"http://{plan.host}:{listener.port}" for listener in listeners}
    shown = " ".join(
        f"{listener.name}={urls[listener.name]}" + ("" if listener.listening else " (refusing)")
        for listener in listeners
    )
    print(f"gateway-sim: {shown} (pid {os.getpid()})", flush=True)
    if plan.ready_file is not None:
        ready = {
            "pid": os.getpid(),
            "host": plan.host,
            "ports": {listener.name: listener.port for listener in listeners},
            "urls": urls,
        }
        partial = plan.ready_file.with_name(plan.ready_file.name + ".partial")
        partial.write_text(json.dumps(ready))
        partial.replace(plan.ready_file)
