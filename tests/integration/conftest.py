"""Real processes on loopback: one simulator and one gateway shared by the module."""

import pytest

from tests.support.gateway import running_gateway
from tests.support.sim import running_simulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim_process():
    with running_simulator("--seed", "11") as sim:
        yield sim


@pytest.fixture
def sim(sim_process):
    sim_process.reset()
    return sim_process


@pytest.fixture(scope="module")
def gateway(sim_process):
    with running_gateway(sim_process, "policies:\n  passthrough:\n    try_timeout_ms: 500\n") as gw:
        yield gw
