"""The opt-in knobs, observed from outside on a real process.

Timing checks only use bounds a loaded machine cannot break: a wait is never
shorter than asked, and "fast" is judged against a threshold far above a
normal answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import aiohttp
import httpx
import pytest

from tests.support.sim import SimulatorError, SimulatorProcess

VALID_SMS = {"phone": "01712345678", "text": "hello"}


def _post(url: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.post(url, json=VALID_SMS, timeout=timeout)


async def _timed_posts(url: str, count: int) -> list[float]:
    async def one(session: aiohttp.ClientSession) -> float:
        started = time.perf_counter()
        async with session.post(url, json=VALID_SMS) as response:
            await response.read()
            assert response.status == 200
        return time.perf_counter() - started

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=count)) as session:
        return await asyncio.gather(*(one(session) for _ in range(count)))


# Latency --------------------------------------------------------------------------------


def test_base_latency_delays_every_answer(sim: SimulatorProcess) -> None:
    sim.control("sms1", latency_ms=100, fail_rate=0)
    for _ in range(3):
        started = time.perf_counter()
        assert _post(sim.url("sms", 1)).status_code == 200
        assert time.perf_counter() - started >= 0.095


def test_latency_does_not_delay_a_400(sim: SimulatorProcess) -> None:
    sim.control("sms1", latency_ms=2000)
    response = httpx.post(sim.url("sms", 1), json={"phone": "1"}, timeout=1.0)
    assert response.status_code == 400


async def test_tail_slows_the_seeded_fraction_of_requests(sim: SimulatorProcess) -> None:
    count, seed, tail_ratio = 60, 11, 0.3
    sim.control("sms1", fail_rate=0, tail_ratio=tail_ratio, tail_ms=400, seed=seed)
    # The tail draws one number per request from the provider's latency stream,
    # so how many fall in the tail is known exactly, whatever the arrival order.
    stream = random.Random(f"{seed}/sms1/latency")
    expected = sum(stream.random() < tail_ratio for _ in range(count))
    elapsed = await _timed_posts(sim.url("sms", 1), count)
    slow = sum(seconds >= 0.2 for seconds in elapsed)
    assert expected <= slow <= expected + 3  # a loaded machine may slow a fast one, never speed
    assert sum(seconds >= 0.395 for seconds in elapsed) >= expected


async def test_lognormal_latency_is_around_its_median(sim: SimulatorProcess) -> None:
    sim.control("sms1", fail_rate=0, latency_p50_ms=40, latency_p99_ms=80)
    elapsed = sorted(await _timed_posts(sim.url("sms", 1), 40))
    assert 0.025 <= elapsed[len(elapsed) // 2] <= 0.5


# Hang, reset, throttle --------------------------------------------------------------------


def test_hang_never_answers_until_the_client_gives_up(sim: SimulatorProcess) -> None:
    sim.control("sms1", hang_rate=1)
    with pytest.raises(httpx.ReadTimeout):
        _post(sim.url("sms", 1), timeout=0.3)
    ledger = sim.ledger("sms1")
    assert ledger["attempts"]["hang"] == 1
    assert ledger["accepted"] == 0


def test_reset_breaks_the_response_for_httpx(sim: SimulatorProcess) -> None:
    sim.control("sms1", reset_rate=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _post(sim.url("sms", 1))
    ledger = sim.ledger("sms1")
    assert ledger["attempts"]["reset"] == 1
    assert ledger["accepted"] == 1  # the provider did send; only the answer was lost


async def test_reset_breaks_the_response_for_aiohttp(sim: SimulatorProcess) -> None:
    sim.control("sms1", reset_rate=1)
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            with pytest.raises(aiohttp.ClientError):
                async with session.post(sim.url("sms", 1), json=VALID_SMS) as response:
                    await response.read()


def test_throttle_answers_429_with_retry_after(sim: SimulatorProcess) -> None:
    sim.control("sms2", throttle_rate=1, retry_after_s=3)
    response = _post(sim.url("sms", 2))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json() == {"error": "Too many requests to sms Provider 2"}
    assert sim.ledger("sms2")["attempts"]["429"] == 1


# Outages --------------------------------------------------------------------------------


def test_outage_500_fails_every_valid_request(sim: SimulatorProcess) -> None:
    sim.control("email3", down="500", fail_rate=0)
    body = {"subject": "s", "body": "b", "recipients": ["a@b.co"]}
    for _ in range(20):
        response = httpx.post(sim.url("email", 3), json=body)
        assert response.status_code == 500
        assert response.json() == {"error": "Failed to send email via Provider 3"}
    sim.control("email3", down=None)
    assert httpx.post(sim.url("email", 3), json=body).status_code == 200


def test_refuse_closes_the_port_until_toggled_up_through_another_port(
    sim: SimulatorProcess,
) -> None:
    sim.control("sms2", fail_rate=0)
    url = sim.url("sms", 2)
    with httpx.Client() as client:
        assert client.post(url, json=VALID_SMS).status_code == 200  # keep-alive connection
        view = sim.control("sms2", down="refuse")["sms2"]
        assert (view["listening"], view["outage"]) == (False, "refuse")
        with pytest.raises(httpx.TransportError):  # the open connection was cut too
            client.post(url, json=VALID_SMS)
    with pytest.raises(httpx.ConnectError):
        _post(url)
    # sms2 has no listener now, so it is brought up through sms1's port.
    answer = httpx.post(
        sim.base_url("sms", 1) + "/__control", json={"target": "sms2", "down": None}
    )
    assert answer.json()["providers"]["sms2"]["listening"] is True
    assert _post(url).status_code == 200
    assert sim.view("sms2")["port"] == sim.ports["sms2"]


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _refused(url: str) -> bool:
    try:
        _post(url, timeout=1.0)
    except httpx.ConnectError:
        return True
    return False


def test_refuse_window_ends_by_itself(sim: SimulatorProcess) -> None:
    url = sim.url("email", 1)
    view = sim.control("email1", down="refuse", down_for_s=0.4)["email1"]
    assert 0 < view["outage_ends_in_s"] <= 0.4
    assert _refused(url)
    waited = _wait_until(lambda: not _refused(url))
    assert waited <= 5.0
    after = sim.view("email1")
    assert (after["outage"], after["knobs"]["down"], after["knobs"]["down_for_s"]) == (
        None,
        None,
        None,
    )


def test_outage_can_start_later(sim: SimulatorProcess) -> None:
    sim.control("sms3", fail_rate=0)
    view = sim.control("sms3", down="500", down_after_s=0.3, down_for_s=0.3)["sms3"]
    assert view["outage"] is None
    assert view["outage_starts_in_s"] > 0
    assert _post(sim.url("sms", 3)).status_code == 200
    _wait_until(lambda: _post(sim.url("sms", 3)).status_code == 500)
    _wait_until(lambda: _post(sim.url("sms", 3)).status_code == 200)


def test_closing_every_port_for_good_is_refused(sim: SimulatorProcess) -> None:
    # With every port closed no admin call could get through to bring one back.
    with pytest.raises(SimulatorError) as caught:
        sim.control("all", down="refuse")
    assert caught.value.answer["knob"] == "down"
    assert all(sim.view(name)["listening"] for name in sim.ports)


def test_every_port_can_close_for_a_window(sim: SimulatorProcess) -> None:
    sim.control("all", down="refuse", down_for_s=0.3)
    assert all(_refused(sim.url(name[:-1], int(name[-1]))) for name in sim.ports)
    _wait_until(lambda: not any(_refused(sim.url(n[:-1], int(n[-1]))) for n in sim.ports))


def test_reset_brings_refusing_providers_back_up(sim: SimulatorProcess) -> None:
    sim.control("sms", down="refuse")
    sim.reset()
    assert _post(sim.url("sms", 1)).status_code in (200, 500)
