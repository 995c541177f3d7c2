"""The helpers around the plans: the XStream fix, the stack steps, the locustfile's rules."""

from __future__ import annotations

import http.server
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadtest.conftest import JMETER_DIR, ROOT, load_tool
from tests.support.tools import missing

xstream_fix = load_tool("xstream_fix")
stackutil = load_tool("stackutil")

DEBIAN_JMETER = Path("/usr/share/jmeter")


def _fake_home(tmp_path: Path, version: str) -> Path:
    home = tmp_path / "jmeter"
    (home / "bin").mkdir(parents=True)
    with zipfile.ZipFile(home / "bin" / "ApacheJMeter.jar", "w") as jar:
        jar.writestr(
            "META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\nImplementation-Version: {version}\n"
        )
    return home


def test_only_jmeter_2_gets_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _fake_home(tmp_path, "5.6.3")
    monkeypatch.setenv("JMETER_HOME", str(home))
    assert xstream_fix.jmeter_version(home) == "5.6.3"
    assert xstream_fix.fix_arguments("jmeter", tmp_path / "build") == []
    assert xstream_fix.needs_fix("2.13.19691222")
    assert not xstream_fix.needs_fix("5.6.3")
    assert not xstream_fix.needs_fix(None)


@pytest.mark.skipif(
    not (DEBIAN_JMETER / "bin" / "ApacheJMeter.jar").exists() or not shutil.which("javac"),
    reason="needs Debian's JMeter 2.13 and javac (apt-get install -y jmeter default-jdk-headless)",
)
def test_builds_the_fix_for_debian_jmeter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JMETER_HOME", str(DEBIAN_JMETER))
    arguments = xstream_fix.fix_arguments("jmeter", tmp_path)
    assert len(arguments) == 2
    properties = tmp_path / "saveservice.properties"
    assert arguments[0] == f"-Jsaveservice_properties={xstream_fix.CLIMB}{properties}"
    assert arguments[1] == f"-Juser.classpath={tmp_path / 'AllowJMeterTypes.jar'}"
    lines = properties.read_text(encoding="latin-1").splitlines()
    assert lines[-1] == "_gateway.loadtest.AllowJMeterTypes=collection"
    original = (DEBIAN_JMETER / "bin" / "saveservice.properties").read_text(encoding="latin-1")
    assert lines[: len(original.splitlines())] == original.splitlines()
    with zipfile.ZipFile(tmp_path / "AllowJMeterTypes.jar") as jar:
        assert "gateway/loadtest/AllowJMeterTypes.class" in jar.namelist()
    # JMeter resolves the property under its home: the climb lands on the file.
    climbed = Path(str(DEBIAN_JMETER) + arguments[0].split("=", 1)[1]).resolve()
    assert climbed == properties.resolve()


def test_gateway_config_points_providers_at_the_simulator(tmp_path: Path) -> None:
    ready = {
        "urls": {
            f"{t}{i}": f"http://127.0.0.1:{port + i}"
            for t, port in (("sms", 100), ("email", 200))
            for i in (1, 2, 3)
        }
    }
    base = {
        "server": {"log_level": "info"},
        "policies_dir": "policies",
        "providers": {"sms": {"provider1": {"url": "http://x:1", "path": "/custom"}}},
    }
    config = stackutil.gateway_config(ready, base, tmp_path)
    assert config["server"] == {"log_level": "info"}
    assert config["policies_dir"] == str((tmp_path / "policies").resolve())
    assert config["providers"]["sms"]["provider1"] == {
        "url": "http://127.0.0.1:101",
        "path": "/custom",
    }
    assert config["providers"]["email"]["provider3"] == {"url": "http://127.0.0.1:203"}
    assert base["providers"]["sms"]["provider1"]["url"] == "http://x:1"  # base untouched


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 404

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.HTTPServer]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("status", "route"), [(404, "transparent"), (405, "transparent"), (400, "virtual")]
)
def test_probe_route(server: http.server.HTTPServer, status: int, route: str) -> None:
    _Handler.status = status
    assert stackutil.probe_route("127.0.0.1", server.server_address[1]) == route


def test_free_port_is_bindable() -> None:
    port = stackutil.free_port()
    assert 1024 <= port <= 65535


def test_wait_file_gives_up_when_the_process_is_gone(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not stackutil.wait_file(tmp_path / "never.json", timeout=5, pid=gone.pid)
    (tmp_path / "ready.json").write_text(json.dumps({"ok": True}))
    assert stackutil.wait_file(tmp_path / "ready.json", timeout=1)


def test_run_refuses_bad_arguments() -> None:
    run = [str(JMETER_DIR / "run")]
    assert subprocess.run([*run, "--help"], capture_output=True, check=False).returncode == 0
    for bad in (["--bogus"], ["--duration", "0"], ["--plan", "nope"], ["--threads", "x"]):
        done = subprocess.run([*run, *bad], capture_output=True, check=False, cwd=ROOT)
        assert done.returncode == 2, bad


LOCUSTFILE_CHECK = """
import json
import locustfile as lf
row = {"provider": "2"}
assert lf.path_for("sms", "virtual", row) == "/api/sms"
assert lf.path_for("sms", "transparent", row) == "/api/sms/provider2"
assert lf.path_for("email", "provider3", row) == "/api/email/provider3"
assert lf.judge("virtual", 200, 200) == ""
assert lf.judge("virtual", 200, 500) is None
assert lf.judge("transparent", 200, 500) == " [provider 500]"
assert lf.judge("transparent", 400, 400) == " [expected 400]"
assert lf.judge("transparent", 400, 500) is None
assert lf.judge("transparent", 200, 503) is None
assert all(json.dumps(lf.email_body(r)) for r in lf.read_rows("email"))
assert all(json.dumps(lf.sms_body(r)) for r in lf.read_rows("sms"))
print("ok")
"""


def test_locustfile_rules() -> None:
    if importlib.util.find_spec("locust") is None:
        missing("locust is installed by make locust-install")
    # In a child: importing locust monkey-patches the process with gevent.
    done = subprocess.run(
        [sys.executable, "-c", LOCUSTFILE_CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
