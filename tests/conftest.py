"""Test-wide set-up: no test writes to the project's ./data."""

import pytest


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path_factory.mktemp("data")))
