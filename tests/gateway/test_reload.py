"""Hot reload swaps a valid config in and keeps the running one when the new is bad."""

import orjson
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import load_config
from gateway.upstream import UpstreamResponse

SMS = orjson.dumps({"phone": "01712345678", "text": "hello"})
JSON = {"content-type": "application/json"}


def always(status):
    return lambda *a: UpstreamResponse(status, b"{}", ())


def write(path, max_attempts):
    path.write_text(f"policies:\n  failover:\n    retry: {{max_attempts: {max_attempts}}}\n")


def test_a_valid_change_is_served_and_a_bad_one_is_refused(tmp_path, upstream):
    config_file = tmp_path / "gateway.yaml"
    write(config_file, 2)
    upstream.answer = always(500)
    app = create_app(load_config(config_file), client=upstream, config_path=config_file)
    with TestClient(app) as client:
        assert client.post("/api/sms", content=SMS, headers=JSON).json()["reason"] == (
            "all 2 attempts used"
        )
        write(config_file, 3)
        assert app.state.reloader.reload()
        assert client.post("/api/sms", content=SMS, headers=JSON).json()["reason"] == (
            "all 3 attempts used"
        )
        config_file.write_text("policies:\n  failover:\n    retry: {max_attempts: -1}\n")
        assert not app.state.reloader.reload()
        assert app.state.reloader.rejected == 1
        assert client.post("/api/sms", content=SMS, headers=JSON).json()["reason"] == (
            "all 3 attempts used"
        ), "the previous config stays"
