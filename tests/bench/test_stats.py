"""The benchmarks' arithmetic on fixed input: no process, no socket, no timing."""

import math

import pytest

from bench.stats import (
    DeliveryCount,
    bin_by_second,
    count_deliveries,
    first_after,
    fixed,
    ledger_attempts,
    markdown_table,
    metric_by,
    metric_sum,
    parse_prometheus,
    parse_wrk,
    percentile,
    ratio,
    status_breakdown,
    thousands,
    wrk_duration_ms,
)

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:41235/api/sms/provider1
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.32ms    4.10ms  61.02ms   80.12%
    Req/Sec     3.14k   210.50     3.40k    74.00%
  Latency Distribution
     50%   14.90ms
     75%   16.80ms
     90%   19.70ms
     99%   35.05ms
  15600 requests in 5.00s, 3.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   3119.87
Transfer/sec:    639.21KB
"""


def test_wrk_report_is_parsed_into_counts_and_milliseconds():
    result = parse_wrk(WRK_REPORT)
    assert result.requests == 15600
    assert result.seconds == 5.0
    assert result.per_second == 3120.0
    assert (result.p50_ms, result.p75_ms, result.p90_ms, result.p99_ms) == (
        14.9,
        16.8,
        19.7,
        35.05,
    )
    assert result.mean_ms == 15.32
    assert result.non_2xx == 7
    assert result.socket_errors == 5


def test_wrk_report_without_errors_counts_none():
    clean = "\n".join(
        line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    result = parse_wrk(clean)
    assert (result.non_2xx, result.socket_errors) == (0, 0)


def test_wrk_report_missing_the_distribution_is_refused():
    with pytest.raises(ValueError, match="50"):
        parse_wrk(WRK_REPORT.replace("     50%   14.90ms\n", ""))


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.00us", 0.812), ("1.25ms", 1.25), ("2.00s", 2000.0), ("1.50m", 90_000.0)],
)
def test_wrk_durations_in_every_unit_become_milliseconds(text, ms):
    assert wrk_duration_ms(text) == pytest.approx(ms)


def test_a_wrk_duration_without_unit_is_refused():
    with pytest.raises(ValueError, match="not a wrk duration"):
        wrk_duration_ms("12")


def test_percentile_interpolates_between_ranks_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([5.0], 99) == 5.0


def test_percentile_ignores_input_order_and_is_nan_for_nothing():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert math.isnan(percentile([], 50))


def test_percentile_outside_0_to_100_is_refused():
    with pytest.raises(ValueError, match="percentage"):
        percentile([1.0], 101)


def test_ratio_of_nothing_is_nan_not_an_error():
    assert ratio(3, 2) == 1.5
    assert math.isnan(ratio(1, 0))


METRICS = """\
# HELP gateway_upstream_attempts_total Calls to providers.
# TYPE gateway_upstream_attempts_total counter
gateway_upstream_attempts_total{outcome="2xx",provider="sms/provider1"} 6.0
gateway_upstream_attempts_total{outcome="5xx",provider="sms/provider1"} 5.0
gateway_upstream_attempts_total{outcome="2xx",provider="sms/provider2"} 4.0
gateway_upstream_attempts_total{outcome="cancelled",provider="sms/provider2"} 1.0
gateway_deliveries_total{result="delivered",route="virtual",type="sms"} 10.0
process_open_fds 12.0
"""


def test_prometheus_samples_sum_over_matching_labels():
    samples = parse_prometheus(METRICS)
    assert metric_sum(samples, "gateway_upstream_attempts_total") == 16
    assert metric_sum(samples, "gateway_upstream_attempts_total", provider="sms/provider1") == 11
    assert metric_sum(samples, "gateway_upstream_attempts_total", outcome="2xx") == 10
    assert metric_sum(samples, "process_open_fds") == 12
    assert metric_sum(samples, "absent_total") == 0


def test_prometheus_samples_grouped_by_one_label():
    samples = parse_prometheus(METRICS)
    assert metric_by(samples, "gateway_upstream_attempts_total", "outcome") == {
        "2xx": 10,
        "5xx": 5,
        "cancelled": 1,
    }


def test_prometheus_label_values_may_hold_escaped_quotes_and_commas():
    samples = parse_prometheus('m{a="x,\\"y\\"",b="z"} 2\n')
    assert metric_sum(samples, "m", b="z") == 2


LEDGER = {
    "scope": "all",
    "accepted": 7,
    "attempts": {"200": 7, "400": 0, "429": 0, "500": 6, "hang": 0, "reset": 0},
    "keys": {
        "seed.failover-1": {"count": 1, "providers": {"sms1": 1}},
        "seed.failover-2": {"count": 3, "providers": {"sms1": 1, "sms2": 2}},
        "seed.failover-4": {"count": 1, "providers": {"sms3": 1}},
        "other-run-1": {"count": 2, "providers": {"sms1": 2}},
    },
}


def test_ledger_counts_delivered_lost_and_duplicates_of_the_ids_sent():
    sent = [f"seed.failover-{n}" for n in (1, 2, 3, 4)]
    count = count_deliveries(sent, LEDGER["keys"])
    assert count == DeliveryCount(sent=4, delivered=3, accepted=5)
    assert count.lost == 1
    assert count.duplicates == 2
    assert count.delivered_pct == 75.0


def test_ledger_of_one_provider_maps_keys_to_plain_counts():
    count = count_deliveries(["a", "b"], {"a": 2, "c": 1})
    assert (count.delivered, count.duplicates, count.lost) == (1, 1, 1)


def test_ledger_attempts_add_every_outcome():
    assert ledger_attempts(LEDGER) == 13
    assert ledger_attempts({}) == 0


def test_events_are_counted_per_second_bin_by_kind():
    events = [(10.2, "ok"), (10.9, "ok"), (11.5, "failed"), (13.0, "ok"), (9.0, "ok")]
    edges, counts = bin_by_second(events, start=10.0, end=13.5)
    assert edges == [0.0, 1.0, 2.0, 3.0]
    assert counts == {"ok": [2, 0, 0, 1], "failed": [0, 1, 0, 0]}


def test_first_moment_after_a_point():
    assert first_after([5.0, 1.0, 3.0, 4.0], 2.5) == 3.0
    assert first_after([1.0], 2.0) is None


def test_status_breakdown_counts_statuses_in_order():
    assert status_breakdown([200, 503, 200, "timeout", 200]) == "200: 3, 503: 1, timeout: 1"


def test_numbers_render_with_thin_thousands_and_a_dash_for_missing():
    assert thousands(10_000) == "10 000"
    assert thousands(999.6) == "1 000"
    assert fixed(1.23456, 2) == "1.23"
    assert fixed(float("nan")) == "—"
    assert fixed(None) == "—"


def test_markdown_table_right_aligns_numeric_columns_and_escapes_pipes():
    table = markdown_table(["name", "req/s"], [["a|b", "1 000"]], numeric=[False, True])
    assert table == "| name | req/s |\n|---|---:|\n| a\\|b | 1 000 |\n"


def test_markdown_table_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["a", "b"], [["only one"]])
