"""Test-wide set-up: no test writes to the project's ./data; one Redis per session."""

from collections.abc import Iterator

import pytest

from tests.support.tools import run_redis


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on loopback (skipped without one, failed in CI)."""
    yield from run_redis(tmp_path_factory.mktemp("redis"))
