"""The six providers' live state, and every change made to it while running.

The app reads a provider's state on each request; the control endpoint and
outage timers change it here. Outages are reconciled, not toggled: a change
records the outage it *wants* and `_reconcile` moves the listener toward it
under a per-provider lock, so overlapping toggles and windows cannot leave a
port closed while the provider is meant to be up (a failed re-listen retries).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from simulator.behaviour import streams
from simulator.knobs import (
    ALL_PORTS_CLOSED,
    KnobError,
    Knobs,
    OutageMode,
    canonical_name,
    closes_every_port_for_good,
)
from simulator.ledger import Ledger
from simulator.providers import PROVIDERS, Provider, select

logger = logging.getLogger("gateway_sim")

_RELISTEN_RETRY_S: Final = 0.5
_OUTAGE_KNOBS: Final = frozenset({"down", "down_after_s", "down_for_s"})


class Port(Protocol):
    """What the fleet needs of a provider's listener."""

    port: int

    @property
    def listening(self) -> bool: ...

    async def start(self) -> None: ...

    def stop(self) -> None: ...


class ProviderState:
    """One provider's knobs, random streams, ledger and outage, as the app reads them."""

    def __init__(self, provider: Provider, knobs: Knobs) -> None:
        self.provider = provider
        self.initial_knobs = knobs
        self.knobs = knobs
        self.outcome_rng, self.latency_rng = streams(knobs.seed, provider.name)
        self.ledger = Ledger()
        self.outage: OutageMode | None = None  # in effect now
        self.wanted_outage: OutageMode | None = None
        self.port: Port | None = None
        self.outage_starts_at: float | None = None
        self.outage_ends_at: float | None = None
        self.timers: list[asyncio.TimerHandle] = []
        self.lock = asyncio.Lock()

    def reseed(self) -> None:
        self.outcome_rng, self.latency_rng = streams(self.knobs.seed, self.provider.name)

    def view(self, now: float) -> dict[str, Any]:
        """This provider as the control endpoint shows it."""
        port = self.port
        return {
            "port": port.port if port is not None else None,
            "listening": port.listening if port is not None else False,
            "outage": self.outage,
            "outage_starts_in_s": _remaining(self.outage_starts_at, now),
            "outage_ends_in_s": _remaining(self.outage_ends_at, now),
            "knobs": self.knobs.as_dict(),
        }


def _remaining(deadline: float | None, now: float) -> float | None:
    return None if deadline is None else round(max(0.0, deadline - now), 3)


class Fleet:
    """All six providers; resolves targets and applies knob changes and resets."""

    def __init__(self, knobs: Mapping[str, Knobs]) -> None:
        self.states = {p.name: ProviderState(p, knobs.get(p.name, Knobs())) for p in PROVIDERS}
        self._tasks: set[asyncio.Task[None]] = set()

    def select(self, target: str) -> list[ProviderState]:
        """States of the providers `target` names; `LookupError` for an unknown name."""
        return [self.states[provider.name] for provider in select(target)]

    def view(self, states: Iterable[ProviderState]) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        return {state.provider.name: state.view(now) for state in states}

    async def start(self) -> None:
        """Apply the outages the command line asked for, once every port listens."""
        for state in self.states.values():
            self._schedule(state)
            await self._reconcile(state)

    def stop(self) -> None:
        for state in self.states.values():
            _cancel_timers(state)
        for task in self._tasks:
            task.cancel()

    async def change(self, states: list[ProviderState], changes: Mapping[str, object]) -> None:
        """Apply a partial knob update to every state, or to none if one refuses it.

        Raises `KnobError` naming the knob before anything changes.
        """
        updated = [(state, state.knobs.updated(changes)) for state in states]
        self._keep_one_port_reachable({s.provider.name: k for s, k in updated})
        touched = {canonical_name(name) for name in changes}
        for state, knobs in updated:
            state.knobs = knobs
            if "seed" in touched:
                state.reseed()
        if touched & _OUTAGE_KNOBS:
            for state, _ in updated:
                self._schedule(state)
                await self._reconcile(state)

    def _keep_one_port_reachable(self, changed: Mapping[str, Knobs]) -> None:
        after = (changed.get(name, state.knobs) for name, state in self.states.items())
        if closes_every_port_for_good(after):
            raise KnobError("down", ALL_PORTS_CLOSED)

    async def reset(self, states: list[ProviderState], *, knobs: bool) -> None:
        """Clear ledgers; with `knobs`, also restore the startup knobs, streams and outages."""
        for state in states:
            state.ledger.clear()
            if knobs:
                state.knobs = state.initial_knobs
                state.reseed()
                self._schedule(state)
                await self._reconcile(state)

    # Outages -----------------------------------------------------------------

    def _schedule(self, state: ProviderState) -> None:
        """Turn the outage knobs into a wanted outage now and timers for later."""
        _cancel_timers(state)
        knobs = state.knobs
        if knobs.down is None:
            state.wanted_outage = None
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if knobs.down_after_s > 0:
            state.wanted_outage = None
            state.outage_starts_at = now + knobs.down_after_s
            state.timers.append(loop.call_later(knobs.down_after_s, self._begin, state, knobs.down))
        else:
            state.wanted_outage = knobs.down
        if knobs.down_for_s is not None:
            ends_in = knobs.down_after_s + knobs.down_for_s
            state.outage_ends_at = now + ends_in
            state.timers.append(loop.call_later(ends_in, self._window_over, state))

    def _begin(self, state: ProviderState, mode: OutageMode) -> None:
        state.outage_starts_at = None
        state.wanted_outage = mode
        self._spawn_reconcile(state)

    def _window_over(self, state: ProviderState) -> None:
        state.knobs = state.knobs.updated({"down": None})
        self._schedule(state)
        self._spawn_reconcile(state)

    def _spawn_reconcile(self, state: ProviderState) -> None:
        task = asyncio.get_running_loop().create_task(self._reconcile(state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, state: ProviderState) -> None:
        """Move the provider's actual outage (and its listener) to the wanted one."""
        async with state.lock:
            wanted = state.wanted_outage
            port = state.port
            if port is not None:
                if wanted == "refuse":
                    port.stop()
                elif not port.listening:
                    try:
                        await port.start()
                    except OSError as exc:
                        logger.error("%s cannot listen again yet: %s", state.provider.name, exc)
                        loop = asyncio.get_running_loop()
                        loop.call_later(_RELISTEN_RETRY_S, self._spawn_reconcile, state)
                        return
            state.outage = wanted


def _cancel_timers(state: ProviderState) -> None:
    for timer in state.timers:
        timer.cancel()
    state.timers.clear()
    state.outage_starts_at = None
    state.outage_ends_at = None
