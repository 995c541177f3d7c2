"""Knob parsing, decisions and the ledger, without sockets."""

from __future__ import annotations

import hashlib
import math
import random
import statistics

import pytest

from simulator.behaviour import Outcome, decide, delay_s, streams
from simulator.cli import build_parser, parse_override, plan_knobs, plan_ports
from simulator.knobs import KNOB_SPECS, KnobError, Knobs, parse_assignments
from simulator.ledger import Ledger, combined_view, ledger_key
from simulator.providers import PROVIDERS, select

# Knobs ------------------------------------------------------------------------------


def test_default_knobs_are_the_seed_behaviour() -> None:
    knobs = Knobs()
    assert knobs.fail_rate == 0.5
    assert not knobs.has_latency
    assert knobs.fault_rate == 0
    assert knobs.down is None


def test_updated_coerces_cli_strings_and_json_values_alike() -> None:
    from_cli = Knobs().updated({"fail_rate": "0.25", "latency-ms": "5", "retry_after": "3"})
    from_json = Knobs().updated({"fail_rate": 0.25, "latency_ms": 5, "retry_after_s": 3})
    assert from_cli == from_json
    assert from_cli.retry_after_s == 3


def test_updated_is_partial() -> None:
    knobs = Knobs().updated({"latency_ms": 7}).updated({"fail_rate": 0})
    assert (knobs.latency_ms, knobs.fail_rate) == (7, 0)


@pytest.mark.parametrize(
    ("changes", "knob", "words"),
    [
        ({"fale_rate": 0}, "fale_rate", "unknown knob"),
        ({"fail_rate": 1.5}, "fail_rate", "between 0 and 1"),
        ({"fail_rate": -0.1}, "fail_rate", "between 0 and 1"),
        ({"fail_rate": "half"}, "fail_rate", "expected a number"),
        ({"fail_rate": True}, "fail_rate", "expected a number"),
        ({"fail_rate": None}, "fail_rate", "must be given a value"),
        ({"fail_rate": "nan"}, "fail_rate", "finite"),
        ({"latency_ms": -1}, "latency_ms", ">= 0"),
        ({"tail_ms": [1]}, "tail_ms", "expected a number"),
        ({"retry_after_s": 1.5}, "retry_after_s", "whole number"),
        ({"retry_after_s": -1}, "retry_after_s", ">= 0"),
        ({"seed": "x"}, "seed", "expected a number"),
        ({"down": "maybe"}, "down", "'500', 'refuse'"),
        ({"down_for_s": 0, "down": "500"}, "down_for_s", "> 0"),
        ({"down_for_s": 2}, "down_for_s", "set down too"),
        ({"down_after_s": 2}, "down_after_s", "set down too"),
        ({"latency_p50_ms": 10}, "latency_p99_ms", "set both"),
        ({"latency_p99_ms": 10}, "latency_p50_ms", "set both"),
        ({"latency_p50_ms": 20, "latency_p99_ms": 10}, "latency_p99_ms", ">= latency_p50_ms"),
        ({"latency_p50_ms": 0, "latency_p99_ms": 10}, "latency_p50_ms", "> 0"),
        ({"hang_rate": 0.5, "reset_rate": 0.4, "throttle_rate": 0.2}, "hang_rate", "at most 1"),
    ],
)
def test_bad_knob_is_refused_with_its_name(changes: dict, knob: str, words: str) -> None:
    with pytest.raises(KnobError) as caught:
        Knobs().updated(changes)
    assert caught.value.knob.startswith(knob)
    assert str(caught.value).startswith(caught.value.knob + ":")
    assert words in str(caught.value)


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(KnobError, match="fail_rate"):
        Knobs(fail_rate=2)


@pytest.mark.parametrize("up", [None, "none", "up", "", "off", False, "null"])
def test_down_accepts_words_for_up(up: object) -> None:
    assert Knobs().updated({"down": "refuse"}).updated({"down": up}).down is None


def test_down_accepts_500_as_a_number() -> None:
    assert Knobs().updated({"down": 500}).down == "500"


def test_bringing_a_provider_up_clears_its_window() -> None:
    down = Knobs().updated({"down": "refuse", "down_after_s": 1, "down_for_s": 2})
    up = down.updated({"down": None})
    assert (up.down, up.down_after_s, up.down_for_s) == (None, 0, None)


def test_lognormal_is_fitted_to_p50_and_p99() -> None:
    knobs = Knobs().updated({"latency_p50_ms": 20, "latency_p99_ms": 80})
    assert knobs.lognormal is not None
    mu, sigma = knobs.lognormal
    assert math.exp(mu) == pytest.approx(20)
    assert sigma == pytest.approx(math.log(4) / 2.326)
    rng = random.Random(1)
    samples = sorted(delay_s(knobs, rng) * 1000 for _ in range(20000))
    assert statistics.median(samples) == pytest.approx(20, rel=0.05)
    assert samples[int(0.99 * len(samples))] == pytest.approx(80, rel=0.1)


def test_as_dict_lists_every_knob_and_nothing_derived() -> None:
    assert list(Knobs().as_dict()) == list(KNOB_SPECS)


def test_parse_assignments() -> None:
    assert parse_assignments("fail_rate=0, latency-ms=5,") == {"fail_rate": "0", "latency_ms": "5"}
    with pytest.raises(KnobError, match="expected knob=value"):
        parse_assignments("fail_rate")
    with pytest.raises(KnobError, match="unknown knob"):
        parse_assignments("nope=1")


# Command line, without starting anything ------------------------------------------------


def test_parse_override() -> None:
    assert parse_override("sms2:fail_rate=0,latency_ms=5") == (
        "sms2",
        {"fail_rate": "0", "latency_ms": "5"},
    )
    with pytest.raises(KnobError, match="NAME:knob=value"):
        parse_override("fail_rate=0")
    with pytest.raises(KnobError, match="unknown provider 'sms4'"):
        parse_override("sms4:fail_rate=0")


def test_plan_knobs_applies_common_flags_then_overrides_in_order() -> None:
    knobs = plan_knobs(
        {"fail_rate": "0.2"},
        ["sms:latency_ms=5", "sms2:fail_rate=0,latency_ms=1", "email1:down=refuse"],
    )
    assert knobs["sms1"] == Knobs(fail_rate=0.2, latency_ms=5)
    assert knobs["sms2"] == Knobs(fail_rate=0, latency_ms=1)
    assert knobs["email1"] == Knobs(fail_rate=0.2, down="refuse")
    assert knobs["email2"] == Knobs(fail_rate=0.2)


def test_plan_knobs_checks_final_values_together() -> None:
    # p50 alone on the common flags is fine once the override supplies p99.
    knobs = plan_knobs({"latency_p50_ms": "10"}, ["all:latency_p99_ms=30"])
    assert knobs["email3"].latency_p99_ms == 30
    with pytest.raises(KnobError, match="latency_p99_ms"):
        plan_knobs({"latency_p50_ms": "10"}, [])


def test_plan_knobs_refuses_to_close_every_port_for_good() -> None:
    with pytest.raises(KnobError, match="down: would close every port"):
        plan_knobs({"down": "refuse"}, [])
    assert plan_knobs({"down": "refuse"}, ["sms1:down=none"])["sms1"].down is None
    assert plan_knobs({"down": "refuse", "down_for_s": "1"}, [])["email1"].down == "refuse"


def test_plan_ports_reads_flags_then_environment_then_seed_defaults() -> None:
    ports = plan_ports({"sms": None, "email": "9001,9002,0"}, {"PORT_SMS_2": "7002"})
    assert ports == {
        "sms1": 8071,
        "sms2": 7002,
        "sms3": 8073,
        "email1": 9001,
        "email2": 9002,
        "email3": 0,
    }


@pytest.mark.parametrize(
    ("flags", "environ", "words"),
    [
        ({"sms": "1,2", "email": None}, {}, "expected 3 ports"),
        ({"sms": "1,2,x", "email": None}, {}, "--sms-ports: expected a port number"),
        ({"sms": None, "email": None}, {"PORT_EMAIL_3": "70000"}, "PORT_EMAIL_3"),
        ({"sms": "9000,9001,9002", "email": "9000,9003,9004"}, {}, "share a port"),
    ],
)
def test_plan_ports_refuses_bad_ports(flags: dict, environ: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        plan_ports(flags, environ)


def test_help_documents_every_knob() -> None:
    text = " ".join(build_parser().format_help().split())  # undo the line wrapping
    for name in KNOB_SPECS:
        assert f"knob {name}" in text
    for flag in ("--fail-rate", "--retry-after", "--seed", "--provider", "--ready-file"):
        assert flag in text


def test_select_names_providers_types_and_all() -> None:
    assert [p.name for p in select("SMS2")] == ["sms2"]
    assert [p.name for p in select("email")] == ["email1", "email2", "email3"]
    assert len(select("all")) == len(PROVIDERS) == 6


# Decisions ------------------------------------------------------------------------------


def test_fail_rate_zero_and_one_are_exact() -> None:
    rng = random.Random(3)
    assert {decide(Knobs(fail_rate=0), rng) for _ in range(5000)} == {Outcome.SENT}
    assert {decide(Knobs(fail_rate=1), rng) for _ in range(5000)} == {Outcome.FAILED}


def test_fault_rates_are_absolute_and_fail_rate_applies_to_the_rest() -> None:
    knobs = Knobs(fail_rate=0.5, hang_rate=0.1, reset_rate=0.2, throttle_rate=0.3)
    rng = random.Random(5)
    draws = 40000
    counts = dict.fromkeys(Outcome, 0)
    for _ in range(draws):
        counts[decide(knobs, rng)] += 1
    expected = {
        Outcome.HUNG: 0.1,
        Outcome.RESET: 0.2,
        Outcome.THROTTLED: 0.3,
        Outcome.FAILED: 0.2,
        Outcome.SENT: 0.2,
    }
    for outcome, share in expected.items():
        assert counts[outcome] / draws == pytest.approx(share, abs=0.02)


def test_seeded_streams_repeat_and_differ_between_providers() -> None:
    first, _ = streams(7, "sms1")
    again, _ = streams(7, "sms1")
    other, _ = streams(7, "sms2")
    sequence = [first.random() for _ in range(20)]
    assert sequence == [again.random() for _ in range(20)]
    assert sequence != [other.random() for _ in range(20)]


def test_delay_adds_base_and_tail() -> None:
    knobs = Knobs(latency_ms=10, tail_ratio=1, tail_ms=500)
    assert delay_s(knobs, random.Random(1)) == pytest.approx(0.51)
    assert delay_s(Knobs(latency_ms=10), random.Random(1)) == pytest.approx(0.01)


# Ledger ---------------------------------------------------------------------------------


def test_ledger_key_prefers_idempotency_key_then_notification_id_then_body_hash() -> None:
    body = b'{"phone":"01712345678","text":"hi"}'
    both = [(b"x-notification-id", b"n-1"), (b"idempotency-key", b"k-1")]
    assert ledger_key(both, body) == "k-1"
    assert ledger_key([(b"x-notification-id", b"n-1")], body) == "n-1"
    assert ledger_key([(b"idempotency-key", b"")], body) == hashlib.sha256(body).hexdigest()
    assert ledger_key([], body) == hashlib.sha256(body).hexdigest()


def test_ledger_counts_duplicates_and_views_filter_keys() -> None:
    ledger = Ledger()
    for key in ("a", "b", "a", "a"):
        ledger.record(key)
    view = ledger.view("sms1")
    assert (view["accepted"], view["unique"], view["duplicates"]) == (4, 2, 2)
    assert view["keys"] == {"a": 3, "b": 1}
    assert ledger.view("sms1", "duplicates")["keys"] == {"a": 3}
    assert "keys" not in ledger.view("sms1", "none")
    ledger.clear()
    assert ledger.view("sms1")["accepted"] == 0


def test_combined_view_counts_duplicates_across_providers() -> None:
    sms1, sms2 = Ledger(), Ledger()
    sms1.record("a")
    sms2.record("a")
    sms2.record("b")
    sms1.attempts["500"] += 2
    view = combined_view({"sms1": sms1, "sms2": sms2})
    assert (view["accepted"], view["unique"], view["duplicates"]) == (3, 2, 1)
    assert view["keys"]["a"] == {"count": 2, "providers": {"sms1": 1, "sms2": 1}}
    assert view["attempts"]["500"] == 2
    assert set(combined_view({"sms1": sms1, "sms2": sms2}, "duplicates")["keys"]) == {"a"}
