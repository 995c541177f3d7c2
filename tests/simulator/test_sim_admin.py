"""The control endpoint and the send ledger, on a real process."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import orjson
import pytest

from simulator.knobs import KNOB_SPECS
from tests.support.sim import SimulatorProcess, post_many

VALID_SMS = {"phone": "01712345678", "text": "hello"}
VALID_EMAIL = {"subject": "s", "body": "b", "recipients": ["a@b.co"]}


def _control(sim: SimulatorProcess, body: object, port_of: str = "sms1") -> httpx.Response:
    return httpx.post(f"http://{sim.host}:{sim.ports[port_of]}/__control", json=body)


# Control ----------------------------------------------------------------------------------


def test_get_control_shows_this_ports_provider(sim: SimulatorProcess) -> None:
    answer = httpx.get(f"http://{sim.host}:{sim.ports['email2']}/__control").json()
    view = answer["providers"]["email2"]
    assert list(answer["providers"]) == ["email2"]
    assert view["port"] == sim.ports["email2"]
    assert view["listening"] is True
    assert view["outage"] is None
    assert list(view["knobs"]) == list(KNOB_SPECS)
    assert view["knobs"]["fail_rate"] == 0.5


def test_post_control_is_a_partial_update(sim: SimulatorProcess) -> None:
    _control(sim, {"latency_ms": 5})
    answer = _control(sim, {"fail_rate": 0.1}).json()
    knobs = answer["providers"]["sms1"]["knobs"]
    assert (knobs["latency_ms"], knobs["fail_rate"]) == (5, 0.1)
    assert sim.view("sms2")["knobs"]["fail_rate"] == 0.5  # only this port's provider


@pytest.mark.parametrize(
    ("body", "knob"),
    [
        ({"fale_rate": 0}, "fale_rate"),
        ({"fail_rate": 2}, "fail_rate"),
        ({"fail_rate": "often"}, "fail_rate"),
        ({"down": "sideways"}, "down"),
        ({"latency_p50_ms": 10}, "latency_p99_ms"),
        ({"target": "sms4", "fail_rate": 0}, "target"),
        ({"target": 2, "fail_rate": 0}, "target"),
    ],
)
def test_bad_control_is_400_naming_the_knob(sim: SimulatorProcess, body: dict, knob: str) -> None:
    response = _control(sim, body)
    assert response.status_code == 400
    assert response.json()["knob"] == knob
    assert knob in response.json()["error"]
    assert sim.view("sms1")["knobs"] == sim.view("sms2")["knobs"]  # nothing changed


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"fail_rate"', b"{nope"])
def test_control_body_must_be_a_json_object(sim: SimulatorProcess, raw: bytes) -> None:
    response = httpx.post(f"http://{sim.host}:{sim.ports['sms1']}/__control", content=raw)
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_refused_change_changes_no_target(sim: SimulatorProcess) -> None:
    _control(sim, {"target": "sms", "latency_p50_ms": 1, "latency_p99_ms": 100})
    _control(sim, {"target": "sms2", "latency_p50_ms": 50})
    # p99 = 20 suits sms1 and sms3 (p50 1) but not sms2 (p50 50): nobody changes.
    response = _control(sim, {"target": "sms", "latency_p99_ms": 20})
    assert response.status_code == 400
    assert response.json()["knob"] == "latency_p99_ms"
    assert [sim.view(name)["knobs"]["latency_p99_ms"] for name in ("sms1", "sms2", "sms3")] == [
        100,
        100,
        100,
    ]


@pytest.mark.parametrize(
    ("target", "names"),
    [
        ("sms3", ["sms3"]),
        ("email", ["email1", "email2", "email3"]),
        ("all", ["sms1", "sms2", "sms3", "email1", "email2", "email3"]),
    ],
)
def test_target_changes_other_providers(
    sim: SimulatorProcess, target: str, names: list[str]
) -> None:
    answer = _control(sim, {"target": target, "fail_rate": 0}).json()
    assert list(answer["providers"]) == names
    for name in sim.ports:
        assert (sim.view(name)["knobs"]["fail_rate"] == 0) == (name in names)


def test_target_in_the_query_string(sim: SimulatorProcess) -> None:
    url = f"http://{sim.host}:{sim.ports['sms1']}/__control"
    httpx.post(url, params={"target": "email1"}, json={"fail_rate": 0})
    assert sim.view("email1")["knobs"]["fail_rate"] == 0
    assert httpx.get(url, params={"target": "email1"}).json()["providers"]["email1"]


def test_admin_routes_refuse_other_methods(sim: SimulatorProcess) -> None:
    base = f"http://{sim.host}:{sim.ports['sms1']}"
    assert httpx.delete(base + "/__control").status_code == 405
    assert httpx.post(base + "/__ledger").status_code == 405
    assert httpx.get(base + "/__reset").status_code == 405


def test_reset_restores_startup_knobs_and_reseeds(sim: SimulatorProcess) -> None:
    sim.control("all", fail_rate=0, latency_ms=3)
    sim.reset()
    assert sim.view("email3")["knobs"] == sim.view("sms1")["knobs"]
    assert sim.view("sms1")["knobs"]["fail_rate"] == 0.5


def test_reset_without_knobs_only_clears_ledgers(sim: SimulatorProcess) -> None:
    sim.control("sms1", fail_rate=0)
    httpx.post(sim.url("sms", 1), json=VALID_SMS)
    sim.reset(knobs=False)
    assert sim.ledger("sms1")["accepted"] == 0
    assert sim.view("sms1")["knobs"]["fail_rate"] == 0


# Ledger -----------------------------------------------------------------------------------


def test_ledger_keys_sends_by_idempotency_key_then_notification_id_then_body(
    sim: SimulatorProcess,
) -> None:
    sim.control("sms1", fail_rate=0)
    url = sim.url("sms", 1)
    httpx.post(url, json=VALID_SMS, headers={"Idempotency-Key": "k1", "X-Notification-Id": "n1"})
    httpx.post(url, json=VALID_SMS, headers={"X-Notification-Id": "n1"})
    raw = orjson.dumps(VALID_SMS)
    httpx.post(url, content=raw, headers={"content-type": "application/json"})
    httpx.post(url, content=raw, headers={"content-type": "application/json"})
    ledger = sim.ledger("sms1")
    assert ledger["keys"] == {"k1": 1, "n1": 1, hashlib.sha256(raw).hexdigest(): 2}
    assert (ledger["accepted"], ledger["unique"], ledger["duplicates"]) == (4, 3, 1)
    assert ledger["provider"] == "sms1"


def test_ledger_records_only_accepted_sends_and_counts_every_attempt(
    sim: SimulatorProcess,
) -> None:
    url = sim.url("sms", 2)
    sim.control("sms2", fail_rate=1)
    httpx.post(url, json=VALID_SMS)
    httpx.post(url, json={"phone": "x"})
    httpx.post(url, content=b"{")
    sim.control("sms2", fail_rate=0, throttle_rate=1)
    httpx.post(url, json=VALID_SMS)
    sim.control("sms2", throttle_rate=0)
    httpx.post(url, json=VALID_SMS, headers={"Idempotency-Key": "only"})
    ledger = sim.ledger("sms2")
    assert ledger["attempts"] == {"200": 1, "400": 2, "429": 1, "500": 1, "hang": 0, "reset": 0}
    assert ledger["keys"] == {"only": 1}


def test_ledger_counts_cross_provider_duplicates_exactly(sim: SimulatorProcess) -> None:
    sim.control("all", fail_rate=0)
    for index in (1, 2, 3):  # one notification hedged to all three SMS providers
        httpx.post(sim.url("sms", index), json=VALID_SMS, headers={"Idempotency-Key": "n-1"})
    httpx.post(sim.url("email", 1), json=VALID_EMAIL, headers={"Idempotency-Key": "n-2"})
    statuses = asyncio.run(
        post_many(sim.url("sms", 2), VALID_SMS, 50, headers={"Idempotency-Key": "n-3"})
    )
    assert set(statuses) == {200}
    everything = sim.ledger(scope="all")
    assert everything["scope"] == "all"
    assert (everything["accepted"], everything["unique"], everything["duplicates"]) == (
        54,
        3,
        51,
    )
    assert everything["keys"]["n-1"] == {
        "count": 3,
        "providers": {"sms1": 1, "sms2": 1, "sms3": 1},
    }
    assert everything["keys"]["n-3"] == {"count": 50, "providers": {"sms2": 50}}
    assert everything["providers"]["sms2"]["accepted"] == 51
    assert everything["attempts"]["200"] == 54
    duplicates = sim.ledger(scope="all", keys="duplicates")["keys"]
    assert set(duplicates) == {"n-1", "n-3"}
    assert "keys" not in sim.ledger(scope="all", keys="none")


def test_reset_clears_one_provider_or_all(sim: SimulatorProcess) -> None:
    sim.control("all", fail_rate=0)
    httpx.post(sim.url("sms", 1), json=VALID_SMS)
    httpx.post(sim.url("email", 1), json=VALID_EMAIL)
    httpx.post(f"http://{sim.host}:{sim.ports['sms1']}/__reset")
    assert sim.ledger("sms1")["accepted"] == 0
    assert sim.ledger("email1")["accepted"] == 1
    httpx.post(f"http://{sim.host}:{sim.ports['sms1']}/__reset", params={"scope": "all"})
    assert sim.ledger(scope="all")["accepted"] == 0


@pytest.mark.parametrize(
    ("params", "knob"),
    [({"scope": "most"}, "scope"), ({"keys": "some"}, "keys"), ({"target": "sms"}, "target")],
)
def test_bad_ledger_query_is_400(sim: SimulatorProcess, params: dict, knob: str) -> None:
    response = httpx.get(f"http://{sim.host}:{sim.ports['sms1']}/__ledger", params=params)
    assert response.status_code == 400
    assert response.json()["knob"] == knob
