"""Fixtures for the simulator's tests: one shared process, reset before each test,
and a factory for tests that need their own command line."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.sim import SimulatorProcess, running_simulator, simulator_fixture

sim_process = simulator_fixture(scope="session", name="sim_process")


@pytest.fixture
def sim(sim_process: SimulatorProcess) -> SimulatorProcess:
    """The shared simulator with startup knobs and empty ledgers."""
    sim_process.reset()
    return sim_process


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimulatorProcess]]:
    """Start simulators with their own arguments; all are stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(*args: str, **options: Any) -> SimulatorProcess:
            return stack.enter_context(running_simulator(*args, **options))

        yield start
