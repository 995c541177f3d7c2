"""The command line and the process: ports, overrides, seeds, signals, start-up errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.sim import PROJECT_ROOT, SimulatorProcess, simulator_command

VALID_SMS = {"phone": "01712345678", "text": "hello"}
Factory = Callable[..., SimulatorProcess]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _statuses(sim: SimulatorProcess, kind: str, index: int, count: int, body: dict) -> list[int]:
    with httpx.Client() as client:
        return [client.post(sim.url(kind, index), json=body).status_code for _ in range(count)]


def test_ports_come_from_the_seed_environment_variables(sim_factory: Factory) -> None:
    ports = _free_ports(6)
    names = ["PORT_SMS_1", "PORT_SMS_2", "PORT_SMS_3", "PORT_EMAIL_1", "PORT_EMAIL_2"]
    env = {name: str(port) for name, port in zip([*names, "PORT_EMAIL_3"], ports, strict=True)}
    sim = sim_factory(free_ports=False, env=env)
    assert list(sim.ports.values()) == ports
    assert f"sms1=http://127.0.0.1:{ports[0]}" in sim.output()
    sim.control("all", fail_rate=0)
    assert (
        httpx.post(
            sim.url("email", 3), json={"subject": "s", "body": "b", "recipients": ["a@b.co"]}
        ).status_code
        == 200
    )


def test_port_flags_override_the_environment(sim_factory: Factory) -> None:
    sms, email = _free_ports(3), _free_ports(3)
    sim = sim_factory(
        "--sms-ports",
        ",".join(map(str, sms)),
        "--email-ports",
        ",".join(map(str, email)),
        free_ports=False,
        env={"PORT_SMS_1": "1"},
    )
    assert [sim.ports[f"sms{i}"] for i in (1, 2, 3)] == sms
    assert [sim.ports[f"email{i}"] for i in (1, 2, 3)] == email


def test_flags_and_provider_overrides_set_startup_knobs(sim_factory: Factory) -> None:
    sim = sim_factory(
        "--fail-rate",
        "1",
        "--latency-ms",
        "1",
        "--provider",
        "sms2:fail_rate=0,latency_ms=0",
        "--provider",
        "email1:down=refuse",
    )
    assert set(_statuses(sim, "sms", 1, 50, VALID_SMS)) == {500}
    assert set(_statuses(sim, "sms", 2, 50, VALID_SMS)) == {200}
    assert sim.view("sms2")["knobs"]["latency_ms"] == 0
    assert sim.view("sms3")["knobs"]["latency_ms"] == 1
    assert sim.view("email1")["listening"] is False
    assert f"email1=http://127.0.0.1:{sim.ports['email1']} (refusing)" in sim.output()
    with pytest.raises(httpx.ConnectError):
        httpx.post(sim.url("email", 1), json={})
    sim.control("email1", down=None)  # and reset restores the command line's outage
    assert sim.view("email1")["listening"] is True
    sim.reset()
    assert sim.view("email1")["listening"] is False


def test_same_seed_same_sequence_across_processes(sim_factory: Factory) -> None:
    first = sim_factory("--seed", "42")
    second = sim_factory("--seed", "42")
    other = sim_factory("--seed", "43")
    sequence = _statuses(first, "sms", 1, 80, VALID_SMS)
    assert _statuses(second, "sms", 1, 80, VALID_SMS) == sequence
    assert _statuses(other, "sms", 1, 80, VALID_SMS) != sequence


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_every_port_and_exits_0(sim_factory: Factory, sig: int) -> None:
    sim = sim_factory("--hang-rate", "1")
    # A request that will never be answered must not hold the shutdown up.
    outcome: list[BaseException] = []

    def hang() -> None:
        try:
            httpx.post(sim.url("sms", 1), json=VALID_SMS, timeout=10)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    hung = threading.Thread(target=hang, daemon=True)
    hung.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert sim.stop(sig) == 0
    assert time.monotonic() - started < 3.0
    for port in sim.ports.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    hung.join(5)
    assert outcome, "the hung request should end with a transport error"


def test_a_busy_port_is_a_clear_error_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            simulator_command(
                "--sms-ports",
                f"0,{port},0",
                "--email-ports",
                "0,0,0",
                "--ready-file",
                str(tmp_path / "ready.json"),
            ),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for sms2" in result.stderr
    assert not (tmp_path / "ready.json").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fail-rate", "2"], "fail_rate: must be between 0 and 1"),
        (["--provider", "sms2:fale_rate=0"], "fale_rate: unknown knob"),
        (["--provider", "sms9:fail_rate=0"], "unknown provider 'sms9'"),
        (["--latency-p50-ms", "10"], "latency_p99_ms"),
        (["--sms-ports", "1,2"], "--sms-ports: expected 3 ports"),
    ],
)
def test_bad_command_line_exits_2_naming_the_knob(args: list[str], words: str) -> None:
    result = subprocess.run(
        simulator_command(*args), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert words in result.stderr


def test_console_script_documents_every_knob() -> None:
    script = Path(sys.executable).with_name("gateway-sim")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    for flag in (
        "--fail-rate",
        "--latency-ms",
        "--tail-ratio",
        "--tail-ms",
        "--latency-p50-ms",
        "--latency-p99-ms",
        "--hang-rate",
        "--reset-rate",
        "--throttle-rate",
        "--retry-after",
        "--down",
        "--down-after-s",
        "--down-for-s",
        "--seed",
        "--provider",
        "--ready-file",
        "/__control",
        "/__ledger",
        "/__reset",
    ):
        assert flag in help_text
