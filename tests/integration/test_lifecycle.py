"""Process lifecycle: graceful shutdown, reload on SIGHUP, several workers."""

import concurrent.futures
import signal
import time

import httpx

from tests.support.gateway import running_gateway

SMS = {"phone": "01712345678", "text": "hello"}


def test_sigterm_lets_in_flight_requests_finish(sim):
    sim.control("sms1", latency_ms=1500, fail_rate=0)
    with running_gateway(sim) as gateway, concurrent.futures.ThreadPoolExecutor() as pool:
        pending = pool.submit(httpx.post, gateway.url("/api/sms/provider1"), json=SMS, timeout=10)
        time.sleep(0.5)  # the request is now waiting on the provider
        gateway.process.send_signal(signal.SIGTERM)
        answer = pending.result()
        assert answer.status_code == 200
        assert answer.json() == {"message": "SMS sent via Provider 1"}
        # uvicorn drains, then re-raises the signal it caught: exit by SIGTERM (or 0).
        assert gateway.process.wait(10) in (0, -signal.SIGTERM)
        assert sim.ledger("sms1")["accepted"] == 1


def test_sighup_reloads_and_a_bad_file_keeps_the_old_config(sim):
    sim.control("all", fail_rate=1)
    with running_gateway(sim, "policies:\n  failover:\n    retry: {max_attempts: 2}\n") as gw:
        first = httpx.post(gw.url("/api/sms"), json=SMS).json()
        assert first["reason"] == "all 2 attempts used"

        text = gw.config_file.read_text().replace("max_attempts: 2", "max_attempts: 3")
        gw.config_file.write_text(text)
        gw.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "config_reloaded" not in gw.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.post(gw.url("/api/sms"), json=SMS).json()["reason"] == "all 3 attempts used"

        gw.config_file.write_text(text.replace("max_attempts: 3", "max_attempts: nine"))
        gw.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "config_rejected" not in gw.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        rejected = next(line for line in gw.log().splitlines() if "config_rejected" in line)
        assert "policies.failover.retry.max_attempts" in rejected
        assert httpx.post(gw.url("/api/sms"), json=SMS).json()["reason"] == "all 3 attempts used"


def test_two_workers_serve_and_report_metrics_together(sim):
    sim.control("all", fail_rate=0)
    with running_gateway(sim, workers=2) as gateway, httpx.Client() as client:
        for _ in range(40):
            # A new connection each time, so both workers get some.
            answer = client.post(
                gateway.url("/api/email/provider3"),
                json={"subject": "s", "body": "b", "recipients": ["a@b.io"]},
                headers={"connection": "close"},
            )
            assert answer.status_code == 200
        metrics = client.get(gateway.url("/metrics")).text
    line = 'gateway_requests_total{route="transparent",status="200",type="email"}'
    total = sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))
    assert total == 40.0


def test_a_connection_the_provider_closed_when_idle_is_not_reused(sim, gateway):
    # Express closes idle connections after 5 s; a pooled connection kept longer
    # would fail the next send with a reset, which no-duplicates must not retry.
    sim.control("sms2", fail_rate=0)
    assert httpx.post(gateway.url("/api/sms/provider2"), json=SMS).status_code == 200
    time.sleep(5.5)
    assert httpx.post(gateway.url("/api/sms/provider2"), json=SMS).status_code == 200
